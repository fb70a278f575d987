"""The rules (selection/rules/): each checks its value, says what it is, and comes to an
Amount or a Threshold once the rows scored are counted."""

import pytest

from zipfit_ray.errors import ZipfitError
from zipfit_ray.selection import rules
from zipfit_ray.selection.amounts import Amount, Threshold


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "give exactly one selection rule"),
        ({"k": 3, "min_score": 0.2}, r"\(got --k, --min-score\)"),
        ({"budget_tokens": 0}, "--budget-tokens: must be a positive integer"),
        ({"k": 2.5}, "--k: must be a positive integer"),
        ({"min_score": float("nan")}, "--min-score: must be a number"),
        ({"fraction": 0}, r"--fraction: a share in \(0, 1\], got 0"),
        ({"budget_fraction": 1.5}, r"--budget-fraction: a share in \(0, 1\], got 1.5"),
    ],
)
def test_bad_rules_are_user_errors(arguments, message):
    with pytest.raises(ZipfitError, match=message):
        rules.from_flags(arguments)


def test_describe_and_streamed():
    assert rules.TopK(5).describe() == "--k 5" and not rules.TopK(5).streamed
    assert rules.MinScore(0.25).streamed
    assert rules.TokenBudget(9).describe() == "--budget-tokens 9"


def test_what_each_rule_comes_to():
    scored = {"rows": 1001, "tokens": 5000}
    assert rules.TopK(5).resolved(**scored) == Amount(k=5)
    assert rules.TokenBudget(9).resolved(**scored) == Amount(budget_tokens=9)
    assert rules.MinScore(0.2).resolved(**scored) == Threshold(0.2)
    assert rules.Fraction(0.1).resolved(**scored) == Amount(k=100)  # rounded down
    assert rules.Fraction(0.0001).resolved(**scored) == Amount(k=1)  # at least one row
    assert rules.BudgetFraction(0.5).resolved(**scored) == Amount(budget_tokens=2500)


def test_flags_round_trip_for_every_rule():
    for name, rule in rules.RULES.items():
        value = 0.5 if rule.value_type is float else 7
        made = rules.from_flags({name: value})
        assert isinstance(made, rule) and rules.from_flags(rules.as_flags(made)) == made


def test_amounts_widen_and_split_in_their_unit():
    assert Amount(k=10).widened(1.25) == Amount(k=13)
    assert Amount(budget_tokens=10).of(4) == Amount(budget_tokens=4)
    assert Threshold(0.3).widened(2.0) == Threshold(0.3)
    with pytest.raises(ValueError):
        Amount(k=1, budget_tokens=1)
