"""Faults a long job meets: a killed driver, a lost node, bad input. Nothing lost, nothing
half-published, the same result as an undisturbed run."""

import json
import shutil
import subprocess
import sys
import threading
import time

import pyarrow.parquet as pq
import pytest
import ray

from tests.test_cli import ROOT, cli, select_args
from zipfit_ray import SelectConfig, run_select
from zipfit_ray.storage import outputs


def selection(out):
    return pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read()


def checkpoint_count(out):
    return len(list((out / "_checkpoints").glob("shard-*.npz")))


def wait_for_checkpoints(out, count, still_running, timeout=120):
    deadline = time.monotonic() + timeout
    while checkpoint_count(out) < count:
        assert still_running(), "the job ended before it could be interrupted"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.01)


def long_job_args(corpus, long_pool, out, *extra):
    return [
        "select",
        "--pool",
        str(long_pool),
        "--targets",
        str(corpus.targets_path),
        "--out",
        str(out),
        *extra,
    ]


def test_a_killed_driver_is_resumed_to_the_same_result(ray_session, corpus, long_pool, tmp_path):
    address = ray.get_runtime_context().gcs_address
    args = long_job_args(
        corpus,
        long_pool,
        tmp_path / "out",
        "--k",
        "20",
        "--compressor",
        "zlib",
        "--shard-rows",
        "1",
        "--max-in-flight",
        "1",
        "--address",
        address,
    )
    with open(tmp_path / "first.log", "w") as log:
        driver = subprocess.Popen(
            [sys.executable, "-m", "zipfit_ray", *args], cwd=ROOT, stdout=log, stderr=log
        )
        try:
            wait_for_checkpoints(tmp_path / "out", 25, lambda: driver.poll() is None)
        finally:
            driver.kill()  # SIGKILL: no cleanup of any kind
            driver.wait()
    assert not (tmp_path / "out" / "_SUCCESS").exists()
    finished_at_kill = checkpoint_count(tmp_path / "out")

    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert finished_at_kill <= summary["shards_resumed"] < summary["shards_total"]
    assert not (tmp_path / "out" / "_checkpoints").exists()  # dropped once complete

    undisturbed = cli(
        *long_job_args(
            corpus,
            long_pool,
            tmp_path / "undisturbed",
            "--k",
            "20",
            "--compressor",
            "zlib",
            "--address",
            address,
        )
    )
    assert undisturbed.returncode == 0, undisturbed.stderr
    assert selection(tmp_path / "out").equals(selection(tmp_path / "undisturbed"))


