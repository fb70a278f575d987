"""One job for two named target sets against two single-set jobs, on the harness's pools
(pools.py: Python functions and SymPy docstrings, 10% of the pool each, among distractors).
Each set takes K = 5% of the pool (half its domain's rows), then 15% (more than its domain
holds, so the sets reach into the same distractors); both ways run on one local Ray, one
after the other.

Prints per pool and K: wall time (and its scoring part) and pair compressions of each way,
the rows the sets contested,
how much of each single-set job's selection the mixture kept for that set, and each
selection's precision (the share of its rows from the set's domain).

    .venv/bin/python benchmarks/target_sets.py [--rows 6000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import ray
from pools import DOMAINS, build_pools

from zipfit_ray import SelectConfig, run_select

SHARES = (0.05, 0.15)  # of the pool, per set


def write_inputs(root: Path, pool, targets: dict[str, list[bytes]]) -> dict[str, str]:
    """The pool as Parquet (with its labels), each domain's targets as JSONL."""
    (root / "pool").mkdir()
    table = pa.table(
        {
            "id": range(len(pool.texts)),
            "text": [t.decode() for t in pool.texts],
            "label": pool.labels.tolist(),
        }
    )
    pq.write_table(table, root / "pool" / "part-0.parquet", row_group_size=2048)
    paths = {}
    for domain, texts in targets.items():
        paths[domain] = str(root / f"{domain}.jsonl")
        lines = (json.dumps({"text": t.decode()}) + "\n" for t in texts)
        Path(paths[domain]).write_text("".join(lines))
    return paths


def run(root: Path, name: str, targets: list[str], k: int) -> tuple[dict, pa.Table, float]:
    out = root / name
    start = time.perf_counter()
    summary = run_select(
        SelectConfig.from_flags(
            pool=(str(root / "pool"),), targets=tuple(targets), out=str(out), k=k
        )
    )
    seconds = time.perf_counter() - start
    return summary, pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read(), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--targets", type=int, default=50, help="per set")
    args = parser.parse_args()
    pools, targets = build_pools(args.rows, args.targets)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    for pool, share in ((p, s) for p in pools.values() for s in SHARES):
        k = int(len(pool.texts) * share)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            paths = write_inputs(root, pool, targets)
            both, mixed, both_seconds = run(
                root, "both", [f"{d}={paths[d]}" for d in DOMAINS], k
            )  # each set takes k: no --mix
            alone = {d: run(root, d, [paths[d]], k) for d in DOMAINS}
        pairs = sum(s["pair_compressions"] for s, _, _ in alone.values())
        seconds = sum(t for _, _, t in alone.values())
        scoring = sum(s["seconds"]["score"] for s, _, _ in alone.values())
        print(
            f"\n{pool.name} pool: {len(pool.texts):,} rows, K = {k:,} per set, "
            f"{args.targets} targets per set"
        )
        print(
            f"one job: {both_seconds:.1f} s (scoring {both['seconds']['score']:.1f} s), "
            f"{both['pair_compressions']:,} pair compressions; two jobs: {seconds:.1f} s "
            f"(scoring {scoring:.1f} s), {pairs:,}; rows contested: {both['rows_contested']:,} "
            f"({both['target_set_rounds']} rounds of cuts)"
        )
        print("| set | single-set rows the mixture kept for it | precision alone | in mixture |")
        print("|---|---|---|---|")
        ids = mixed.column("id").to_pylist()
        labels = dict(zip(ids, mixed.column("label").to_pylist()))
        chosen = dict(zip(ids, mixed.column("zipfit_target").to_pylist()))
        for domain in DOMAINS:
            _, table, _ = alone[domain]
            single = table.column("id").to_pylist()
            kept = sum(chosen.get(t) == domain for t in single)
            mine = [t for t, d in chosen.items() if d == domain]
            precision_alone = sum(x == domain for x in table.column("label").to_pylist()) / k
            precision_mixed = sum(labels[t] == domain for t in mine) / max(1, len(mine))
            print(
                f"| {domain} | {kept:,} of {len(single):,} | {precision_alone:.3f} | "
                f"{precision_mixed:.3f} |"
            )
    ray.shutdown()


if __name__ == "__main__":
    main()
