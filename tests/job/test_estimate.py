"""zipfit-ray estimate: its arithmetic, and its figures against a real run on a seeded pool."""

import json

import numpy as np
import pytest

from zipfit_ray import SelectConfig, run_select
from zipfit_ray.analysis import cost
from zipfit_ray.cli import main as cli_main
from zipfit_ray.job.survey import run_estimate
from zipfit_ray.selection.rules import SelectionRule


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
    assert cost.selected_share(SelectionRule(budget_tokens=2000), scores, tokens, 400) == 0.5
    assert cost.selected_share(SelectionRule(min_score=0.6), scores, tokens, 400) == 0.5
    share = cost.share_interval(30, 100)
    assert share.low < 0.3 < share.high
    assert cost.wall_seconds(1000, 100, 0.01, cpus=3) == pytest.approx(4 * 100 * 0.01)


def test_the_estimate_agrees_with_a_real_run(ray_session, corpus, tmp_path, capsys):
    config = SelectConfig(
        pool=(str(corpus.pool_dir),), targets=str(corpus.targets_path), out=str(tmp_path), k=40
    )
    found = run_estimate(config, sample=200, seed=0, settings=[("gzip", 9)])
    summary = run_select(config)
    (exact,) = [
        e
        for e in found["estimates"]
        if e["mode"] == "exact" and e["compressor"] == config.compressor
    ]
    pairs = exact["pair_compressions"]
    assert pairs["low"] <= summary["pair_compressions"] <= pairs["high"]
    kth_best = summary["selected_score_quantiles"]["q0"]
    assert exact["threshold"]["low"] <= kth_best <= exact["threshold"]["high"]
    modes = ("exact", "approx-early-exit", "approx-cascade", "approx-prefilter")
    assert [(e["compressor"], e["mode"]) for e in found["estimates"]] == [
        (name, mode) for name in (config.compressor, "gzip") for mode in modes
    ]
    cascade, prefilter = (e["pair_compressions"]["estimate"] for e in found["estimates"][2:4])
    assert cascade == exact["pair_compressions"]["estimate"]  # c*K = 400 rows: all of them
    assert prefilter == 0
    assert summary["scoring_core_seconds"] > 0

    code = cli_main(
        [
            "estimate", "--pool", str(corpus.pool_dir), "--targets", str(corpus.targets_path),
            "--k", "40", "--sample", "200", "--cpus", "8", "--core-hour-price", "0.05",
            "--json", str(tmp_path / "cost.json"),
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "approx-early-exit" in printed and "on --cpus" in printed and "cost" in printed
    saved = json.loads((tmp_path / "cost.json").read_text())
    assert saved["estimates"][0]["pair_compressions"] == exact["pair_compressions"]