def test_a_driver_killed_while_writing_is_resumed_to_the_same_result(
    ray_session, corpus, long_pool, tmp_path
):
    address = ray.get_runtime_context().gcs_address
    flags = ["--k", "40", "--compressor", "zlib", "--address", address]
    args = long_job_args(
        corpus, long_pool, tmp_path / "out", *flags, "--part-rows", "1", "--max-in-flight", "1"
    )
    with open(tmp_path / "first.log", "w") as log:
        driver = subprocess.Popen(
            [sys.executable, "-m", "zipfit_ray", *args], cwd=ROOT, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 120
            while not list((tmp_path / "out").glob("part-*.parquet")):
                assert driver.poll() is None, "the job ended before it could be interrupted"
                assert time.monotonic() < deadline, "no part was written"
                time.sleep(0.01)
        finally:
            driver.kill()  # while the parts are being written
            driver.wait()
    assert not (tmp_path / "out" / "_SUCCESS").exists()

    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["shards_resumed"] == summary["shards_total"]  # nothing scored twice
    undisturbed = cli(*long_job_args(corpus, long_pool, tmp_path / "undisturbed", *flags))
    assert undisturbed.returncode == 0, undisturbed.stderr
    assert selection(tmp_path / "out").equals(selection(tmp_path / "undisturbed"))


def test_checkpoints_of_another_job_are_refused(ray_session, corpus, tmp_path):
    address = ray.get_runtime_context().gcs_address
    out = tmp_path / "out"
    outputs.claim(str(out), overwrite=False, options={})  # as a job does before checkpoints
    (out / "_checkpoints").mkdir(parents=True)
    (out / "_checkpoints" / "job.json").write_text(json.dumps({"format": 1, "k": 3}))
    refused = cli(*select_args(corpus, out, "--k", "5", "--address", address))
    assert refused.returncode == 2
    assert (
        "holds checkpoints of a different job" in refused.stderr and "--overwrite" in refused.stderr
    )
    accepted = cli(*select_args(corpus, out, "--k", "5", "--address", address, "--overwrite"))
    assert accepted.returncode == 0, accepted.stderr


def test_losing_a_worker_node_mid_job_changes_nothing(
    three_node_cluster, corpus, long_pool, tmp_path
):
    cluster, workers = three_node_cluster

    def config(out):
        return SelectConfig.from_flags(
            pool=(str(long_pool),),
            targets=str(corpus.targets_path),
            out=str(out),
            k=30,
            compressor="zstd",
            shard_rows=1,
            max_in_flight=3,
        )

    run_select(config(tmp_path / "undisturbed"))
    outcome = {}
    job = threading.Thread(
        target=lambda: outcome.update(summary=run_select(config(tmp_path / "out")))
    )
    job.start()
    wait_for_checkpoints(tmp_path / "out", 40, job.is_alive)
    cluster.remove_node(workers[0], allow_graceful=False)
    assert job.is_alive()  # the node went away mid-job
    job.join(timeout=600)
    assert not job.is_alive() and "summary" in outcome
    assert outcome["summary"]["shards_total"] == 180
    assert selection(tmp_path / "out").equals(selection(tmp_path / "undisturbed"))


def truncated_copy(corpus, tmp_path):
    pool = tmp_path / "pool"
    shutil.copytree(corpus.pool_dir, pool)
    broken = pool / "part-2.parquet"
    broken.write_bytes(broken.read_bytes()[:300])
    return pool, broken


def test_a_truncated_file_is_named_or_skipped(ray_session, corpus, tmp_path):
    pool, broken = truncated_copy(corpus, tmp_path)
    args = [
        "select",
        "--pool",
        str(pool),
        "--targets",
        str(corpus.targets_path),
        "--k",
        "5",
        "--address",
        ray.get_runtime_context().gcs_address,
    ]
    failed = cli(*args, "--out", str(tmp_path / "a"))
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert f"{broken}: not a readable Parquet file" in failed.stderr
    assert not (tmp_path / "a" / "_SUCCESS").exists()

    skipped = cli(*args, "--out", str(tmp_path / "b"), "--on-bad-file", "skip")
    assert skipped.returncode == 0, skipped.stderr
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["files_skipped"] == 1 and summary["bad_files"] == [str(broken)]
    assert summary["files"] == 4 and summary["rows_total"] == len(corpus.texts) - 149


@pytest.mark.parametrize(
    ("setup", "flags", "message"),
    [
        ("empty_targets", [], "--targets: {tmp}/t.jsonl holds no target texts"),
        ("file_as_out", [], "--out: cannot create {tmp}/o/sub"),
        ("no_pool_match", [], "--pool: no files match {tmp}/none/*.parquet"),
    ],
)
def test_bad_input_fails_before_any_work(corpus, tmp_path, setup, flags, message):
    targets, pool, out = str(corpus.targets_path), str(corpus.pool_dir), str(tmp_path / "out")
    if setup == "empty_targets":
        (tmp_path / "t.jsonl").write_text("\n")
        targets = str(tmp_path / "t.jsonl")
    elif setup == "file_as_out":
        (tmp_path / "o").write_text("a file, not a directory")
        out = str(tmp_path / "o" / "sub")
    else:
        pool = str(tmp_path / "none" / "*.parquet")
    result = cli("select", "--pool", pool, "--targets", targets, "--k", "3", "--out", out, *flags)
    assert result.returncode == 2
    *progress, error = result.stderr.splitlines()  # the error is one line, and the last
    assert error.startswith("zipfit-ray: error: " + message.format(tmp=tmp_path))
    assert all(line.startswith("zipfit-ray: plan: ") for line in progress)  # no Ray started
