"""Credentials never reach an output, a log or an error (issue 24): a distinctive secret is
planted in --storage-options and in HF_TOKEN, jobs run to the end and fail in several ways,
and every file under --out, every line the CLI printed and every Ray log of the run is
searched for it. Only 127.0.0.1 is contacted: S3 and the Hub are closed ports there."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
import zstandard

from zipfit_ray.cli import REDACTED

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-PLANTED-123"
KEY = "AKIAPLANTEDKEY9876"  # an access key id is not to be shown either
PLANTED = (SECRET, KEY)
# bound for the whole session and never listening: connections to it are refused, and no
# other process (a Ray worker's server) can take the port meanwhile, as a released one can
_HELD = socket.socket()
_HELD.bind(("127.0.0.1", 0))
CLOSED_PORT = _HELD.getsockname()[1]
CLOSED = f"http://127.0.0.1:{CLOSED_PORT}"
OPTIONS = {
    "key": KEY,
    "secret": SECRET,
    "client_kwargs": {"endpoint_url": CLOSED},
    # one quick attempt: a refused endpoint fails in about a second
    "config_kwargs": {"connect_timeout": 2, "retries": {"max_attempts": 1}},
}
OPTIONS_JSON = json.dumps(OPTIONS)


def env(ray_tmp: Path | None = None) -> dict[str, str]:
    """The CLI's environment: HF_TOKEN planted, the Hub and instance metadata out of reach,
    and a local Ray's files (logs among them) under ``ray_tmp``."""
    values = {
        **os.environ,
        "HF_TOKEN": SECRET,
        "HF_ENDPOINT": CLOSED,
        "AWS_EC2_METADATA_DISABLED": "true",
        "RAY_USAGE_STATS_ENABLED": "0",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if ray_tmp is not None:
        values["RAY_TMPDIR"] = str(ray_tmp)  # Ray's sessions go to RAY_TMPDIR/ray/session_*
    return values


def cli(*args: str, ray_tmp: Path | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "zipfit_ray", *args],
        cwd=ROOT,
        env=env(ray_tmp),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def select(pool: str, targets: str, out: Path, *extra: str, ray_tmp: Path | None = None):
    return cli(
        "select",
        "--pool",
        pool,
        "--targets",
        targets,
        "--out",
        str(out),
        "--k",
        "5",
        "--storage-options",
        OPTIONS_JSON,
        *extra,
        ray_tmp=ray_tmp,
    )


@pytest.fixture
def ray_tmp() -> Iterator[Path]:
    """A short RAY_TMPDIR of its own (Ray's socket paths must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="zr-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def ray_logs(ray_tmp: Path) -> list[Path]:
    """The logs directory of the one Ray session the CLI started under ``ray_tmp``, checked
    to hold its workers' logs."""
    sessions = [p for p in (ray_tmp / "ray").glob("session_*") if not p.is_symlink()]
    assert len(sessions) == 1, sessions
    logs = sessions[0] / "logs"
    assert list(logs.glob("worker-*.err")) and list(logs.glob("python-core-worker-*.log"))
    return [sessions[0]]


def readable(path: Path) -> Iterator[bytes]:
    """A file's bytes, and what it holds once decoded where it is compressed."""
    data = path.read_bytes()
    yield data
    name = path.name
    try:
        if name.endswith(".parquet"):
            parquet = pq.ParquetFile(path)
            yield repr(parquet.schema_arrow.metadata).encode()
            yield repr(parquet.read().to_pylist()).encode()
        elif name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as arrays:
                for array in arrays.values():
                    yield array.tobytes()
                    yield repr(array.tolist()).encode()
        elif name.endswith(".gz"):
            yield gzip.decompress(data)
        elif name.endswith(".zst"):
            yield zstandard.ZstdDecompressor().stream_reader(data).read()
    except Exception as exc:  # an unreadable file is still searched as bytes
        yield repr(exc).encode()


def leaks(*roots: Path, texts: tuple[str, ...] = ()) -> list[str]:
    """Where a planted value shows: files under ``roots`` (every regular file, recursively)
    and ``texts`` (captured output)."""
    found = []
    for i, text in enumerate(texts):
        found += [f"output {i}: {v}" for v in PLANTED if v in text]
    for root in roots:
        files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
        for path in files:
            for data in readable(path):
                found += [f"{path}: {v}" for v in PLANTED if v.encode() in data]
    return sorted(set(found))


@pytest.fixture
def pool_with_a_target(corpus, tmp_path) -> Path:
    """The corpus's pool plus a file holding a copy of a target, so the contamination guard
    writes contaminated/."""
    pool = tmp_path / "pool"
    shutil.copytree(corpus.pool_dir, pool)
    first = pq.read_table(sorted(pool.glob("*.parquet"))[0]).slice(0, 1)
    texts = first.schema.get_field_index("text")
    copy = first.set_column(texts, "text", pa.array([corpus.targets[0].decode()]))
    pq.write_table(copy, pool / "part-9.parquet")
    return pool


@pytest.mark.ray  # the CLI starts a local Ray of its own
def test_a_finished_job_writes_and_logs_no_credential(
    corpus, pool_with_a_target, tmp_path, ray_tmp
):
    out = tmp_path / "out"
    result = select(
        str(pool_with_a_target),
        str(corpus.targets_path),
        out,
        "--all-scores",
        "--order",
        "score",
        ray_tmp=ray_tmp,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arguments"]["storage_options"] == sorted(OPTIONS)  # names, not values
    for written in ("report.html", "scores/_job.json", "_SUCCESS"):
        assert (out / written).is_file()
    assert list((out / "contaminated").glob("*.parquet"))
    assert leaks(out, *ray_logs(ray_tmp), texts=(result.stdout, result.stderr)) == []


@pytest.mark.ray  # the CLI starts a local Ray of its own
def test_a_job_failing_in_a_task_leaks_no_credential(corpus, tmp_path, ray_tmp):
    """A row group whose text pages are garbage (the footer intact): planning passes, a
    scoring task fails, --debug shows the traceback; checkpoints and scores stay behind."""
    pool = tmp_path / "pool"
    shutil.copytree(corpus.pool_dir, pool)
    bad = sorted(pool.glob("*.parquet"))[1]
    data = bytearray(bad.read_bytes())
    group = pq.ParquetFile(bad).metadata.row_group(0)
    columns = [group.column(i) for i in range(group.num_columns)]
    chunk = next(c for c in columns if c.path_in_schema == "text")
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data[start : start + chunk.total_compressed_size] = b"\xa5" * chunk.total_compressed_size
    bad.write_bytes(bytes(data))
    out = tmp_path / "out"
    result = cli(
        "--debug",
        "select",
        "--pool",
        str(pool),
        "--targets",
        str(corpus.targets_path),
        "--out",
        str(out),
        "--k",
        "5",
        "--all-scores",
        "--on-bad-file",
        "fail",
        "--storage-options",
        OPTIONS_JSON,
        ray_tmp=ray_tmp,
    )
    assert result.returncode != 0
    assert f"{bad} row group 0: cannot be read" in result.stderr
    assert "Traceback" in result.stderr
    assert list((out / "_checkpoints").iterdir()) and (out / "scores" / "_job.json").is_file()
    assert leaks(out, *ray_logs(ray_tmp), texts=(result.stdout, result.stderr)) == []


def _bad_targets(tmp_path: Path) -> str:
    path = tmp_path / "targets.jsonl"
    path.write_text('{"text": "fine"}\n{"text": oops\n')
    return str(path)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("s3 pool", "Could not connect to the endpoint URL"),
        ("s3 glob", "Could not connect to the endpoint URL"),
        ("hf pool", "ConnectError"),
        ("missing pool", "--pool: no such file or directory"),
        ("bad targets", "line 2: not JSON"),
        ("missing targets", "--targets: no such file"),
        ("s3 targets", "--targets: no such file: s3://"),
    ],
)
def test_a_job_failing_before_it_starts_leaks_no_credential(corpus, tmp_path, case, expected):
    """Each fails while the driver lists the pool or reads the targets (no Ray yet); the
    connection errors come with the libraries' tracebacks."""
    pool, targets = str(corpus.pool_dir), str(corpus.targets_path)
    if case == "s3 pool":
        pool = "s3://bucket/pool/"
    elif case == "s3 glob":
        pool = "s3://bucket/pool/*.parquet"
    elif case == "hf pool":  # HF_TOKEN is planted, HF_ENDPOINT a closed port
        pool = "hf://datasets/org/name/data/"
    elif case == "missing pool":
        pool = str(tmp_path / "absent")
    elif case == "bad targets":
        targets = _bad_targets(tmp_path)
    elif case == "missing targets":
        targets = str(tmp_path / "absent.jsonl")
    elif case == "s3 targets":
        targets = "s3://bucket/targets.jsonl"
    out = tmp_path / "out"
    result = select(pool, targets, out, "--all-scores")
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr[-2000:]
    assert leaks(tmp_path, texts=(result.stdout, result.stderr)) == []


