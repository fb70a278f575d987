"""Recall and savings of approx-early-exit over a grid of settings; the worst case is what counts.

For each compressor, each labelled pool of ``pools.py`` (``natural`` and ``matched``
lengths), each target domain (Python functions; SymPy docstrings), each target-set size
(the first 20 and all of them), K = 0.1%, 1% and 10% of the pool and several seeds of the
target order, the pool runs as one shard's stream of blocks through the job's own
``EarlyExitScorer``. The exact sizes C(x) and C(x + y) are computed once per compressor and
pool (cached under ``benchmarks/.cache``) and replayed, so every setting sees the very
sizes the job would compute, and the scorer's decisions are the job's. It prints per
compressor and K the worst recall of the exact top-K over all cells, the number of true
top-K rows dropped in all, and the pair compressions saved (mean and worst) against exact.

    .venv/bin/python benchmarks/early_exit.py [--rows 6000] [--targets 150] [--seeds 5]
"""

from __future__ import annotations

import argparse
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from evaluate import CHUNK_ROWS, sizes
from evaluate_modes import ranked
from pools import DOMAINS, build_pools

from zipfit_ray.kernel.alignment import PreparedTargets, alignment_from_sizes
from zipfit_ray.kernel.compressors import Compressor
from zipfit_ray.modes.early_exit import BATCH_ROWS, DEFAULT_Z, Bound, EarlyExitScorer
from zipfit_ray.selection.amounts import Amount

COMPRESSORS = (("zstd", 3, "conditional"), ("lz4-block", 0, "concat"), ("gzip", 9, "concat"))
FRACTIONS = (0.001, 0.01, 0.10)
CACHE = Path(__file__).parent / ".cache"


def recorded_sizes(setting, name, texts, targets, executor) -> tuple[np.ndarray, np.ndarray]:
    """(C(x) (n,), joint sizes (n, m)) for one pool and setting, from the cache if there
    (named by the texts themselves, so a changed pool is never read from a stale file)."""
    digest = zlib.crc32(b"\0".join([*texts, b"\1", *targets]))
    path = (
        CACHE / f"{name}-{len(texts)}x{len(targets)}-{'-'.join(map(str, setting))}-{digest:08x}.npz"
    )
    if path.exists():
        saved = np.load(path)
        return saved["cx"], saved["cxy"]
    chunks = [texts[i : i + CHUNK_ROWS] for i in range(0, len(texts), CHUNK_ROWS)]
    parts = list(executor.map(sizes, *zip(*[(setting, c, targets) for c in chunks])))
    cx, cxy = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    CACHE.mkdir(exist_ok=True)
    np.savez(path, cx=cx, cxy=cxy)
    return cx, cxy


class Replay:
    """Sizes looked up in recorded matrices instead of compressed again: texts are known by
    their position (the scorer passes the very objects it was given)."""

    def __init__(self, texts, targets, cx: np.ndarray, cxy: np.ndarray) -> None:
        self.row = {id(t): i for i, t in enumerate(texts)}
        self.column = {id(t): j for j, t in enumerate(targets)}
        self.cx, self.cxy = cx, cxy

    def size(self, text: bytes) -> int:
        return int(self.cx[self.row[id(text)]])

    def pair_size_matrix(self, xs, ys) -> np.ndarray:
        rows = [self.row[id(x)] for x in xs]
        columns = [self.column[id(y)] for y in ys]
        return self.cxy[np.ix_(rows, columns)]


def run_cell(texts, targets, cy, replay, exact, k: int, early: Bound) -> tuple[int, int]:
    """(true top-K rows dropped, pair compressions) of one early exit run over the pool."""
    prepared = PreparedTargets(tuple(targets), cy, "replay", 0, "replay")
    scorer = EarlyExitScorer(prepared, Amount(k=k), early, sizes=replay)
    scores, pairs = [], 0
    for start in range(0, len(texts), BATCH_ROWS):
        batch_scores, batch_pairs = scorer(texts[start : start + BATCH_ROWS])
        scores.append(batch_scores)
        pairs += batch_pairs
    chosen = set(ranked(np.concatenate(scores), k).tolist())
    truth = ranked(exact, k).tolist()
    return sum(row not in chosen for row in truth), pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=6000, help="rows per pool")
    parser.add_argument("--targets", type=int, default=150, help="the larger target set")
    parser.add_argument("--small-targets", type=int, default=20, help="the smaller target set")
    parser.add_argument("--seeds", type=int, default=5, help="target orders per cell")
    parser.add_argument("--z", type=float, default=DEFAULT_Z)
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    args = parser.parse_args()

    pools, targets = build_pools(args.rows, args.targets)
    every_target = [t for d in DOMAINS for t in targets[d]]
    print(
        f"pools: natural and matched, {args.rows:,} rows; targets per domain: "
        f"{args.small_targets} and {', '.join(str(len(targets[d])) for d in DOMAINS)}; "
        f"seeds {args.seeds}; z={args.z:g}\n"
    )
    print(
        "| compressor | K | target set | cells | worst recall | true top-K rows dropped "
        "| fewer compressions: mean | worst |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with ProcessPoolExecutor(args.processes) as executor:
        for setting in COMPRESSORS:
            recorded = {
                name: recorded_sizes(setting, name, pool.texts, every_target, executor)
                for name, pool in pools.items()
            }
            compressor = Compressor(setting[0], setting[1], joint=setting[2])
            cy = np.array([compressor.size(t) for t in every_target], np.int64)
            for fraction in FRACTIONS:
                cells = {"small": [], "large": []}
                for name, pool in pools.items():
                    cx, cxy = recorded[name]
                    replay = Replay(pool.texts, every_target, cx, cxy)
                    k = max(1, int(len(pool.texts) * fraction))
                    column = 0
                    for domain in DOMAINS:
                        m = len(targets[domain])
                        for size in (args.small_targets, m):
                            columns = slice(column, column + size)
                            exact = alignment_from_sizes(cx, cy[columns], cxy[:, columns])
                            for seed in range(args.seeds):
                                dropped, pairs = run_cell(
                                    pool.texts,
                                    every_target[columns],
                                    cy[columns],
                                    replay,
                                    exact,
                                    k,
                                    Bound(z=args.z, seed=seed),
                                )
                                cells["small" if size == args.small_targets else "large"].append(
                                    (dropped / k, dropped, len(cx) * size / pairs)
                                )
                        column += m
                for label, group in cells.items():
                    recall, dropped, saved = (np.array(v) for v in zip(*group))
                    print(
                        f"| {':'.join(map(str, setting))} | {fraction:.1%} | {label} "
                        f"| {len(group)} | {1 - recall.max():.4f} | {dropped.sum()} "
                        f"| {saved.mean():.1f}x | {saved.min():.1f}x |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
