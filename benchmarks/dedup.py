"""Near-duplicates in the selection: how --dedup's shingles and threshold were chosen, what
each threshold trades, and what it costs.

On the harness's natural pool (pools.py), 3 near-copies are planted for each of 100
in-domain Python functions: a comment line added, an identifier renamed (every use), and
both. Prints (1) the true Jaccard similarity of copies to their original, and of distinct
in-domain rows to their nearest other row, for word n-grams of n = 3, 5, 7; (2) for K = 10%
of the pool and the default compressor, at each threshold: the planted clusters with two or
more rows in the selection, split by why the rule kept them (some selected pair is at the
threshold or above, and LSH did not call it; or every selected pair is below it, so the
rule says they are not near-duplicates), the planted rows removed, and the false merges:
unplanted rows removed for a row whose 5-grams are not all theirs (true Jaccard below 1,
shown); (3) with --permutation-seeds N, the same counts with N sets of MinHash permutations
(the product's first), as mean and range, since a cluster more or less is luck of the
draw; (4) MinHash signatures per second, this module's numpy batch against datasketch's
MinHash (if installed), on the same rows.

    .venv/bin/python benchmarks/dedup.py [--rows 12000] [--permutation-seeds 8]
"""

from __future__ import annotations

import argparse
import random
import re
import time
from unittest import mock

import numpy as np
from pools import build_pools

from zipfit_ray.kernel.alignment import prepare_targets, score
from zipfit_ray.selection import dedup, order

CLUSTERS = 100
THRESHOLDS = (0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9)
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


def shingle_sets(texts: list[bytes], n: int) -> list[set[int]]:
    grams, starts = dedup.shingles(texts, n)
    bounds = [*starts.tolist(), len(grams)]
    return [set(grams[bounds[i] : bounds[i + 1]].tolist()) for i in range(len(texts))]


def jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b)


def ngram_table(originals, copies, functions, rng) -> None:
    """(1): copies to their original, and distinct functions to their nearest other."""
    print("| n | copy to original: min / 10th pct / median | distinct rows: 99th pct / max |")
    print("|---|---|---|")
    planted = set(originals)
    others = rng.sample([i for i, f in enumerate(functions) if f not in planted], 300)
    texts = originals + [c for g in copies for c in g]
    for n in (3, 5, 7):
        sets = dict(zip(texts, shingle_sets(texts, n)))
        copied = [jaccard(sets[o], sets[c]) for o, g in zip(originals, copies) for c in g]
        pool_sets = shingle_sets(functions, n)
        nearest = [
            max(jaccard(pool_sets[i], s) for j, s in enumerate(pool_sets) if j != i) for i in others
        ]
        print(
            f"| {n} | {min(copied):.2f} / {np.percentile(copied, 10):.2f} / "
            f"{np.median(copied):.2f} | {np.percentile(nearest, 99):.2f} / {max(nearest):.2f} |",
            flush=True,
        )