def test_storage_options_that_are_not_json_are_not_quoted(corpus, tmp_path):
    broken = OPTIONS_JSON[:-1] + " oops}"
    result = cli(
        *("select", "--pool", str(corpus.pool_dir), "--targets", str(corpus.targets_path)),
        *("--out", str(tmp_path / "out"), "--k", "5", "--storage-options", broken),
    )
    assert result.returncode == 2 and "--storage-options: not valid JSON" in result.stderr
    assert leaks(tmp_path, texts=(result.stdout, result.stderr)) == []


def test_the_ray_job_table_does_not_list_the_storage_options(ray_session, corpus, tmp_path):
    """Ray records each driver's command line as its job's entrypoint (`ray list jobs`, the
    dashboard's Jobs page): on a shared cluster the --storage-options there would be read by
    anyone who can see the cluster."""
    address = ray.get_runtime_context().gcs_address
    result = select(
        str(corpus.pool_dir), str(corpus.targets_path), tmp_path / "out", "--address", address
    )
    assert result.returncode == 0, result.stderr
    from ray._private import state

    entrypoints = [job.get("Entrypoint", "") for job in state.jobs()]
    ours = [e for e in entrypoints if str(tmp_path / "out") in e]
    assert len(ours) == 1, entrypoints
    assert f"--storage-options {REDACTED}" in ours[0]  # what was given, not its value
    assert leaks(tmp_path / "out", texts=(result.stdout, result.stderr, *entrypoints)) == []
