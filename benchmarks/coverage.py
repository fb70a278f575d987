"""Coverage of the target items: what --cover F and --per-target do to precision@K and to
how many target items the selection serves, on the harness's 8 cells (pools.py: the
natural and matched pools x Python functions and SymPy docstrings x 20 and 150 targets).

Scores are the default setting's (zstd level 3, conditional joint), by the job's exact
kernel: every row's NCD to every target item. The selections follow the job's rules (tested
equal to them in tests/job/test_per_item.py): K = the in-domain count (10% of the pool);
--cover F takes every item's n best rows for the largest n whose union fits in F x K, one
more for as many items as fit (those whose next row aligns best first), then the rest by
mean alignment; --per-target N is the union of every item's N best rows, with
N the largest whose union fits in K. Each row prints precision (the share of the K picks
from the target domain), the items served (those some selected row is nearest to) and the
rows the items' own cuts took.

    .venv/bin/python benchmarks/coverage.py [--rows 6000]
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from evaluate import CHUNK_ROWS, sizes
from pools import DOMAINS, build_pools

from zipfit_ray.kernel.alignment import ncd_matrix
from zipfit_ray.kernel.compressors import Compressor

SETTING = ("zstd", 3, "conditional")
COVERS = (0.0, 0.25, 0.5, 1.0)


def best(scores: np.ndarray, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """The n best rows by score, ties to the earlier row (only ``allowed`` ones)."""
    rows = np.arange(len(scores)) if allowed is None else np.flatnonzero(allowed)
    return rows[np.lexsort((rows, -scores[rows]))][:n]


def union(items: np.ndarray, n: int) -> np.ndarray:
    """Rows some item takes among its n best (items: rows x items alignment)."""
    taken = np.zeros(len(items), dtype=bool)
    for j in range(items.shape[1]):
        taken[best(items[:, j], n)] = True
    return taken


def largest_n(items: np.ndarray, budget: int) -> int:
    """The largest n whose union of every item's n best rows fits in ``budget`` rows."""
    low, high = 0, budget + 1
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if union(items, middle).sum() <= budget else (low, middle)
    return low


def cover(items: np.ndarray, mean: np.ndarray, k: int, share: float) -> tuple[np.ndarray, int]:
    """--cover's K rows, and how many the items' own cuts took: every item's n best for the
    largest n that fits in the share, then one more for the items whose next row aligns best
    (the earlier item on a tie) while they fit, then the rest by the mean."""
    budget = int(share * k)
    n = largest_n(items, budget)
    taken = union(items, n)
    following = [best(items[:, j], n + 1)[-1] for j in range(items.shape[1])]
    for j in sorted(range(items.shape[1]), key=lambda j: (-items[following[j], j], j)):
        if taken.sum() + (not taken[following[j]]) > budget:
            break
        taken[following[j]] = True
    rest = best(mean, k - int(taken.sum()), ~taken)
    chosen = taken.copy()
    chosen[rest] = True
    return chosen, int(taken.sum())


def served(items: np.ndarray, chosen: np.ndarray) -> int:
    """The items some chosen row is nearest to (its highest alignment)."""
    return len(np.unique(np.argmax(items[chosen], axis=1)))


def cell_rows(ncd: np.ndarray, labels: np.ndarray, domain: str) -> list[dict]:
    items, k = 1.0 - ncd, int((labels == domain).sum())
    mean = items.mean(axis=1)
    found = []
    for share in COVERS:
        chosen, taken = cover(items, mean, k, share) if share else (np.isin(
            np.arange(len(mean)), best(mean, k)), 0)  # fmt: skip
        found.append((f"--cover {share:g}", chosen, taken))
    n = largest_n(items, k)
    taken = union(items, n)
    found.append((f"--per-target {n}", taken, int(taken.sum())))
    return [
        {
            "setting": name,
            "rows": int(chosen.sum()),
            "precision": float((labels[chosen] == domain).mean()),
            "items_served": served(items, chosen),
            "items": items.shape[1],
            "taken_by_items": taken,
        }
        for name, chosen, taken in found
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--targets", type=int, default=150)
    parser.add_argument("--small-targets", type=int, default=20)
    args = parser.parse_args()
    pools, targets = build_pools(args.rows, args.targets)
    every = [t for d in DOMAINS for t in targets[d]]
    compressor = Compressor(SETTING[0], SETTING[1], joint=SETTING[2])
    cy = np.array([compressor.size(t) for t in every], dtype=np.int64)
    results = []
    print("| pool | domain | targets | setting | rows | precision@K | items served | by items |")
    print("|---|---|---|---|---|---|---|---|")
    with ProcessPoolExecutor() as executor:
        for pool in pools.values():
            texts = pool.texts
            chunks = [texts[i : i + CHUNK_ROWS] for i in range(0, len(texts), CHUNK_ROWS)]
            n = len(chunks)
            parts = list(executor.map(sizes, [SETTING] * n, chunks, [every] * n))
            ncd = ncd_matrix(
                np.concatenate([p[0] for p in parts]), cy, np.concatenate([p[1] for p in parts])
            )
            column = 0
            for domain in DOMAINS:
                m = len(targets[domain])
                for size in (args.small_targets, m):
                    cell = ncd[:, column : column + size]
                    for row in cell_rows(cell, pool.labels, domain):
                        cell_of = {"pool": pool.name, "domain": domain, "targets": size}
                        results.append({**cell_of, **row})
                        print(
                            f"| {pool.name} | {domain} | {size} | {row['setting']} | "
                            f"{row['rows']:,} | {row['precision']:.3f} | "
                            f"{row['items_served']}/{row['items']} | {row['taken_by_items']:,} |",
                            flush=True,
                        )
                column += m
    print_summary(results)


def family(setting: str) -> str:
    """Cells' rows of one setting (--per-target's N differs per cell)."""
    return "--per-target N (the union filling K)" if setting.startswith("--per-") else setting


def print_summary(results: list[dict]) -> None:
    print("\n| setting | precision@K: mean of 8 cells | worst cell | share of items served |")
    print("|---|---|---|---|")
    for name in dict.fromkeys(family(r["setting"]) for r in results):
        rows = [r for r in results if family(r["setting"]) == name]
        precision = [r["precision"] for r in rows]
        share = np.mean([r["items_served"] / r["items"] for r in rows])
        print(f"| {name} | {np.mean(precision):.3f} | {min(precision):.3f} | {share:.2f} |")


if __name__ == "__main__":
    main()
