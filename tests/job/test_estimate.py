"""zipfit-ray estimate: its figures against a real run on a seeded pool."""

import json

from zipfit_ray import SelectConfig, run_select
from zipfit_ray.cli import main as cli_main
from zipfit_ray.job.survey import run_estimate


def test_the_estimate_agrees_with_a_real_run(ray_session, corpus, tmp_path, capsys):
    config = SelectConfig.from_flags(
        pool=(str(corpus.pool_dir),), targets=str(corpus.targets_path), out=str(tmp_path), k=40
    )
    found = run_estimate(config, sample=200, seed=0, settings=[("gzip", 9, "concat")])
    summary = run_select(config)
    (exact,) = [
        e
        for e in found["estimates"]
        if e["mode"] == "exact" and e["compressor"] == config.scoring.compressor
    ]
    pairs = exact["pair_compressions"]
    assert pairs["low"] <= summary["pair_compressions"] <= pairs["high"]
    kth_best = summary["selected_score_quantiles"]["q0"]
    assert exact["threshold"]["low"] <= kth_best <= exact["threshold"]["high"]
    modes = ("exact", "approx-early-exit", "approx-cascade", "approx-prefilter")
    assert [(e["compressor"], e["mode"]) for e in found["estimates"]] == [
        (name, mode) for name in (config.scoring.compressor, "gzip") for mode in modes
    ]
    cascade, prefilter = (e["pair_compressions"]["estimate"] for e in found["estimates"][2:4])
    assert cascade == exact["pair_compressions"]["estimate"]  # c*K = 400 rows: all of them
    assert prefilter == 0
    assert summary["scoring_core_seconds"] > 0

    code = cli_main(
        [
            "estimate", "--pool", str(corpus.pool_dir), "--targets", str(corpus.targets_path),
            "--k", "40", "--sample", "200", "--cpus", "8", "--core-hour-price", "0.05",
            "--json", str(tmp_path / "estimate.json"),
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "approx-early-exit" in printed and "on --cpus" in printed and "cost" in printed
    saved = json.loads((tmp_path / "estimate.json").read_text())
    assert saved["estimates"][0]["pair_compressions"] == exact["pair_compressions"]
