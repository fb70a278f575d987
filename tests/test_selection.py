import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zipfit_ray import topk
from zipfit_ray.errors import ZipfitError
from zipfit_ray.selection import SelectionRule

scores_strategy = st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.9]), max_size=60)


def items(scores, tokens):
    return topk.entries(np.array(scores, dtype=float), np.arange(len(scores)), np.array(tokens))


def naive(rule: SelectionRule, scores, tokens):
    """Row positions the rule keeps, by a plain loop over the ranking."""
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    if rule.k is not None:
        return ranked[: rule.k]
    if rule.min_score is not None:
        return [i for i in ranked if scores[i] >= rule.min_score]
    kept, used = [], 0
    for i in ranked:
        if used + tokens[i] > rule.budget_tokens:
            break
        kept.append(i)
        used += tokens[i]
    return kept


rules = st.one_of(
    st.builds(SelectionRule, k=st.integers(1, 20)),
    st.builds(SelectionRule, budget_tokens=st.integers(1, 200)),
    st.builds(SelectionRule, min_score=st.sampled_from([0.1, 0.3, 0.5, 2.0])),
)


@given(rule=rules, scores=scores_strategy, data=st.data())
def test_any_split_kept_and_merged_is_the_naive_selection(rule, scores, data):
    tokens = data.draw(st.lists(st.integers(0, 30), min_size=len(scores), max_size=len(scores)))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(scores)), max_size=5)))
    bounds = [0, *cuts, len(scores)]
    everything = items(scores, tokens)
    pieces = [rule.keep(everything[a:b]) for a, b in itertools.pairwise(bounds)]
    merged = rule.finish(rule.merge([rule.merge(pieces[::2]), rule.merge(pieces[1::2])]))
    assert merged["row_id"].tolist() == naive(rule, scores, tokens)


def test_budget_stops_at_the_first_row_that_does_not_fit():
    rule = SelectionRule(budget_tokens=10)
    kept = rule.finish(rule.keep(items([0.9, 0.8, 0.7], [4, 7, 1])))
    assert kept["row_id"].tolist() == [0]  # not [0, 2]: rows are taken in score order


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "give exactly one selection rule"),
        ({"k": 3, "min_score": 0.2}, r"\(got k, min_score\)"),
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
