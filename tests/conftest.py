"""Shared fixtures: real text from Python's standard library, a real local Ray."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
import zstandard
from moto.server import ThreadedMotoServer
from ray.cluster_utils import Cluster

from zipfit_ray.demo import build_sample

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # no network beyond 127.0.0.1, here or in children

POOL_ROWS = 360
NUM_TARGETS = 6


@dataclass(frozen=True)
class Corpus:
    """A small pool on disk (several files, small row groups, a few null texts) + targets."""

    pool_dir: Path
    targets_path: Path  # JSONL
    texts: list[bytes | None]  # every pool row's text, in pool order
    targets: list[bytes]


@pytest.fixture(scope="session")
def sample_tables() -> tuple[pa.Table, list[dict]]:
    return build_sample(rows=POOL_ROWS, targets=NUM_TARGETS, seed=7)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory, sample_tables) -> Corpus:
    pool, target_records = sample_tables
    texts = pool.column("text").to_pylist()
    for i in (5, 77, 200):  # nulls are skipped and counted
        texts[i] = None
    texts[9] = ""  # an empty text scores like any other
    pool = pool.set_column(pool.schema.get_field_index("text"), "text", pa.array(texts))
    root = tmp_path_factory.mktemp("corpus")
    pool_dir = root / "pool"
    pool_dir.mkdir()
    bounds = [0, 100, 101, 250, POOL_ROWS]  # uneven files, one of a single row
    for i, (start, end) in enumerate(itertools.pairwise(bounds)):
        pq.write_table(
            pool.slice(start, end - start), pool_dir / f"part-{i}.parquet", row_group_size=40
        )
    targets_path = root / "targets.jsonl"
    targets_path.write_text("".join(json.dumps(r) + "\n" for r in target_records))
    return Corpus(
        pool_dir,
        targets_path,
        [None if t is None else t.encode() for t in texts],
        [r["text"].encode() for r in target_records],
    )


@pytest.fixture(scope="session")
def long_pool(tmp_path_factory, corpus) -> Path:
    """Five copies of the corpus (duplicate texts: ties everywhere) in row groups of 10 rows,
    so a job has 180 shards and can be interrupted midway."""
    table = pa.concat_tables([pq.read_table(corpus.pool_dir)] * 5)
    pool_dir = tmp_path_factory.mktemp("long_pool")
    for i in range(3):
        pq.write_table(table.slice(i * 600, 600), pool_dir / f"part-{i}.parquet", row_group_size=10)
    return pool_dir


@pytest.fixture(scope="session")
def _shutdown_ray_at_exit():
    yield
    ray.shutdown()


@pytest.fixture
def ray_session(_shutdown_ray_at_exit):
    """A local Ray shared by the session (2 CPUs, like CI); restarted only if a test that
    needed its own cluster (test_faults.py) shut it down."""
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False)
    return ray


@contextmanager
def multi_node_cluster(workers: int) -> Iterator[tuple[Cluster, list]]:
    """A head and ``workers`` worker nodes, 1 CPU each, in place of the session's Ray."""
    ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(workers)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    try:
        yield cluster, nodes
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture
def three_node_cluster():
    with multi_node_cluster(2) as found:
        yield found


@pytest.fixture
def five_node_cluster():
    with multi_node_cluster(4) as found:
        yield found


RAY_FIXTURES = {"ray_session", "three_node_cluster", "five_node_cluster", "ray_head"}
S3_FIXTURES = {"s3_options"}


@pytest.hookimpl(tryfirst=True)  # before -m selects by the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by what they start (see pyproject.toml); the rest are unit tests."""
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        if uses & RAY_FIXTURES:
            item.add_marker("ray")
        if uses & S3_FIXTURES:
            item.add_marker("s3")
        if not any(item.get_closest_marker(name) for name in ("ray", "s3", "browser")):
            item.add_marker("unit")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_options():
    """fsspec storage options for a moto S3 server, started here and stopped at the end."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield {"key": "testing", "secret": "testing", "endpoint_url": f"http://{host}:{port}"}
    server.stop()


def write_jsonl(path: Path, records: list[dict], compress=lambda data: data) -> None:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    path.write_bytes(compress(data))


@pytest.fixture(scope="session")
def mixed_pool(tmp_path_factory, corpus):
    """The corpus as a mixed pool: its first two files as JSONL (gzip, zstd), the rest as
    the Parquet files they are, in the same order."""
    root = tmp_path_factory.mktemp("mixed")
    names = sorted(p.name for p in corpus.pool_dir.glob("*.parquet"))
    for i, name in enumerate(names):
        table = pq.read_table(corpus.pool_dir / name)
        if i == 0:
            write_jsonl(root / "part-0.jsonl.gz", table.to_pylist(), gzip.compress)
        elif i == 1:
            zstd = zstandard.ZstdCompressor().compress
            write_jsonl(root / "part-1.json.zst", table.to_pylist(), zstd)
        else:
            pq.write_table(table, root / name, row_group_size=40)
    return root
