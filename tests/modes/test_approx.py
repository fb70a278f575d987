"""The approximate modes: early exit, dictionary prefilter, cascade. Selected rows keep
exact scores; how many rows they lose is measured by benchmarks/evaluate_modes.py."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zipfit_ray import SelectConfig, ZipfitError, prepare_targets, run_select, score
from zipfit_ray.kernel.alignment import ncd_matrix
from zipfit_ray.kernel.backends import BACKENDS
from zipfit_ray.kernel.compressors import Compressor
from zipfit_ray.modes import early_exit
from zipfit_ray.modes.early_exit import Bound, EarlyExitScorer
from zipfit_ray.modes.prefilter import DictionaryPrefilter
from zipfit_ray.selection import histograms
from zipfit_ray.selection.amounts import Amount, Threshold


@pytest.fixture(scope="module")
def texts(corpus):
    return [t for t in corpus.texts if t is not None][:120]


@pytest.fixture(scope="module")
def many_targets(corpus):
    """40 targets, so that the checkpoints at 8, 16 and 32 come before the end."""
    return prepare_targets(
        [t for t in corpus.texts[300:] if t is not None][:40], "zlib", joint="concat"
    )


def test_without_a_threshold_early_exit_is_the_exact_kernel(texts, many_targets):
    scorer = EarlyExitScorer(many_targets, Amount(k=len(texts)), Bound())
    scores, pairs = scorer(texts)
    assert scores.tobytes() == score(texts, many_targets).tobytes()
    assert pairs == len(texts) * len(many_targets.texts)


def test_an_unreachable_bar_stops_every_row_but_the_warm_up_at_the_first_checkpoint(
    texts, many_targets
):
    scorer = EarlyExitScorer(many_targets, Threshold(10.0), Bound())
    scores, pairs = scorer(texts)
    finished = early_exit.WARMUP_ROWS
    assert (~np.isnan(scores)).sum() == finished
    assert pairs == finished * len(many_targets.texts) + (len(texts) - finished) * 8


def test_checkpoints_start_at_8_grow_by_an_eighth_and_stop_at_half_the_targets():
    assert early_exit.checkpoints(40) == [8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 40]
    assert early_exit.checkpoints(150)[-3:] == [64, 72, 150]
    assert early_exit.checkpoints(12) == [12]  # too few targets to drop anything
    assert early_exit.checkpoints(3) == [3]


def test_the_floor_is_a_high_quantile_of_the_finished_rows_residual_spreads(texts, many_targets):
    """The bound's floor, recomputed by hand: residuals against each target's mean NCD
    over the finished rows, their spread per row, the 90th percentile (to its bin)."""
    warm_up = texts[: early_exit.WARMUP_ROWS]  # one sub-batch: one set of offsets
    scorer = EarlyExitScorer(many_targets, Amount(k=len(warm_up)), Bound())
    assert scorer.floor() == np.inf  # nothing finished: nothing may be dropped
    scorer(warm_up)
    compressor = Compressor(many_targets.compressor, many_targets.level, joint=many_targets.joint)
    cx = np.array([compressor.size(x) for x in warm_up])
    ncd = ncd_matrix(
        cx, many_targets.sizes, compressor.pair_size_matrix(warm_up, many_targets.texts)
    )
    spreads = (ncd - ncd.mean(axis=0)).std(axis=1)
    expected = np.quantile(spreads, early_exit.FLOOR_QUANTILE, method="inverted_cdf")
    assert expected < scorer.floor() <= expected + early_exit.SPREAD_BIN + 1e-12
    assert np.allclose(scorer.offsets(), ncd.mean(axis=0), rtol=0, atol=1e-12)


@pytest.mark.parametrize("compressor", list(BACKENDS))
def test_survivors_keep_their_exact_scores_with_every_backend(texts, many_targets, compressor):
    many_targets = prepare_targets(many_targets.texts, compressor)
    exact = score(texts, many_targets)
    threshold = float(np.max(exact))  # high enough that rows are dropped with any backend
    scorer = EarlyExitScorer(many_targets, Threshold(threshold), Bound())
    scores, pairs = scorer(texts)
    kept = ~np.isnan(scores)
    assert scores[kept].tobytes() == exact[kept].tobytes()
    assert set(np.flatnonzero(exact >= threshold)) <= set(np.flatnonzero(kept))
    # how much is saved depends on how NCD spreads with each compressor (early_exit.py)
    assert pairs < len(texts) * len(many_targets.texts)


def test_the_scorer_raises_its_own_bar_as_exact_scores_come_in(texts, many_targets):
    scorer = EarlyExitScorer(many_targets, Amount(k=5), Bound())
    assert scorer.threshold() == -np.inf
    first, _ = scorer(texts[:60])
    assert scorer.threshold() == np.sort(first[~np.isnan(first)])[-5]
    _, pairs = scorer(texts[60:])
    assert pairs < 60 * len(many_targets.texts)


def test_rows_scored_again_after_a_fault_are_not_counted_twice(texts, many_targets):
    """A row group read again after a fault goes through the scorer again: with row ids, a
    row scored to the end twice counts once in the bar, the histogram and the floor."""
    ids = np.arange(len(texts)) + (7 << 40)
    scorer = EarlyExitScorer(many_targets, Amount(k=5), Bound())
    scorer(texts[:40], ids[:40])  # the first read, cut short by a fault
    first = scorer.finished
    scorer(texts[:60], ids[:60])  # the retry, from the start of the row group
    scorer(texts[60:], ids[60:])
    assert first > 0  # rows were scored to the end twice
    assert scorer.finished == len(scorer.recorded) == scorer.histogram.sum()
    assert scorer.spreads.sum() == scorer.finished
    recorded = np.array(sorted(scorer.recorded)) - (7 << 40)
    exact = score([texts[i] for i in recorded], many_targets)
    assert scorer.best.tolist() == np.sort(exact)[-5:].tolist()


def test_the_bar_rises_within_one_call_best_rows_first(texts, many_targets, monkeypatch):
    monkeypatch.setattr(early_exit, "SUB_BATCH_ROWS", 10)
    exact = score(texts, many_targets)
    scorer = EarlyExitScorer(many_targets, Amount(k=5), Bound())
    heard = []
    monkeypatch.setattr(
        scorer,
        "_record",
        lambda s, ncd, record=scorer._record: heard.append(s) or record(s, ncd),
    )
    scores, pairs = scorer(texts)
    assert max(len(batch) for batch in heard) <= 10
    assert set(np.argsort(-exact)[:5]) <= set(np.flatnonzero(~np.isnan(scores)))
    # in one batch of 120 with no bar yet, every row would be compressed against all targets
    assert pairs < 0.8 * len(texts) * len(many_targets.texts)


@given(st.lists(st.floats(-0.2, 0.9), min_size=1, max_size=300), st.integers(1, 50))
def test_the_histogram_bound_never_exceeds_the_true_kth_best(scores, k):
    bound = histograms.kth_best_lower_bound(histograms.histogram(np.array(scores)), k)
    if len(scores) < k:
        assert bound == -np.inf
    else:
        assert bound <= sorted(scores)[-k]


@pytest.mark.parametrize("kind", ["zlib", "zstd"])
def test_the_prefilter_prefers_text_like_the_targets(kind, corpus, texts):
    prefilter = DictionaryPrefilter(corpus.targets, kind)
    code = b"def f(self, value):\n    return self._value + value\n" * 3
    scores = prefilter.score([code, bytes(range(256)) * 2, b""])
    assert scores[0] > scores[1] and scores[2] == 0.0


def test_modes_on_ray_keep_exact_scores_and_compress_less(
    ray_session, corpus, many_targets, tmp_path
):
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps([t.decode() for t in many_targets.texts]))

    def run(out, **options):
        config = SelectConfig.from_flags(
            pool=(str(corpus.pool_dir),),
            targets=str(targets),
            out=str(out),
            compressor="zlib",
            joint=many_targets.joint,
            decontaminate="off",  # the targets are pool rows here
            **options,
        )
        return run_select(config), pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read()

    exact_summary, exact = run(tmp_path / "exact", k=20)
    n, m = exact_summary["rows_read"] - 3, len(many_targets.texts)
    assert exact_summary["pair_compressions"] == n * m

    for mode, extra in (("approx-early-exit", {}), ("approx-cascade", {"cascade_factor": 6})):
        summary, table = run(tmp_path / mode, k=20, mode=mode, **extra)
        assert summary["mode"] == mode and summary["pair_compressions"] < n * m
        texts = [t.encode() for t in table.column("text").to_pylist()]
        exact_scores = score(texts, many_targets)
        assert np.asarray(table.column("zipfit_score")).tobytes() == exact_scores.tobytes()
        overlap = set(table.column("id").to_pylist()) & set(exact.column("id").to_pylist())
        assert len(overlap) >= 18  # evaluate_modes.py measures this properly, on a bigger pool

    # every dropped row checked: the check sees at least every true top-K row early exit
    # missed, and sees none when none was missed
    summary, table = run(
        tmp_path / "checked", k=20, mode="approx-early-exit", early_exit_z=0.5, early_exit_check=1.0
    )
    check = summary["early_exit_check"]
    assert check["rows_checked"] == check["rows_dropped"] == summary["rows_dropped_early"] > 0
    missed = 20 - len(set(table.column("id").to_pylist()) & set(exact.column("id").to_pylist()))
    assert check["checked_rows_that_would_be_selected"] >= missed
    assert (check["checked_rows_that_would_be_selected"] == 0) == (missed == 0)
    assert check["estimated_rows_missed"] == check["checked_rows_that_would_be_selected"]
    assert exact_summary["early_exit_check"] is None
    assert not (tmp_path / "checked" / "_checks").exists()
    page = (tmp_path / "checked" / "report.html").read_text()
    assert f"of {check['rows_checked']:,} dropped rows scored anyway" in page

    summary, table = run(tmp_path / "prefilter", k=20, mode="approx-prefilter")
    assert "prefilter_score" in table.column_names and table.num_rows == 20
    assert summary["pair_compressions"] == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"budget_tokens": 10, "mode": "approx-early-exit"}, "select with --k or --min-score"),
        ({"min_score": 0.1, "mode": "approx-cascade"}, "select with --k"),
        ({"k": 3, "mode": "approx-cascade", "all_scores": True}, "--all-scores: only with"),
        ({"k": 3, "mode": "fast"}, "--mode: choose from"),
        ({"k": 3, "early_exit_z": 0}, "--early-exit-z: must be a positive number"),
    ],
)
def test_mode_mistakes_are_user_errors(options, message):
    with pytest.raises(ZipfitError, match=message):
        SelectConfig.from_flags(pool=("p",), targets="t", out="o", **options)
