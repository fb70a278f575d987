"""Near-duplicates in the selection: how --dedup's shingles and threshold were chosen, and
what it costs.

On the harness's natural pool (pools.py), 3 near-copies are planted for each of 100
in-domain Python functions: a comment line added, an identifier renamed (every use), and
both. Prints (1) the true Jaccard similarity of copies to their original, and of distinct
in-domain rows to their nearest other row, for word n-grams of n = 3, 5, 7; (2) for K = 10%
of the pool and the default compressor, the planted clusters with two or more rows in the
selection and the rows --dedup removes, at each threshold (a removed row that is not a
planted copy is shown with its true Jaccard to the row it was removed for); (3) MinHash
signatures per second, this module's numpy batch against datasketch's MinHash (if
installed), on the same rows.

    .venv/bin/python benchmarks/dedup.py [--rows 12000]
"""

from __future__ import annotations

import argparse
import random
import re
import time

import numpy as np
from pools import build_pools

from zipfit_ray.kernel.alignment import prepare_targets, score
from zipfit_ray.selection import dedup, order

CLUSTERS = 100
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
KEYWORDS = {"def", "return", "self", "if", "else", "for", "in", "not", "None", "and", "or"}


def near_copies(function: bytes, rng: random.Random) -> list[bytes]:
    """A comment line added; an identifier renamed everywhere; both."""
    text = function.decode()
    lines = text.splitlines()
    at = rng.randrange(1, max(2, len(lines)))
    commented = "\n".join([*lines[:at], "    # see the note above", *lines[at:]])
    names = sorted({w for w in re.findall(r"[A-Za-z_]\w+", text) if w not in KEYWORDS})
    name = rng.choice(names) if names else "x"
    renamed = re.sub(rf"\b{name}\b", name + "_value", text)
    both = re.sub(rf"\b{name}\b", name + "_value", commented)
    return [commented.encode(), renamed.encode(), both.encode()]


def jaccard(a: bytes, b: bytes, n: int) -> float:
    sa, sb = (set(dedup.shingles([t], n)[0].tolist()) for t in (a, b))
    return len(sa & sb) / len(sa | sb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pools, targets = build_pools(args.rows, 150)
    pool = pools["natural"]
    functions = [t for t, label in zip(pool.texts, pool.labels) if label == "python"]
    originals = rng.sample(functions, CLUSTERS)
    copies = [near_copies(f, rng) for f in originals]
    texts = list(pool.texts) + [c for group in copies for c in group]
    cluster_of = {t: i for i, t in enumerate(originals)}
    cluster = np.array(
        [cluster_of.get(t, -1) for t in pool.texts] + [i for i in range(CLUSTERS) for _ in "abc"]
    )

    print("| n | copy to original: min / 10th pct / median | distinct rows: 99th pct / max |")
    print("|---|---|---|")
    others = rng.sample([f for f in functions if f not in cluster_of], 300)
    for n in (3, 5, 7):
        copied = [jaccard(o, c, n) for o, group in zip(originals, copies) for c in group]
        nearest = [max(jaccard(a, b, n) for b in functions if b is not a) for a in others]
        print(
            f"| {n} | {min(copied):.2f} / {np.percentile(copied, 10):.2f} / "
            f"{np.median(copied):.2f} | {np.percentile(nearest, 99):.2f} / {max(nearest):.2f} |",
            flush=True,
        )

    prepared = prepare_targets(targets["python"])
    scores = score(texts, prepared)
    k = args.rows // 10
    ranking = order.best_first_order(scores, np.arange(len(texts)))
    top = cluster[ranking[:k]]
    print(
        f"\nK = {k:,} of {len(texts):,} rows ({prepared.compressor} level {prepared.level}, "
        f"{prepared.joint} joint)"
    )
    print(
        "| threshold | bands x rows | clusters with 2+ rows selected (rows) "
        "| removed: planted / other |"
    )
    print("|---|---|---|---|")
    planted = np.bincount(top[top >= 0], minlength=CLUSTERS)
    print(f"| off | - | {(planted >= 2).sum()} ({planted[planted >= 2].sum()}) | - |")
    for threshold in THRESHOLDS:
        bands = dedup.lsh_bands(threshold)
        entries = dedup.with_bands(
            order.entries(scores, np.arange(len(texts))), bands.hashes(texts), bands
        )
        dropped = dedup.resolve(dedup.bucket_members(entries, bands))
        removed = set(dropped["row_id"].tolist())
        kept = [i for i in ranking if i not in removed][:k]
        in_selection = np.bincount(cluster[kept][cluster[kept] >= 0], minlength=CLUSTERS)
        kept_last = kept[-1] if kept else -1
        position = {int(i): p for p, i in enumerate(ranking)}
        removed_above = [i for i in removed if position[i] <= position[kept_last]]
        planted_removed = [i for i in removed_above if cluster[i] >= 0]
        other = [i for i in removed_above if cluster[i] < 0]
        keeper = {int(r["row_id"]): int(r["for_row"]) for r in dropped}
        similar = [jaccard(texts[i], texts[keeper[i]], dedup.NGRAM) for i in other]
        shown = ", ".join(f"{j:.2f}" for j in sorted(similar)[:8])
        print(
            f"| {threshold} | {bands.bands} x {bands.rows} | {(in_selection >= 2).sum()} "
            f"({in_selection[in_selection >= 2].sum()}) | {len(planted_removed)} / "
            f"{len(other)}{f' (Jaccard {shown}...)' if other else ''} |",
            flush=True,
        )

    sample = texts[:4096]
    start = time.perf_counter()
    for first in range(0, len(sample), 1024):  # the batches scoring hands it
        dedup.signatures(sample[first : first + 1024])
    ours = len(sample) / (time.perf_counter() - start)
    mean = np.mean([len(t) for t in sample])
    line = (
        f"\nMinHash, {dedup.PERMUTATIONS} permutations, rows of {mean:,.0f} bytes on average: "
        f"numpy batch {ours:,.0f} rows/s ({1e6 / ours:.0f} µs a row)"
    )
    try:
        from datasketch import MinHash
    except ImportError:
        print(line + "; datasketch not installed")
        return
    start = time.perf_counter()
    for text in sample:
        found = MinHash(num_perm=dedup.PERMUTATIONS)
        found.update_batch(np.unique(dedup.shingles([text])[0]).astype(bytes))
    theirs = len(sample) / (time.perf_counter() - start)
    print(line + f"; datasketch {theirs:,.0f} rows/s ({ours / theirs:.1f}x)")


if __name__ == "__main__":
    main()
