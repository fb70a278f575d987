"""What --exclude-near costs per corpus row, and what it drops, on the harness's natural pool
(pools.py). The corpus the user "has" is near-copies (a comment line added) of a tenth of
the pool's Python functions, then rows of seeded random words (near nothing in the pool)
up to its size, so that its size varies while its near-duplicates of the pool stay put.

One job per corpus size on one local Ray, with the same pool, targets and K; the exclusion
phase's seconds against the corpus's rows give its cost per corpus row (the slope between
the sizes, so fixed costs fall out), beside the scoring phase's cost per pool row.

    .venv/bin/python benchmarks/exclude_near.py [--rows 6000] [--sizes 6000 24000]
"""

from __future__ import annotations

import argparse
import json
import random
import string
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import ray
from pools import build_pools
from target_sets import write_inputs

from zipfit_ray import SelectConfig, run_select


def write_corpus(path: Path, pool, rows: int) -> int:
    """The corpus: near-copies of every 10th Python function of ``pool``, then rows of 150
    random words; returns how many near-copies."""
    python = [t.decode() for t, label in zip(pool.texts, pool.labels) if label == "python"]
    near = [t + "\n# seen before\n" for t in python[::10]]
    rng = random.Random(0)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]
    filler = [" ".join(rng.choices(words, k=150)) for _ in range(max(0, rows - len(near)))]
    texts = near + filler
    pq.write_table(pa.table({"text": texts[:rows]}), path, row_group_size=4096)
    return len(near)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--sizes", type=int, nargs="+", default=[6000, 24000])
    args = parser.parse_args()
    pools, targets = build_pools(args.rows, args.targets)
    pool = pools["natural"]
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_inputs(root, pool, {"python": targets["python"]})
        for size in args.sizes:
            corpus = root / f"corpus-{size}.parquet"
            planted = write_corpus(corpus, pool, size)
            summary = run_select(
                SelectConfig.from_flags(
                    pool=(str(root / "pool"),),
                    targets=paths["python"],
                    out=str(root / f"out-{size}"),
                    k=len(pool.texts) // 20,
                    exclude_near=[str(corpus)],
                )
            )
            found.append((size, planted, summary))
    print(f"\npool: {len(pool.texts):,} rows, {args.targets} Python targets, one local Ray")
    print("| corpus rows | near-copies planted | pool rows dropped | exclude-near s | scoring s |")
    print("|---|---|---|---|---|")
    for size, planted, summary in found:
        seconds = summary["seconds"]
        print(
            f"| {size:,} | {planted} | {summary['rows_excluded_near']:,} | "
            f"{seconds['exclude near']:.2f} | {seconds['score']:.2f} |"
        )
    (small, _, first), (large, _, last) = found[0], found[-1]
    slope = (last["seconds"]["exclude near"] - first["seconds"]["exclude near"]) / (large - small)
    per_pool_row = first["seconds"]["score"] / first["rows_read"]
    print(
        f"\nper corpus row: {slope * 1e6:,.0f} µs (the slope between {small:,} and {large:,}); "
        f"exact scoring: {per_pool_row * 1e6:,.0f} µs per pool row against {args.targets} "
        f"targets ({slope / per_pool_row:.2f}x)"
    )
    print(json.dumps({"per_corpus_row_us": slope * 1e6, "per_pool_row_us": per_pool_row * 1e6}))


if __name__ == "__main__":
    main()
