"""What the halves' agreement says of a target set: on the harness's natural pool
(pools.py), for target sets of several sizes from one domain and for a mixed set (half
Python functions, half SymPy docstrings), K = 10% of the pool, the default compressor.
Prints, per target set, the Jaccard of the top K by each half of the targets (what a job
reports as target_halves), the mean NCD between targets (target_spread), and the precision
of the selection by the whole set (the share of selected rows from the target's domain).

    .venv/bin/python benchmarks/target_halves.py [--rows 6000]
"""

from __future__ import annotations

import argparse

import numpy as np
from pools import build_pools

from zipfit_ray.analysis import target_set
from zipfit_ray.kernel.alignment import ncd_to_targets, prepare_targets
from zipfit_ray.selection import order

SIZES = (4, 10, 20, 50, 150)


def top(scores: np.ndarray, k: int) -> set[int]:
    return set(order.best_first_order(scores, np.arange(len(scores)))[:k].tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=6000)
    args = parser.parse_args()
    pools, targets = build_pools(args.rows, max(SIZES))
    pool = pools["natural"]
    k = len(pool.texts) // 10
    ncd = {d: ncd_to_targets(pool.texts, prepare_targets(targets[d])) for d in targets}
    sets = [(d, m, ncd[d][:, :m], [d]) for d in targets for m in SIZES]
    half = max(SIZES) // 2
    mixed = np.concatenate([ncd["python"][:, :half], ncd["math"][:, :half]], axis=1)
    sets.append(("python + math", max(SIZES), mixed, ["python", "math"]))
    print(f"K = {k:,} of {len(pool.texts):,} rows")
    print("| targets | count | halves' Jaccard | mean NCD between targets | precision |")
    print("|---|---|---|---|---|")
    for name, m, columns, domains in sets:
        a, b = target_set.halves(m)
        jaccard_sets = [top(1 - columns[:, h].mean(axis=1), k) for h in (a, b)]
        jaccard = len(jaccard_sets[0] & jaccard_sets[1]) / len(jaccard_sets[0] | jaccard_sets[1])
        chosen = [targets[d][i] for d in domains for i in range(m // len(domains))]
        spread, _ = target_set.spread(prepare_targets(chosen))
        selected = list(top(1 - columns.mean(axis=1), k))
        precision = np.isin(pool.labels[selected], domains).mean()
        print(f"| {name} | {m} | {jaccard:.2f} | {spread:.3f} | {precision:.3f} |", flush=True)


if __name__ == "__main__":
    main()
