"""Faults across every phase, not only scoring: a driver SIGKILLed in each phase (planning,
scoring, the cut, deduplicating, writing, ranking, the report) and rerun gives the
undisturbed result; worker nodes lost every second or two from the first shard to the last
part change nothing."""

import json
import subprocess
import sys
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from tests.test_cli import ROOT, cli
from zipfit_ray import SelectConfig, run_select

# phase -> (what the driver calls there, kill before or after the call, on which call)
KILL_POINTS = {
    "plan": ("zipfit_ray.job.plan:plan_pool", "after", 1),
    "score": ("zipfit_ray.job.notes:Tally.add", "before", 5),
    "cut": ("zipfit_ray.job.runtime:RayCluster.cut", "before", 1),
    "dedup": ("zipfit_ray.job.dedup:_at_or_before", "before", 1),
    "write": ("zipfit_ray.job.notes:Selection.add", "after", 1),
    "rank": ("zipfit_ray.storage:move", "before", 1),
    "report": ("zipfit_ray.report:write_report", "after", 1),
}
# a driver that kills itself (SIGKILL: no cleanup of any kind) at one of KILL_POINTS
KILLING_DRIVER = """
import importlib, os, signal, sys
from zipfit_ray.cli import main
place, when, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
module_name, _, attribute = place.partition(":")
owner = importlib.import_module(module_name)
*path, name = attribute.split(".")
for part in path:
    owner = getattr(owner, part)
original, calls = getattr(owner, name), []
def killing(*args, **kwargs):
    calls.append(1)
    if when == "before" and len(calls) == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    found = original(*args, **kwargs)
    if when == "after" and len(calls) == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return found
setattr(owner, name, killing)
sys.exit(main(sys.argv[4:]))
"""


def job_args(corpus, out, address):
    return [
        "select", "--pool", str(corpus.pool_dir), "--targets", str(corpus.targets_path),
        "--out", str(out), "--k", "40", "--dedup", "--order", "score", "--shard-rows", "10",
        "--part-rows", "8", "--compressor", "zlib", "--address", address,
    ]  # fmt: skip


def result(out) -> dict:
    """What a finished run published: its parts, its ranked copy, its summary's counts."""
    summary = json.loads((out / "summary.json").read_text())
    kept = ("rows_read", "rows_selected", "rows_removed_duplicate", "duplicate_clusters",
            "pair_compressions", "target_halves", "parts", "selected_score_quantiles")  # fmt: skip
    return {
        "parts": pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read(),
        # the ranked copy's rows in its files' order (how Ray Data splits them may vary)
        "ranked": pa.concat_tables(
            pq.read_table(p) for p in sorted((out / "ranked").glob("*.parquet"))
        ),
        "summary": {k: summary[k] for k in kept},
    }


@pytest.fixture(scope="module")
def undisturbed() -> dict:
    """The undisturbed run's result, made by the first test that needs it."""
    return {}


@pytest.mark.parametrize("phase", list(KILL_POINTS))
def test_a_driver_killed_in_any_phase_is_resumed_to_the_same_result(
    ray_session, corpus, tmp_path, undisturbed, phase
):
    address = ray.get_runtime_context().gcs_address
    if not undisturbed:
        clean = cli(*job_args(corpus, tmp_path / "undisturbed", address))
        assert clean.returncode == 0, clean.stderr
        undisturbed.update(result(tmp_path / "undisturbed"))
    out = tmp_path / "out"
    place, when, nth = KILL_POINTS[phase]
    driver = [sys.executable, "-c", KILLING_DRIVER, place, when, str(nth)]
    killed = subprocess.run(
        [*driver, *job_args(corpus, out, address)], cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr  # it died where it was meant to
    assert not (out / "_SUCCESS").exists()
    resumed = cli(*job_args(corpus, out, address))
    assert resumed.returncode == 0, resumed.stderr
    found = result(out)
    assert found["summary"] == undisturbed["summary"]
    assert found["parts"].equals(undisturbed["parts"])
    assert found["ranked"].equals(undisturbed["ranked"])


def phase_of(out, shards: int) -> str:
    """Where a job writing to ``out`` is, from its files."""
    if list(out.glob("part-*.parquet")):
        return "write"
    if len(list((out / "_checkpoints").glob("shard-*"))) < shards:
        return "score"
    return "cut"


def test_worker_nodes_lost_through_every_phase_change_nothing(
    five_node_cluster, corpus, long_pool, tmp_path
):
    """Four worker nodes of five are lost, one by one: as scoring gets under way, midway,
    as the cut starts and as the first part is written; the head carries on alone."""
    cluster, workers = five_node_cluster
    shards = 180

    def config(out):
        return SelectConfig.from_flags(
            pool=(str(long_pool),), targets=str(corpus.targets_path), out=str(out), k=150,
            dedup=True, compressor="zstd", shard_rows=1, part_rows=1, max_in_flight=3,
        )  # fmt: skip

    run_select(config(tmp_path / "undisturbed"))
    out, outcome, kills, done = tmp_path / "out", {}, [], threading.Event()

    def job():
        try:
            outcome["summary"] = run_select(config(out))
        finally:
            done.set()

    def chaos():
        alive = list(workers)
        while not done.wait(0.01):
            phase = phase_of(out, shards)
            # one as scoring gets under way and one midway, one as the cut and the write start
            if phase == "score":
                started = len(list((out / "_checkpoints").glob("shard-*")))
                due = started >= (20, 100, shards + 1)[kills.count("score")]
            else:
                due = phase not in kills
            if alive and due:
                kills.append(phase)
                cluster.remove_node(alive.pop(0), allow_graceful=False)

    threads = [threading.Thread(target=job), threading.Thread(target=chaos)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    assert "summary" in outcome
    assert {"score", "cut", "write"} <= set(kills), kills
    parts = sorted(out.glob("part-*.parquet"))
    same = sorted((tmp_path / "undisturbed").glob("part-*.parquet"))
    assert pq.ParquetDataset(parts).read().equals(pq.ParquetDataset(same).read())
