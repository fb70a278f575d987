import pytest

from zipfit_ray.errors import ZipfitError
from zipfit_ray.selection.rules import SelectionRule


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "give exactly one selection rule"),
        ({"k": 3, "min_score": 0.2}, r"\(got --k, --min-score\)"),
        ({"budget_tokens": 0}, "--budget-tokens: must be a positive integer"),
        ({"k": 2.5}, "--k: must be a positive integer"),
        ({"min_score": float("nan")}, "--min-score: must be a number"),
    ],
)
def test_bad_rules_are_user_errors(arguments, message):
    with pytest.raises(ZipfitError, match=message):
        SelectionRule(**arguments)


def test_describe_and_streamed():
    assert SelectionRule(k=5).describe() == "--k 5" and not SelectionRule(k=5).streamed
    assert SelectionRule(min_score=0.25).streamed
    assert SelectionRule(budget_tokens=9).describe() == "--budget-tokens 9"
