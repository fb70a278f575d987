"""Which to use when: `zipfit-ray select`, zipfit_ray.data.select_top_k, or the pipeline a
Ray Data user would write by hand (map_batches(scorer) -> sort -> limit -> write_parquet).

Each runs in its own process on a fresh local Ray with 2 CPUs (start-up included), on the
same local Parquet pool (default 50,000 ~800-byte real text chunks, row groups of 2,048) and
20 held-out targets, selecting K = 1% with the default compressor; prints wall time, peak
RSS of the whole process tree, and whether each selected the same rows as the job.

    .venv/bin/python benchmarks/ray_data.py [--rows 50000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from speed import candidate_chunks, run_measured

ROW_GROUP_ROWS = 2048


def run_pipeline(kind: str, pool: str, targets_path: str, k: int, out: str) -> None:
    """One Ray Data way of selecting, in this process."""
    import ray
    import ray.data

    from zipfit_ray.data import ZipFitScorer, select_top_k

    ray.init(address="local", num_cpus=2, include_dashboard=False)
    targets = [json.loads(line)["text"] for line in Path(targets_path).read_text().splitlines()]
    ds = ray.data.read_parquet(pool)
    if kind == "select_top_k":
        best = select_top_k(ds, targets, k, key="id")
    else:  # what one writes without this module: score every row, sort it all, keep k
        scorer = ZipFitScorer(targets)
        best = (
            ds.map_batches(scorer, batch_format="pyarrow")
            .sort(["zipfit_score", "id"], descending=[True, False])
            .limit(k)
        )
    best.write_parquet(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--run", nargs=4, metavar=("KIND", "POOL", "TARGETS", "OUT"))
    parser.add_argument("--k", type=int)
    args = parser.parse_args()
    if args.run:
        kind, pool, targets, out = args.run
        run_pipeline(kind, pool, targets, args.k, out)
        return

    work = Path(tempfile.mkdtemp(prefix="zipfit-ray-data-"))
    chunks = candidate_chunks(args.rows)
    pool = work / "pool"
    pool.mkdir()
    table = pa.table({"id": list(range(len(chunks))), "text": chunks})
    pq.write_table(table, pool / "part-0.parquet", row_group_size=ROW_GROUP_ROWS)
    targets = work / "targets.jsonl"
    targets.write_text("".join(json.dumps({"text": t}) + "\n" for t in candidate_chunks(20, 1)))
    k = len(chunks) // 100
    print(f"pool: {len(chunks):,} rows, 20 targets, K = {k:,}, 2 CPUs\n")
    runs = {
        "zipfit-ray select": [
            sys.executable, "-m", "zipfit_ray", "select", "--pool", str(pool),
            "--targets", str(targets), "--k", str(k), "--out", str(work / "select"),
            "--num-cpus", "2",
        ],
        **{
            kind: [
                sys.executable, __file__, "--k", str(k),
                "--run", kind, str(pool), str(targets), str(work / kind),
            ]
            for kind in ("select_top_k", "map_batches -> sort -> limit")
        },
    }  # fmt: skip
    print("| way | wall s | peak RSS MiB (process tree) | same rows as select |")
    print("|---|---|---|---|")
    chosen = {}
    for name, command in runs.items():
        seconds, peak = run_measured(command)
        out = work / ("select" if name == "zipfit-ray select" else name)
        ids = pq.ParquetDataset(sorted(out.glob("*.parquet"))).read(columns=["id"])
        chosen[name] = sorted(ids.column(0).to_pylist())
        same = chosen[name] == chosen["zipfit-ray select"]
        print(f"| {name} | {seconds:.1f} | {peak.tree / 2**20:,.0f} | {same} |", flush=True)


if __name__ == "__main__":
    main()
