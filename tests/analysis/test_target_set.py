"""What the target set tells of itself: the halves split is fixed and complete, each half's
score is the paper's formula over that half, and the spread is the mean NCD of target pairs."""

import numpy as np
import pytest

from tests.naive import naive_alignment
from zipfit_ray.analysis import target_set
from zipfit_ray.kernel.alignment import prepare_targets
from zipfit_ray.modes.exact import ExactScorer


def test_halves_split_every_target_once_the_same_way_every_time():
    a, b = target_set.halves(11)
    assert (len(a), len(b)) == (5, 6)
    assert sorted([*a, *b]) == list(range(11))
    again = target_set.halves(11)
    assert a.tolist() == again[0].tolist() and b.tolist() == again[1].tolist()
    assert target_set.halves(1) is None


@pytest.mark.parametrize(("compressor", "joint"), [("zstd", "conditional"), ("gzip", "concat")])
def test_half_scores_are_the_formula_over_each_half(corpus, compressor, joint):
    texts = [t for t in corpus.texts[:40] if t]
    targets = prepare_targets(corpus.targets, compressor, joint=joint)
    scored = ExactScorer(targets)(texts, np.arange(len(texts)))
    for field, half in zip(target_set.HALF_FIELDS, target_set.halves(len(corpus.targets))):
        chosen = [corpus.targets[i] for i in half]
        naive = [naive_alignment(x, chosen, compressor, targets.level, joint) for x in texts]
        assert np.allclose(scored.columns[field], naive, rtol=0, atol=1e-12)
    naive_all = [
        naive_alignment(x, corpus.targets, compressor, targets.level, joint) for x in texts
    ]
    assert np.allclose(scored.scores, naive_all, rtol=0, atol=1e-12)


def test_spread_is_the_mean_ncd_of_distinct_target_pairs(corpus, monkeypatch):
    targets = prepare_targets(corpus.targets)
    level = targets.level
    pairs = [
        1 - naive_alignment(x, [y], "zstd", level, "conditional")
        for i, x in enumerate(corpus.targets)
        for j, y in enumerate(corpus.targets)
        if i != j
    ]
    found = target_set.spread(targets)
    assert (found.mean_ncd, found.targets) == pytest.approx((np.mean(pairs), len(corpus.targets)))
    monkeypatch.setattr(target_set, "SPREAD_TARGETS", 4)  # a sample of 4 of the 6
    sampled = target_set.spread(targets)
    assert sampled.targets == 4 and 0 < sampled.mean_ncd < 1
