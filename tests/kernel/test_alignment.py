import numpy as np
import pytest

from tests.naive import naive_alignment
from zipfit_ray import alignment, prepare_targets, score
from zipfit_ray.kernel.alignment import alignment_from_sizes
from zipfit_ray.kernel.backends import BACKENDS, DEFAULT_COMPRESSOR, resolve_joint


@pytest.mark.parametrize("name", list(BACKENDS))
def test_matches_the_naive_formula_on_real_text(name, corpus):
    candidates = [t for t in corpus.texts[:60] if t is not None]
    level = BACKENDS[name].default_level
    got = alignment(candidates, corpus.targets, compressor=name)  # its default joint
    joint = resolve_joint(name, None)
    expected = [naive_alignment(x, corpus.targets, name, level, joint) for x in candidates]
    assert got.dtype == np.float64
    assert np.max(np.abs(got - expected)) <= 1e-12


def test_the_default_is_the_measured_choice_and_the_papers_gzip_is_one_argument_away(corpus):
    candidates = [t for t in corpus.texts[:20] if t is not None]
    default = alignment(candidates, corpus.targets)
    assert (
        default.tobytes()
        == alignment(candidates, corpus.targets, compressor=DEFAULT_COMPRESSOR).tobytes()
    )
    paper = alignment(candidates, corpus.targets, compressor="gzip")
    expected = [naive_alignment(x, corpus.targets, "gzip", 9) for x in candidates]
    assert np.max(np.abs(paper - expected)) <= 1e-12 and not np.array_equal(paper, default)


def test_non_default_level_is_used(corpus):
    candidates = [t for t in corpus.texts[:20] if t is not None]
    got = alignment(candidates, corpus.targets, compressor="gzip", level=1)
    expected = [naive_alignment(x, corpus.targets, "gzip", 1) for x in candidates]
    assert np.max(np.abs(got - expected)) <= 1e-12
    assert not np.array_equal(got, alignment(candidates, corpus.targets, compressor="gzip"))


def test_str_is_scored_as_its_utf8_bytes():
    texts = ["def f(x): return x", "naïve café ☕", ""]
    targets = ["def g(y): return y + 1", "ünïcode"]
    as_str = alignment(texts, targets)
    as_bytes = alignment([t.encode() for t in texts], [t.encode() for t in targets])
    assert np.array_equal(as_str, as_bytes)


def test_scores_do_not_depend_on_batching(corpus):
    candidates = [t for t in corpus.texts[:50] if t is not None]
    prepared = prepare_targets(corpus.targets, "zstd")
    whole = score(candidates, prepared)
    pieces = np.concatenate([score(candidates[i : i + 7], prepared) for i in range(0, 50, 7)])
    singles = np.concatenate([score([c], prepared) for c in candidates])
    assert whole.tobytes() == pieces.tobytes() == singles.tobytes()


def test_ncd_term_is_zero_where_both_sizes_are_zero():
    cx = np.array([0, 4])
    cy = np.array([0, 2])
    cxy = np.array([[0, 3], [4, 5]])
    # row 0: terms 0 (0/0 -> 0) and (3-0)/2; row 1: (4-0)/4 and (5-2)/4
    assert alignment_from_sizes(cx, cy, cxy).tolist() == [1 - 0.75, 1 - 0.875]


def test_empty_target_set_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        alignment(["a"], [])
