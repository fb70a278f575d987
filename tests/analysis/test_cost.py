"""The cost model's arithmetic (analysis/cost.py), without Ray."""

import numpy as np
import pytest

from zipfit_ray.analysis import cost
from zipfit_ray.selection import rules


def test_the_threshold_interval_holds_the_pools_own_quantile():
    pool = np.random.default_rng(1).beta(2, 20, 200_000)
    sample = np.random.default_rng(2).choice(pool, 2000, replace=False)
    for share in (0.001, 0.01, 0.1, 0.5):
        found = cost.threshold(sample, share)
        truth = np.quantile(pool, 1 - share)
        assert found.low <= truth <= found.high and found.low <= found.estimate <= found.high


def test_budget_and_threshold_shares():
    scores, tokens = np.array([0.9, 0.5, 0.1, 0.7]), np.array([10, 10, 10, 10])
    # the pool is 100x the sample: 1,000 tokens per sampled row; 2,000 fit: the best 2 of 4
    assert cost.selected_share(rules.TokenBudget(2000), scores, tokens, 400) == 0.5
    assert cost.selected_share(rules.MinScore(0.6), scores, tokens, 400) == 0.5
    assert cost.selected_share(rules.Fraction(0.25), scores, tokens, 400) == 0.25
    # half the tokens: the best 2 of 4 rows of equal length
    assert cost.selected_share(rules.BudgetFraction(0.5), scores, tokens, 400) == 0.5
    share = cost.share_interval(30, 100)
    assert share.low < 0.3 < share.high
    assert cost.wall_seconds(1000, 100, 0.01, cpus=3) == pytest.approx(4 * 100 * 0.01)
