"""Selection quality and speed of every compressor backend and joint, on pools that expose
length bias and hold distractors close to the target domains.

For each setting (backend, level, joint: concat C(x + y) or conditional C(x) + C(y | x)),
each labelled pool of ``pools.py`` (``natural``: in-domain rows shorter than distractors;
``matched``: distractor lengths drawn from the in-domain ones), each target domain (Python
functions; SymPy docstrings) and each target-set size (the first 20 and all 150 held-out
targets), it prints:
- precision@K of the in-domain label, K = the in-domain count (10% of the pool: 1.0 is a
  perfect selection), and at K = 5%;
- the share of the K = 5% picks taken from the pool's shortest quarter (0.25: no tilt);
- pairs per core-second of the kernel (one process, the first 200 rows x 150 targets, best
  of 3).
Scores are the job's exact kernel; rows are ranked as the job ranks them. The last table
gives per setting its mean precision over the 8 (pool, domain, size) cells, on how many
cells it beats the paper's gzip-9 and its worst cell, and its length tilt on the pool
where length is no signal.

    .venv/bin/python benchmarks/evaluate.py [--rows 6000] [--only lz4-block:0 zstd:3:conditional]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from pools import DOMAINS, POOLS, build_pools

from zipfit_ray.kernel.alignment import ncd_matrix, prepare_targets, score
from zipfit_ray.kernel.compressors import Compressor

PAPER = ("gzip", 9, "concat")
CONCAT_SETTINGS = [
    PAPER[:2],
    ("gzip", 1),
    ("zlib", 9),
    ("deflate", 1),
    ("deflate", 6),
    ("deflate", 9),
    ("deflate-fixed", 1),
    ("deflate-fixed", 6),
    ("deflate-fixed", 9),
    ("zlib-ng:deflate", 1),
    ("zlib-ng:deflate", 6),
    ("zlib-ng:deflate-fixed", 1),
    ("isal:deflate", 0),
    ("isal:deflate", 1),
    ("isal:deflate", 3),
    ("libdeflate:deflate", 1),
    ("libdeflate:deflate", 6),
    ("libdeflate:deflate", 12),
    ("lz4", 0),
    ("lz4-block", 0),
    ("lz4-block", 9),
    ("zstd", 1),
    ("zstd", 3),
]
CONDITIONAL_SETTINGS = [
    ("deflate", 6),
    ("deflate", 9),
    ("deflate-fixed", 9),
    ("zlib-ng:deflate", 1),
    ("isal:deflate", 1),
    ("lz4-block", 0),
    ("lz4-block", 9),
    ("zstd", 1),
    ("zstd", 3),
    ("zstd", 9),
]
SETTINGS = [
    *((name, level, "concat") for name, level in CONCAT_SETTINGS),
    *((name, level, "conditional") for name, level in CONDITIONAL_SETTINGS),
]
FRACTIONS = (0.10, 0.05)  # the first, the in-domain count, leads
SPEED_ROWS, SPEED_REPEATS = 200, 3
CHUNK_ROWS = 250


def sizes(setting: tuple[str, int, str], texts: list[bytes], targets: list[bytes]):
    """(C(x), the joint sizes) of a chunk of rows against every target: run in a worker."""
    name, level, joint = setting
    compressor = Compressor(name, level, joint=joint)
    cx = np.array([compressor.size(x) for x in texts], dtype=np.int64)
    return cx, compressor.pair_size_matrix(texts, targets)


def parse_setting(text: str) -> tuple[str, int, str]:
    """NAME:LEVEL[:JOINT] (concat where no joint is given)."""
    parts = text.split(":")
    if parts[-1] in ("concat", "conditional"):
        return ":".join(parts[:-2]), int(parts[-2]), parts[-1]
    return ":".join(parts[:-1]), int(parts[-1]), "concat"


def ranked(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores, ties by position (the job's order)."""
    positions = np.arange(len(scores))
    return np.lexsort((positions, -scores))[:k]


def pairs_per_second(setting, texts, targets) -> float:
    name, level, joint = setting
    prepared = prepare_targets(targets, name, level, joint)
    best = np.inf
    for _ in range(SPEED_REPEATS):
        start = time.perf_counter()
        score(texts, prepared)
        best = min(best, time.perf_counter() - start)
    return len(texts) * len(targets) / best


