"""The CLI and the Ray-job entrypoint, run the way a user runs them: as processes."""

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import ray

from zipfit_ray.cli import build_parser, config_from_args, main
from zipfit_ray.kernel.backends import DEFAULT_COMPRESSOR

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT, timeout=300):
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def cli(*args, **kwargs):
    return run("-m", "zipfit_ray", *args, **kwargs)


def select_args(corpus, out, *extra):
    return [
        "select",
        "--pool",
        str(corpus.pool_dir),
        "--targets",
        str(corpus.targets_path),
        "--out",
        str(out),
        *extra,
    ]


def ids(out):
    return pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read().column("id").to_pylist()


def test_every_flag_reaches_the_config():
    args = build_parser().parse_args(
        [
            "select",
            "--pool",
            "a/",
            "s3://b/*.parquet",
            "--targets",
            "t.jsonl",
            "--k",
            "7",
            "--out",
            "o",
            "--text-column",
            "body",
            "--target-column",
            "prompt",
            "--compressor",
            "zstd",
            "--level",
            "5",
            "--joint",
            "concat",
            "--address",
            "auto",
            "--storage-options",
            '{"anon": true}',
            "--shard-rows",
            "9",
            "--max-in-flight",
            "3",
            "--part-rows",
            "11",
            "--order",
            "score",
            "--overwrite",
            "--max-bytes",
            "1000",
            "--on-bad-file",
            "skip",
        ]
    )
    config = config_from_args(args)
    assert config.reading.pool == ("a/", "s3://b/*.parquet")
    assert (config.scoring.targets, config.selecting.rule.value, config.output.out) == (
        ("t.jsonl",),
        7,
        "o",
    )
    assert (config.reading.text_column, config.scoring.target_column) == ("body", "prompt")
    assert (config.scoring.compressor, config.scoring.level, config.runtime.address) == (
        "zstd",
        5,
        "auto",
    )
    assert config.scoring.joint == "concat"
    assert config.runtime.storage_options == {"anon": True}
    assert (config.reading.shard_rows, config.runtime.max_in_flight, config.output.part_rows) == (
        9,
        3,
        11,
    )
    assert config.output.order == "score"
    assert config.output.overwrite and config.runtime.num_cpus is None
    assert (config.reading.max_bytes, config.reading.on_bad_file) == (1000, "skip")
    local = config_from_args(
        build_parser().parse_args(
            ["select", "--pool", "a", "--targets", "t", "--k", "1", "--out", "o", "--num-cpus", "3"]
        )
    )
    assert local.runtime.num_cpus == 3 and local.runtime.address is None
    assert (local.scoring.compressor, local.scoring.level, local.scoring.joint) == (
        DEFAULT_COMPRESSOR,
        3,
        "conditional",
    )
    assert local.output.out_format == "parquet"
    jsonl_out = config_from_args(
        build_parser().parse_args(
            [
                "select",
                "--pool",
                "a",
                "--targets",
                "t",
                "--k",
                "1",
                "--out",
                "o",
                "--out-format",
                "jsonl.zst",
            ]
        )
    )
    assert jsonl_out.output.out_format == "jsonl.zst"
    assert jsonl_out.output.part_suffix == ".jsonl.zst"


def test_cli_joins_a_running_cluster_with_address(ray_session, corpus, tmp_path):
    address = ray.get_runtime_context().gcs_address
    result = cli(
        *select_args(
            corpus,
            tmp_path,
            "--k",
            "12",
            "--address",
            address,
            "--compressor",
            "zlib",
            "--level",
            "1",
            "--part-rows",
            "5",
        )
    )
    assert result.returncode == 0, result.stderr
    assert f"selected 12 rows -> {tmp_path}" in result.stdout
    assert "score: " in result.stderr and "Traceback" not in result.stderr
    assert len(list(tmp_path.glob("part-*.parquet"))) == 3


def test_ray_job_entrypoint_takes_the_same_arguments(ray_session, corpus, tmp_path):
    env_address = ray.get_runtime_context().gcs_address
    result = subprocess.run(
        [
            sys.executable,
            "jobs/zipfit_select.py",
            *select_args(corpus, tmp_path, "--k", "12", "--compressor", "zlib", "--level", "1"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_ADDRESS": env_address},  # what `ray job submit` sets
    )
    assert result.returncode == 0, result.stderr
    assert len(ids(tmp_path)) == 12


@pytest.mark.ray  # each CLI run starts a local Ray of its own
def test_local_ray_with_one_or_two_cpus_selects_the_same_rows(corpus, tmp_path):
    outputs = []
    for cpus in ("1", "2"):
        out = tmp_path / cpus
        result = cli(
            *select_args(
                corpus,
                out,
                "--k",
                "30",
                "--compressor",
                "lz4",
                "--num-cpus",
                cpus,
                "--text-column",
                "text",
            )
        )
        assert result.returncode == 0, result.stderr
        outputs.append(pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read())
    assert outputs[0].equals(outputs[1])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--k", "0"], "--k: must be a positive integer, got 0"),
        (
            ["--k", "5", "--compressor", "gzip", "--level", "99"],
            "--level: gzip accepts levels 0..9, got 99",
        ),
        (
            ["--k", "5", "--compressor", "brotli"],
            "--compressor: unknown compressor 'brotli'; choose from gzip, zlib, deflate",
        ),
        (["--k", "5", "--storage-options", "{oops"], "--storage-options: not valid JSON"),
        (["--k", "5", "--storage-options", "[1]"], "--storage-options: must be a JSON object"),
        (["--k", "5", "--text-column", "body"], "no column 'body' (--text-column)"),
        (["--k", "5", "--address", "auto", "--num-cpus", "2"], "--num-cpus: only applies"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(corpus, tmp_path, flags, message):
    result = cli(*select_args(corpus, tmp_path, *flags))
    assert result.returncode == 2
    error = result.stderr.splitlines()[-1]
    assert error.startswith("zipfit-ray: error: ") and message in error
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "_SUCCESS").exists()


def test_missing_pool_is_named(tmp_path):
    result = cli(
        "select",
        "--pool",
        str(tmp_path / "absent"),
        "--targets",
        "t.jsonl",
        "--k",
        "3",
        "--out",
        str(tmp_path / "o"),
    )
    assert result.returncode == 2
    assert f"--pool: no such file or directory: {tmp_path / 'absent'}" in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = cli("--debug", "select", "--pool", "p", "--targets", "t", "--k", "0", "--out", "o")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_make_sample_writes_a_pool_and_targets(tmp_path):
    assert main(["make-sample", "--out", str(tmp_path), "--rows", "200", "--targets", "5"]) == 0
    pool = pq.ParquetDataset(sorted((tmp_path / "pool").glob("*.parquet"))).read()
    assert pool.num_rows == 200 and set(pool.column("kind").to_pylist()) == {"python", "prose", "c"}
    assert len((tmp_path / "targets.jsonl").read_text().splitlines()) == 5
