"""Planning a pool of many small files on S3: time, bytes fetched per file, driver memory.

Writes ``--files`` small Parquet files (``--rows`` rows each, two row groups) and as many
gzipped JSONL files to a local S3 endpoint that counts the bytes its GET responses serve
(tests/s3_endpoint.py, on 127.0.0.1), then plans each pool in a fresh
process exactly as `zipfit-ray select` does (list, then footers or listing entries), once
on the driver's threads and once in Ray tasks (a local Ray of 2 CPUs, started before the
clock), and prints: seconds, GET bytes per file, the driver's peak RSS, and the size of the
file map every task is handed (pickled), with a linear projection to 100,000 files.

    .venv/bin/python benchmarks/planning.py [--files 20000] [--rows 20]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import s3fs
from scale import COUNTING_SERVER, ROOT, free_port

BUCKET = "plan-bucket"
PROJECT_TO = 100_000
PLAN = """
import json, pickle, resource, sys, time
import ray
from zipfit_ray import SelectConfig
from zipfit_ray.job import plan
uri, options, tasks = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == "tasks"
plan.PLAN_IN_TASKS_FROM = 1 if tasks else 10**9
if tasks:
    ray.init(address="local", num_cpus=2, include_dashboard=False)  # before the clock
config = SelectConfig.from_flags(
    pool=(uri,), targets="unused", out="unused", k=1, storage_options=options
)
start = time.perf_counter()
scan = plan.plan_pool(config)
seconds = time.perf_counter() - start
files = {i: (p, g) for i, (p, g) in enumerate(zip(scan.files, scan.row_groups))}
print(json.dumps({
    "files": len(scan.files), "rows": scan.num_rows, "seconds": seconds,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "file_map_bytes": len(pickle.dumps(files)),
}))
"""


def parquet_bytes(rows: int, index: int) -> bytes:
    table = pa.table(
        {"id": range(rows), "text": [f"file {index} row {r}" * 5 for r in range(rows)]}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=max(1, rows // 2))
    return sink.getvalue()


def jsonl_bytes(rows: int, index: int) -> bytes:
    lines = "".join(
        json.dumps({"id": r, "text": f"file {index} row {r}" * 5}) + "\n" for r in range(rows)
    )
    return gzip.compress(lines.encode())


def served(counter: Path) -> int:
    return int(counter.read_text() or 0) if counter.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=20, help="rows per file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        counter, port = Path(tmp) / "served", free_port()
        server = subprocess.Popen(
            [*COUNTING_SERVER, str(port), str(counter)],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        try:
            options = {"key": "x", "secret": "x", "endpoint_url": f"http://127.0.0.1:{port}"}
            for _ in range(50):
                try:
                    fs = s3fs.S3FileSystem(**options)
                    fs.mkdir(BUCKET)
                    break
                except Exception:
                    time.sleep(0.2)
            for kind, make, suffix in (
                ("parquet", parquet_bytes, "parquet"),
                ("jsonl", jsonl_bytes, "jsonl.gz"),
            ):
                start = time.perf_counter()
                with ThreadPoolExecutor(16) as pool:
                    list(
                        pool.map(
                            lambda i, make=make, kind=kind, suffix=suffix: fs.pipe(
                                f"{BUCKET}/{kind}/part-{i:06d}.{suffix}", make(args.rows, i)
                            ),
                            range(args.files),
                        )
                    )
                print(
                    f"{kind}: wrote {args.files:,} files in {time.perf_counter() - start:.0f} s",
                    flush=True,
                )
                for where in ("driver", "tasks"):
                    plan(kind, where, options, counter)

        finally:
            server.terminate()
            server.wait()


def plan(kind: str, where: str, options: dict, counter: Path) -> None:
    """Plan one pool in a fresh process (on the driver's threads, or in Ray tasks on 2
    CPUs) and print what it took."""
    before = served(counter)
    result = subprocess.run(
        [sys.executable, "-c", PLAN, f"s3://{BUCKET}/{kind}/", json.dumps(options), where],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    fetched = served(counter) - before
    scale = PROJECT_TO / found["files"]
    print(
        f"{kind}, {where}: planned {found['files']:,} files in {found['seconds']:.1f} s "
        f"({found['seconds'] / found['files'] * 1000:.2f} ms per file; "
        f"{PROJECT_TO:,} files: ~{found['seconds'] * scale:.0f} s), "
        f"GET {fetched / found['files']:,.0f} B per file, driver peak RSS "
        f"{found['peak_rss_mib']:.0f} MiB, file map handed to every task "
        f"{found['file_map_bytes'] / 2**20:.1f} MiB pickled "
        f"(~{found['file_map_bytes'] * scale / 2**20:.0f} MiB at {PROJECT_TO:,})",
        flush=True,
    )


if __name__ == "__main__":
    main()