class Sweep:
    """The rule at each threshold on one scored pool with planted clusters."""

    def __init__(self, texts: list[bytes], scores: np.ndarray, cluster: np.ndarray, k: int):
        self.texts, self.scores, self.cluster, self.k = texts, scores, cluster, k
        self.sets = shingle_sets(texts, dedup.NGRAM)
        self.ranking = order.best_first_order(scores, np.arange(len(texts)))
        self.position = np.empty(len(texts), dtype=np.int64)
        self.position[self.ranking] = np.arange(len(texts))

    def run(self, threshold: float) -> dict:
        """Clusters with 2+ rows selected (and why), rows, planted rows removed, false
        merges and their Jaccard to the row kept."""
        bands = dedup.lsh_bands(threshold)
        entries = order.entries(self.scores, np.arange(len(self.texts)))
        entries = dedup.with_bands(entries, bands.hashes(self.texts), bands)
        dropped = dedup.resolve(dedup.bucket_members(entries, bands, 1))
        removed = set(dropped["row_id"].tolist())
        kept = [int(i) for i in self.ranking if i not in removed][: self.k]
        selected = self.cluster[kept]
        counts = np.bincount(selected[selected >= 0], minlength=CLUSTERS)
        missed = 0
        for c in np.flatnonzero(counts >= 2):
            rows = [i for i in kept if self.cluster[i] == c]
            pairs = [(a, b) for x, a in enumerate(rows) for b in rows[x + 1 :]]
            missed += max(jaccard(self.sets[a], self.sets[b]) for a, b in pairs) >= threshold
        last = self.position[kept[-1]]
        keepers: dict[int, list[int]] = {}
        for record in dropped:
            keepers.setdefault(int(record["row_id"]), []).append(int(record["for_row"]))
        above = [i for i in removed if self.position[i] <= last]
        nearest = {i: max(jaccard(self.sets[i], self.sets[f]) for f in keepers[i]) for i in above}
        merged = [j for i, j in nearest.items() if self.cluster[i] < 0 and j < 1]
        return {
            "bands": bands,
            "clusters": int((counts >= 2).sum()),
            "rows": int(counts[counts >= 2].sum()),
            "missed": missed,
            "planted": sum(self.cluster[i] >= 0 for i in above),
            "merged": sorted(merged),
        }


def sweep_table(sweep: Sweep) -> None:
    """(2): every threshold with the product's permutations."""
    top = sweep.cluster[sweep.ranking[: sweep.k]]
    planted = np.bincount(top[top >= 0], minlength=CLUSTERS)
    print(
        "| threshold | bands x rows | P(call) at it | clusters with 2+ selected (rows) "
        "| of them: a pair >= threshold not called / all pairs below | planted rows removed "
        "| false merges (Jaccard to the row kept) |"
    )
    print("|---|---|---|---|---|---|---|")
    print(f"| off | - | - | {(planted >= 2).sum()} ({planted[planted >= 2].sum()}) | - | - | - |")
    for threshold in THRESHOLDS:
        found = sweep.run(threshold)
        bands, merged = found["bands"], found["merged"]
        shown = ", ".join(f"{j:.2f}" for j in merged)
        print(
            f"| {threshold} | {bands.bands} x {bands.rows} | "
            f"{float(bands.probability(threshold)):.2f} | {found['clusters']} ({found['rows']}) "
            f"| {found['missed']} / {found['clusters'] - found['missed']} | {found['planted']} "
            f"| {len(merged)}{f' ({shown})' if merged else ''} |",
            flush=True,
        )


def permutation_seeds_table(sweep: Sweep, seeds: int) -> None:
    """(3): the same rule with other MinHash permutations (the product's are the first)."""
    draws = [dedup.PERMUTATION_SEED, *range(1, seeds)]
    print(f"\n{seeds} sets of permutations: mean (min-max)")
    print("| threshold | clusters with 2+ selected | false merges |")
    print("|---|---|---|")
    permutations = dedup._permutations
    for threshold in THRESHOLDS:
        clusters, merged = [], []
        for seed in draws:
            with mock.patch.object(dedup, "_permutations", lambda s=seed: permutations(s)):
                found = sweep.run(threshold)
            clusters.append(found["clusters"])
            merged.append(len(found["merged"]))
        cells = [f"{np.mean(v):.1f} ({min(v)}-{max(v)})" for v in (clusters, merged)]
        print(f"| {threshold} | {' | '.join(cells)} |", flush=True)


def signature_speed(texts: list[bytes]) -> None:
    """(4): rows per second, numpy batch against datasketch."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--permutation-seeds", type=int, default=1)
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
    ngram_table(originals, copies, functions, rng)

    prepared = prepare_targets(targets["python"])
    scores = score(texts, prepared)
    k = args.rows // 10
    print(
        f"\nK = {k:,} of {len(texts):,} rows ({prepared.compressor} level {prepared.level}, "
        f"{prepared.joint} joint)"
    )
    sweep = Sweep(texts, scores, cluster, k)
    sweep_table(sweep)
    if args.permutation_seeds > 1:
        permutation_seeds_table(sweep, args.permutation_seeds)
    signature_speed(texts)


if __name__ == "__main__":
    main()
