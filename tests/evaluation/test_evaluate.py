"""`zipfit-ray evaluate` end to end on a real local Ray: in-domain rows beat a random sample,
runs repeat exactly, JSONL and named-set selections made by select, S3, the output's rules,
and the errors (before anything is trained)."""

import json
import subprocess
import sys
from dataclasses import replace

import pytest
import s3fs

from tests.evaluation.conftest import TINY
from zipfit_ray import SelectConfig, ZipfitError, run_select
from zipfit_ray.cli import main
from zipfit_ray.evaluation import EvaluateConfig, run_evaluate
from zipfit_ray.evaluation.driver import PAGE, RESULTS

BUDGET = 1500
TINY_FLAGS = [
    *("--steps", "40", "--batch-size", "16", "--evaluations", "2", "--layers", "1"),
    *("--width", "32", "--heads", "2", "--context", "32", "--seeds", "2"),
]


def config(toy, out, **changes):
    given = dict(
        selections={"good": str(toy.selection)},
        pool=(str(toy.pool),),
        test=str(toy.test),
        budget_tokens=BUDGET,
        out=str(out),
        seeds=2,
        training=TINY,
    )
    return EvaluateConfig(**{**given, **changes})


@pytest.fixture(scope="module")
def local_run(toy, tmp_path_factory):
    """One evaluation for the module (on the session's Ray if it runs, else on its own)."""
    out = tmp_path_factory.mktemp("evaluation")
    return out, run_evaluate(config(toy, out))


def by_name(evaluation):
    return {r["name"]: r for r in evaluation["results"]}


def test_in_domain_rows_beat_a_random_sample_of_the_pool(local_run, ray_session):
    out, evaluation = local_run
    good, random = by_name(evaluation)["good"], by_name(evaluation)["random"]
    assert all(g < r for g, r in zip(good["bits_per_byte_seeds"], random["bits_per_byte_seeds"]))
    assert good["minus_random"] < 0 and good["seeds_better_than_random"] == 2
    assert good["tokens"] <= BUDGET and random["tokens"] <= BUDGET
    assert good["rows"] > 0 and good["bytes"] > 0 and not good["short_of_budget"]
    assert json.loads((out / RESULTS).read_text()) == {**evaluation, "written_by": "zipfit-ray"}
    assert [c["seed"] for c in good["curves"]] == [0, 1]
    page = (out / PAGE).read_text()
    assert page.count("<svg") == 2 and "<script" not in page and "random" in page


def test_a_second_run_gives_the_same_bits_per_byte_and_replaces_its_own_files(
    local_run, toy, ray_session
):
    out, evaluation = local_run
    again = run_evaluate(config(toy, out))
    for name, result in by_name(evaluation).items():
        assert by_name(again)[name]["bits_per_byte_seeds"] == result["bits_per_byte_seeds"]


def test_on_s3_as_on_local_files(local_run, toy, s3_options, ray_session):
    fs = s3fs.S3FileSystem(**s3_options)
    fs.mkdir("evaluate-s3")
    for name in ("pool/", "selection/"):
        fs.put(str(getattr(toy, name.rstrip("/"))) + "/", f"evaluate-s3/{name}", recursive=True)
    fs.put(str(toy.test), "evaluate-s3/test.jsonl")
    on_s3 = run_evaluate(
        config(
            toy,
            "s3://evaluate-s3/out",
            selections={"good": "s3://evaluate-s3/selection"},
            pool=("s3://evaluate-s3/pool/",),
            test="s3://evaluate-s3/test.jsonl",
            storage_options=s3_options,
        )
    )
    for name, result in by_name(local_run[1]).items():
        assert by_name(on_s3)[name]["bits_per_byte_seeds"] == result["bits_per_byte_seeds"]
    assert fs.exists("evaluate-s3/out/evaluation.json") and fs.exists("evaluate-s3/out/" + PAGE)


def test_the_cli_on_jsonl_and_named_set_selections(toy, tmp_path, ray_session, capsys):
    code = tmp_path / "code.jsonl"
    code.write_text(toy.test.read_text())
    noise = tmp_path / "noise.txt"
    noise.write_text("\n".join(toy.noise[:5]))
    common = dict(pool=(str(toy.pool),), compressor="zstd", decontaminate="off")
    run_select(
        SelectConfig.from_flags(
            targets=str(code), out=str(tmp_path / "jsonl"), k=20, out_format="jsonl", **common
        )
    )
    run_select(
        SelectConfig.from_flags(
            targets=(f"code={code}", f"noise={noise}"), out=str(tmp_path / "sets"), k=60, **common
        )
    )
    arguments = [
        *("evaluate", "--selections", f"jsonl={tmp_path / 'jsonl'}", f"sets={tmp_path / 'sets'}"),
        *("--pool", str(toy.pool), "--test", str(toy.test), "--out", str(tmp_path / "out")),
        *("--budget-tokens", str(BUDGET), "--per-set", *TINY_FLAGS),
    ]
    assert main(arguments) == 0
    printed = capsys.readouterr()
    results = by_name(json.loads((tmp_path / "out" / RESULTS).read_text()))
    assert list(results) == ["jsonl", "sets/code", "sets/noise", "random"]
    assert results["jsonl"]["short_of_budget"] and results["jsonl"]["rows"] == 20
    assert "warning: jsonl holds" in printed.err and "all of it is used" in printed.err
    assert results["sets/code"]["bits_per_byte"] < results["sets/noise"]["bits_per_byte"]
    assert "sets/code" in printed.out and "bits/byte" in printed.out


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(test="missing.jsonl"), "--test: no such file: missing.jsonl"),
        (dict(selections={"random": "x"}), "not 'random'"),
        (dict(selections={"good": "nowhere/"}), "--selections good: no such directory"),
    ],
)
def test_bad_input_fails_before_anything_runs(toy, tmp_path, changes, message):
    with pytest.raises(ZipfitError, match=message):
        run_evaluate(config(toy, tmp_path / "out", **changes))


def test_the_output_never_replaces_files_zipfit_ray_did_not_write(toy, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / RESULTS).write_text('{"mine": 1}')
    with pytest.raises(ZipfitError, match="did not write it"):
        run_evaluate(config(toy, tmp_path / "a"))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / PAGE).write_text("<p>mine</p>")
    with pytest.raises(ZipfitError, match="did not write it"):
        run_evaluate(config(toy, tmp_path / "b"))
    with pytest.raises(ZipfitError, match=r"--out: .* lies inside --pool"):
        run_evaluate(config(toy, toy.pool / "out"))


def test_more_cpus_per_run_than_the_cluster_has_is_an_error(toy, tmp_path, ray_session):
    training = replace(TINY, threads=64)
    with pytest.raises(ZipfitError, match="--cpus-per-run: 64, but the cluster has 2 CPUs"):
        run_evaluate(config(toy, tmp_path / "out", training=training))


def test_without_torch_one_line_names_the_extra(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    arguments = [
        *("evaluate", "--selections", f"good={toy.selection}", "--pool", str(toy.pool)),
        *("--test", str(toy.test), "--budget-tokens", "10", "--out", str(tmp_path / "o")),
    ]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pip install 'zipfit-ray[evaluate]'" in error


def test_selecting_never_imports_torch():
    code = (
        "import sys, zipfit_ray, zipfit_ray.cli, zipfit_ray.job.select, zipfit_ray.evaluation\n"
        "zipfit_ray.cli.build_parser()\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
