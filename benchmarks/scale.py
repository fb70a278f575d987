"""What a selection costs as K grows, on a pool in S3: bytes fetched, time per phase, memory.

Builds a pool like a web-scale one in miniature (default 600,000 rows of ~800-byte real text
chunks in 60 Parquet files, row groups of 2,048 rows; nothing committed), uploads it to a
local S3 endpoint that counts the bytes its GET responses serve
(tests/s3_endpoint.py, on 127.0.0.1), and runs `zipfit-ray select` on 2
CPUs (lz4-block, 2 targets, output on local disk so that only pool reads are counted) for K
= 1%, 10% and 50% of the pool, writing 1 part and 10 parts. It prints per run: seconds per
phase, GET bytes of the whole job / the pool's bytes, GET bytes of writing / the bytes of
the row groups holding selected rows (writing fetches every column of those), and peak RSS
of the driver and of the largest Ray worker. Writing's bytes are the job's minus those of a
run that selects nothing (--min-score 10: plan and score only).

    .venv/bin/python benchmarks/scale.py [--rows 600000] [--files 60]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from speed import candidate_chunks, run_measured

ROOT = Path(__file__).resolve().parents[1]
COUNTING_SERVER = [sys.executable, "-m", "tests.s3_endpoint"]  # run from ROOT
BUCKET = "pool-bucket"
ROW_GROUP_ROWS = 2048


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_pool(directory: Path, rows: int, files: int) -> list[Path]:
    """Real text chunks, repeated as needed (repeats tie, which the cut must also handle)."""
    chunks = candidate_chunks(min(rows, 150_000))
    per_file = -(-rows // files)
    paths = []
    for f in range(files):
        ids = np.arange(f * per_file, min(rows, (f + 1) * per_file))
        table = pa.table(
            {
                "id": ids,
                "text": [chunks[i % len(chunks)] for i in ids],
                "source": [f"file-{f}"] * len(ids),
            }
        )
        paths.append(directory / f"part-{f:05d}.parquet")
        pq.write_table(table, paths[-1], row_group_size=ROW_GROUP_ROWS)
    return paths


def row_group_bytes(paths: list[Path]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per file: the first id of each row group, and each row group's compressed bytes."""
    starts, sizes = [], []
    for path in paths:
        meta = pq.read_metadata(path)
        groups = [meta.row_group(g) for g in range(meta.num_row_groups)]
        first = pq.read_table(path, columns=["id"]).column(0)[0].as_py()
        starts.append(first + np.cumsum([0] + [g.num_rows for g in groups[:-1]]))
        sizes.append(
            np.array(
                [
                    sum(g.column(c).total_compressed_size for c in range(g.num_columns))
                    for g in groups
                ]
            )
        )
    return starts, sizes


def touched_bytes(out: Path, per_file: int, starts, sizes) -> int:
    """Bytes of the row groups that hold at least one selected row."""
    ids = pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read(columns=["id"])
    ids = ids.column(0).to_numpy()
    total = 0
    for f in np.unique(ids // per_file):
        groups = np.unique(np.searchsorted(starts[f], ids[ids // per_file == f], "right") - 1)
        total += int(sizes[f][groups].sum())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--files", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="zipfit-scale-"))
    counter = work / "get-bytes"
    port = free_port()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    server = subprocess.Popen(
        [*COUNTING_SERVER, str(port), str(counter)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2)
        paths = build_pool(work, args.rows, args.files)
        pool_bytes = sum(p.stat().st_size for p in paths)
        starts, sizes = row_group_bytes(paths)
        os.environ.update(env)
        import s3fs

        fs = s3fs.S3FileSystem()
        fs.mkdir(BUCKET)
        for path in paths:
            fs.put(str(path), f"{BUCKET}/pool/{path.name}")
        targets = work / "targets.jsonl"
        targets.write_text("".join(json.dumps({"text": t}) + "\n" for t in candidate_chunks(2, 1)))
        print(
            f"pool: {args.rows:,} rows, {args.files} files, {pool_bytes / 1e6:.0f} MB "
            f"(row groups of {ROW_GROUP_ROWS:,}); 2 CPUs, lz4-block, 2 targets\n"
        )

        def run(label: str, rule: list[str], part_rows: int | None = None) -> dict:
            out = work / f"out-{label}"
            before = int(counter.read_text()) if counter.exists() else 0
            command = [
                sys.executable, "-m", "zipfit_ray", "select",
                "--pool", f"s3://{BUCKET}/pool/", "--targets", str(targets),
                "--out", str(out), "--num-cpus", "2", *rule,
                *(["--part-rows", str(part_rows)] if part_rows else []),
            ]  # fmt: skip
            seconds, peak = run_measured(command, env=env)
            summary = json.loads((out / "summary.json").read_text())
            return {
                "out": out,
                "seconds": seconds,
                "phases": summary["seconds"],
                "bytes": int(counter.read_text()) - before,
                "parts": len(summary["parts"]),
                "driver": peak.root,
                "worker": peak.worker,
            }

        base = run("none", ["--min-score", "10"])
        print(
            f"plan + score only: {base['bytes'] / pool_bytes:.2f}x the pool's bytes, "
            f"{base['seconds']:.1f} s\n"
        )
        print(
            "| K | parts | wall s | score s | cut s | write s | GET bytes / pool "
            "| writing bytes / touched row groups | driver MiB | worker MiB |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for fraction in (0.01, 0.10, 0.50):
            k = int(args.rows * fraction)
            for parts in (1, 10):
                r = run(f"{fraction}-{parts}", ["--k", str(k)], part_rows=-(-k // parts))
                touched = touched_bytes(r["out"], -(-args.rows // args.files), starts, sizes)
                writing = (r["bytes"] - base["bytes"]) / touched
                phases = r["phases"]
                print(
                    f"| {fraction:.0%} | {r['parts']} | {r['seconds']:.1f} | {phases['score']:.1f} "
                    f"| {phases['cut']:.1f} | {phases['write']:.1f} "
                    f"| {r['bytes'] / pool_bytes:.2f} | {writing:.2f} "
                    f"| {r['driver'] / 2**20:.0f} | {r['worker'] / 2**20:.0f} |",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
