"""How well the contamination guard finds target items planted in a pool, and how often it
flags clean rows, at each threshold; and what planted items the default selection takes
with the guard off and on.

On the harness's pools (pools.py: 6,000 rows each, Python functions and SymPy docstrings as
the two target domains, 150 held-out targets each), 40 items of each domain's targets are
planted, 10 of each kind: an exact copy; the whitespace changed (indentation halved, blank
lines dropped, a trailing space per line); the second half of its lines; the whole item
inside another row (a distractor, cut in the middle). Every clean row of both pools is
checked against each domain's targets: a flag there is a false flag (in-domain rows come
from modules the targets do not, so they share conventions, not items). Prints recall per
kind and false flags per domain for each threshold (share of an item's 13-grams a row must
hold; "any" is a single shared 13-gram, GPT-3's and datatrove's rule), then, for K = 10% of
the natural pool with the Python targets and the default compressor, how many planted
items are selected without the guard and with it (dropped rows leave their places to
others).

    .venv/bin/python benchmarks/contamination.py [--rows 6000]
"""

from __future__ import annotations

import argparse
import random

import numpy as np
from pools import DOMAINS, build_pools

from zipfit_ray.kernel.alignment import prepare_targets, score
from zipfit_ray.selection.contamination import ContaminationIndex

KINDS = ("exact copy", "whitespace changed", "second half of its lines", "inside another row")
PER_KIND = 10
THRESHOLDS = ("any", 0.1, 0.15, 0.2, 0.25, 0.3, 0.5)


def plant(item: bytes, kind: str, host: bytes) -> bytes:
    lines = item.decode().splitlines()
    if kind == "exact copy":
        return item
    if kind == "whitespace changed":
        changed = [line.replace("    ", "  ") + " " for line in lines if line.strip()]
        return "\n".join(changed).encode()
    if kind == "second half of its lines":
        return "\n".join(lines[len(lines) // 2 :]).encode()
    middle = len(host) // 2
    return host[:middle] + b"\n" + item + b"\n" + host[middle:]


def best_share(index: ContaminationIndex, text: bytes) -> float:
    """The largest share of any item's n-grams the text holds (0 if none)."""
    found = index.check(text)
    return found.share if found else 0.0


def passes(share: float, threshold) -> bool:
    return share > 0 if threshold == "any" else share >= threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pools, targets = build_pools(args.rows, 150)
    rng = random.Random(args.seed)
    # threshold 0: every share is reported, the thresholds applied here
    indexes = {d: ContaminationIndex({d: targets[d]}, min_share=1e-9) for d in DOMAINS}
    natural = pools["natural"]
    hosts = [t for t, label in zip(natural.texts, natural.labels) if label == "other"]

    print("| kind | domain | " + " | ".join(f"recall at {t}" for t in THRESHOLDS) + " |")
    print("|---|---|" + "---|" * len(THRESHOLDS))
    planted_rows = {}
    for domain in DOMAINS:
        items = rng.sample(targets[domain], PER_KIND * len(KINDS))
        for k, kind in enumerate(KINDS):
            texts = [
                plant(item, kind, rng.choice(hosts))
                for item in items[k * PER_KIND : (k + 1) * PER_KIND]
            ]
            planted_rows[(domain, kind)] = texts
            shares = [best_share(indexes[domain], t) for t in texts]
            cells = [f"{sum(passes(s, t) for s in shares)}/{len(shares)}" for t in THRESHOLDS]
            print(f"| {kind} | {domain} | {' | '.join(cells)} |", flush=True)

    print(
        "\n| clean rows checked against | rows | "
        + " | ".join(f"false flags at {t}" for t in THRESHOLDS)
        + " |"
    )
    print("|---|---|" + "---|" * len(THRESHOLDS))
    for domain in DOMAINS:
        clean = [t for pool in pools.values() for t in pool.texts]
        kinds = [k for pool in pools.values() for k in pool.kinds]
        shares = np.array([best_share(indexes[domain], t) for t in clean])
        cells = []
        for t in THRESHOLDS:
            flagged = [k for k, s in zip(kinds, shares) if passes(s, t)]
            where = ", ".join(f"{k} {flagged.count(k)}" for k in sorted(set(flagged)))
            cells.append(f"{len(flagged)}" + (f" ({where})" if where else ""))
        print(f"| {domain} targets | {len(clean):,} | {' | '.join(cells)} |", flush=True)

    selection_experiment(natural, targets["python"], planted_rows, rng)


def selection_experiment(natural, targets, planted_rows, rng) -> None:
    """K = 10% of the natural pool with the Python targets planted in it: planted items
    selected, without the guard and with it at the default threshold."""
    planted = [
        (kind, t)
        for (domain, kind), texts in planted_rows.items()
        if domain == "python"
        for t in texts
    ]
    texts = list(natural.texts) + [t for _, t in planted]
    kinds = [None] * len(natural.texts) + [kind for kind, _ in planted]
    prepared = prepare_targets(targets)  # the default compressor and joint
    scores = score(texts, prepared)
    k = len(natural.texts) // 10
    ranking = np.lexsort((np.arange(len(texts)), -scores))
    guard = ContaminationIndex({"python": targets})
    dropped = {i for i, t in enumerate(texts) if guard.check(t) is not None}
    guarded = [i for i in ranking if i not in dropped][:k]
    print(
        f"\nK = {k:,} of {len(texts):,} rows ({prepared.compressor} level {prepared.level}, "
        f"{prepared.joint}); the guard drops {len(dropped)} rows"
    )
    print("| planted | selected without the guard (ranks) | selected with it |")
    print("|---|---|---|")
    for kind in KINDS:
        ranks = [r for r, i in enumerate(ranking[:k]) if kinds[i] == kind]
        kept = sum(kinds[i] == kind for i in guarded)
        print(f"| {kind} | {len(ranks)} of {PER_KIND} ({', '.join(map(str, ranks))}) | {kept} |")


if __name__ == "__main__":
    main()