def evaluate(setting, pools, targets, small: int, executor) -> list[dict]:
    every_target = [t for d in DOMAINS for t in targets[d]]
    compressor = Compressor(setting[0], setting[1])
    cy = np.array([compressor.size(t) for t in every_target], dtype=np.int64)
    rows = []
    for pool in pools.values():
        chunks = [pool.texts[i : i + CHUNK_ROWS] for i in range(0, len(pool.texts), CHUNK_ROWS)]
        n = len(chunks)
        parts = list(executor.map(sizes, [setting] * n, chunks, [every_target] * n))
        ncd = ncd_matrix(
            np.concatenate([p[0] for p in parts]), cy, np.concatenate([p[1] for p in parts])
        )
        lengths = pool.lengths()
        short = lengths <= np.percentile(lengths, 25)
        column = 0
        for domain in DOMAINS:
            m = len(targets[domain])
            for size in (small, m):
                scores = 1.0 - ncd[:, column : column + size].mean(axis=1)
                row = {"pool": pool.name, "domain": domain, "targets": size}
                for fraction in FRACTIONS:
                    picks = ranked(scores, int(len(scores) * fraction))
                    row[f"precision@{fraction:.0%}"] = float((pool.labels[picks] == domain).mean())
                    if fraction == 0.05:
                        row["shortest_quarter_share"] = float(short[picks].mean())
                rows.append(row)
            column += m
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=6000, help="rows per pool")
    parser.add_argument("--targets", type=int, default=150, help="the larger target set")
    parser.add_argument("--small-targets", type=int, default=20, help="the smaller target set")
    parser.add_argument("--only", nargs="+", metavar="NAME:LEVEL", help="these settings only")
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    parser.add_argument("--json", metavar="FILE", help="also write every figure here")
    parser.add_argument("--from-json", metavar="FILE", help="print the summary of a saved run")
    args = parser.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            print_comparison(json.load(f))
        return
    settings = SETTINGS
    if args.only:
        settings = [PAPER, *[s for s in map(parse_setting, args.only) if s != PAPER]]

    pools, targets = build_pools(args.rows, args.targets)
    natural = pools["natural"]
    print(
        f"pools: {', '.join(POOLS)}, {len(natural.texts):,} rows each "
        f"({len(DOMAINS)} domains x 10% in-domain, distractors: "
        f"{', '.join(sorted(set(natural.kinds.tolist()) - set(DOMAINS)))}); "
        f"targets: {args.small_targets} and {args.targets} per domain\n"
    )
    print(
        "| setting | pool | domain | targets | precision@10% (K = in-domain) | precision@5% "
        "| shortest-quarter share | pairs/s per core |"
    )
    print("|---|---|---|---|---|---|---|---|")
    results = []
    speed_texts = natural.texts[:SPEED_ROWS]
    with ProcessPoolExecutor(args.processes) as executor:
        for setting in settings:
            speed = pairs_per_second(setting, speed_texts, targets["python"])
            for row in evaluate(setting, pools, targets, args.small_targets, executor):
                row.update(setting=":".join(map(str, setting)), pairs_per_second=speed)
                results.append(row)
                print(
                    f"| {row['setting']} | {row['pool']} | {row['domain']} | {row['targets']} "
                    f"| {row['precision@10%']:.3f} | {row['precision@5%']:.3f} "
                    f"| {row['shortest_quarter_share']:.2f} | {speed:,.0f} |",
                    flush=True,
                )
    print_comparison(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def print_comparison(results: list[dict]) -> None:
    """Each setting against the paper's gzip-9 over the 8 (pool, domain, targets) cells:
    mean precision, cells won, worst cell; the length tilt where length is no signal."""
    paper = ":".join(map(str, PAPER))
    cell = lambda r: (r["pool"], r["domain"], r["targets"])  # noqa: E731
    baseline = {cell(r): r for r in results if r["setting"] == paper}
    print(
        "\n| setting | precision@10% (K = in-domain): mean, cells won vs gzip:9, worst cell "
        "| precision@5%: mean, won, worst | shortest-quarter share (matched pool) "
        "| pairs/s per core | vs gzip:9 |"
    )
    print("|---|---|---|---|---|---|")
    for setting in dict.fromkeys(r["setting"] for r in results):
        rows = [r for r in results if r["setting"] == setting]
        columns = []
        for metric in ("precision@10%", "precision@5%"):
            delta = [r[metric] - baseline[cell(r)][metric] for r in rows]
            columns.append(
                f"{np.mean([r[metric] for r in rows]):.3f}, {sum(d > 0 for d in delta)}/"
                f"{len(delta)}, {min(r[metric] for r in rows):.3f}"
            )
        matched = np.mean([r["shortest_quarter_share"] for r in rows if r["pool"] == "matched"])
        speed = rows[0]["pairs_per_second"]
        ratio = speed / baseline[cell(rows[0])]["pairs_per_second"]
        print(
            f"| {setting} | {' | '.join(columns)} | {matched:.2f} | {speed:,.0f} | {ratio:.1f}x |"
        )


if __name__ == "__main__":
    main()
