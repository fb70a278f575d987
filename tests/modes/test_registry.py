"""The Mode interface: each mode's checks, and a mode added by one class and its
registration alone runs a whole job."""

from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest

from zipfit_ray import SelectConfig, ZipfitError, modes, run_select
from zipfit_ray.modes.base import Mode, Scored


def config(**options) -> SelectConfig:
    return SelectConfig.from_flags(pool=("pool",), targets="t", out="out", **options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"mode": "fast", "k": 3}, "--mode: choose from ('exact', 'approx-early-exit'"),
        ({"mode": "approx-cascade", "min_score": 0.1}, "--mode approx-cascade: select with --k"),
        (
            {"mode": "approx-early-exit", "budget_tokens": 9},
            "--mode approx-early-exit: select with --k or --min-score",
        ),
        ({"mode": "approx-prefilter", "k": 3, "all_scores": True}, "--all-scores: only with"),
        ({"k": 3, "cascade_factor": 0}, "--cascade-factor: must be a positive integer"),
        ({"k": 3, "prefilter": "brotli"}, "--prefilter: choose from ('zlib', 'zstd')"),
        ({"k": 3, "early_exit_check": 2.0}, "--early-exit-check: a share from 0 to 1"),
    ],
)
def test_each_mode_checks_what_it_allows(options, message):
    with pytest.raises(ZipfitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config(**options)


class Shortest(Mode):
    """A toy mode: the shorter a text, the higher it scores; no compression at all."""

    name = "test-shortest"
    score_column = "shortness"

    def scorer(self, targets, shard):
        def shortness(texts, row_ids):
            scores = np.array([1.0 / (1 + len(t)) for t in texts])
            return Scored(scores, Counter(pair_compressions=0))

        return shortness


def test_a_mode_is_one_class_and_its_registration(ray_session, corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(modes.MODES, Shortest.name, Shortest)
    summary = run_select(
        SelectConfig.from_flags(
            pool=(str(corpus.pool_dir),),
            targets=str(corpus.targets_path),
            out=str(tmp_path),
            k=10,
            mode=Shortest.name,
        )
    )
    table = pq.ParquetDataset(sorted(tmp_path.glob("part-*.parquet"))).read()
    lengths = [(len(t), i) for i, t in enumerate(corpus.texts) if t is not None]
    assert table.column("id").to_pylist() == sorted(i for _, i in sorted(lengths)[:10])
    assert "shortness" in table.column_names and "zipfit_score" not in table.column_names
    assert summary["mode"] == Shortest.name and summary["pair_compressions"] == 0
    assert f"({Shortest.name})" in (tmp_path / "report.html").read_text()  # not exact
