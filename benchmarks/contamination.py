"""How well the contamination guard finds target items planted in a pool, how often it flags
clean rows, what its floor on short rows costs, how fast it checks; and what planted items
the default selection takes with the guard off and on.

On the harness's pools (pools.py: 6,000 rows each, Python functions and SymPy docstrings as
the two target domains, 150 held-out targets each), 10 items of each domain's targets are
planted for each kind: an exact copy; the whitespace changed (indentation halved, blank
lines dropped, a trailing space per line); the second half of its lines; the whole item
inside another row (a distractor, cut in the middle); and a short fragment, the second half
of an item whose second half is 100 to 200 bytes. Every clean row of both pools is checked
against each domain's targets: a flag there is a false flag (in-domain rows come from
modules the targets do not, so they share conventions, not items).

Prints, per kind and domain, what each rule finds alone and what the guard (either rule)
finds; the false flags per domain; then the floor of the share-of-row rule: short rows (the
last 1 to 4 lines of every target and of every clean row, at least 8 words) caught and
flagged at each floor; the guard's rows per second on the natural pool against both
domains' targets; and, for K = 10% of the natural pool with the Python targets and the
default compressor, how many planted items are selected without the guard and with it
(dropped rows leave their places to others).

    .venv/bin/python benchmarks/contamination.py [--rows 6000]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
from pools import DOMAINS, build_pools

from zipfit_ray.kernel.alignment import prepare_targets, score
from zipfit_ray.selection.contamination import ROW_NGRAM, ContaminationIndex, word_ids

KINDS = (
    "exact copy",
    "whitespace changed",
    "second half of its lines",
    "inside another row",
    "short fragment",
)
PER_KIND = 10
SHORT_HALF = (100, 200)  # bytes of a short fragment
FLOORS = (1, 2, 3, 4, 6)  # distinct 8-grams a row needs for the share-of-row rule
TAIL_LINES = (1, 2, 3, 4)


def second_half(item: bytes) -> bytes:
    lines = item.decode().splitlines()
    return "\n".join(lines[len(lines) // 2 :]).encode()


def plant(item: bytes, kind: str, host: bytes) -> bytes:
    if kind == "exact copy":
        return item
    if kind == "whitespace changed":
        lines = item.decode().splitlines()
        changed = [line.replace("    ", "  ") + " " for line in lines if line.strip()]
        return "\n".join(changed).encode()
    if kind in ("second half of its lines", "short fragment"):
        return second_half(item)
    middle = len(host) // 2
    return host[:middle] + b"\n" + item + b"\n" + host[middle:]


def planted_items(targets: list[bytes], hosts: list[bytes], rng: random.Random) -> dict:
    """kind -> PER_KIND planted rows (fewer short fragments if fewer items are short)."""
    items = rng.sample(targets, PER_KIND * (len(KINDS) - 1))
    short = [t for t in targets if SHORT_HALF[0] <= len(second_half(t)) <= SHORT_HALF[1]]
    items += rng.sample(short, min(PER_KIND, len(short)))
    return {
        kind: [
            plant(item, kind, rng.choice(hosts))
            for item in items[k * PER_KIND : (k + 1) * PER_KIND]
        ]
        for k, kind in enumerate(KINDS)
    }


def rules(targets: list[bytes]) -> dict[str, ContaminationIndex]:
    """Each rule alone (the other one set where it can never pass), and the guard."""
    return {
        "share of item": ContaminationIndex({"t": targets}, min_row_share=1.0),
        "share of row": ContaminationIndex({"t": targets}, min_share=2.0),
        "the guard": ContaminationIndex({"t": targets}),
    }


def flagged(index: ContaminationIndex, texts: list[bytes]) -> np.ndarray:
    return np.array([index.check(t) is not None for t in texts], dtype=bool)


def tails(texts: list[bytes]) -> list[bytes]:
    """The last 1 to 4 lines of every text, each once, if at least ROW_NGRAM words."""
    found = set()
    for text in texts:
        lines = text.decode("utf-8", errors="replace").splitlines()
        for n in TAIL_LINES:
            if n < len(lines):
                found.add("\n".join(lines[-n:]).encode())
    return sorted(t for t in found if len(word_ids(t)) >= ROW_NGRAM)


def recall_and_false_flags(pools, targets, planted) -> None:
    """What each rule and the guard find among the planted rows and the clean rows."""
    clean = [t for pool in pools.values() for t in pool.texts]
    kinds = np.array([k for pool in pools.values() for k in pool.kinds])
    print("| kind | domain | share of item alone | share of row alone | the guard |")
    print("|---|---|---|---|---|")
    false_flags = {}
    for domain in DOMAINS:
        indexes = rules(targets[domain])
        for kind, texts in planted[domain].items():
            cells = [f"{flagged(i, texts).sum()}/{len(texts)}" for i in indexes.values()]
            print(f"| {kind} | {domain} | {' | '.join(cells)} |", flush=True)
        false_flags[domain] = {name: flagged(i, clean) for name, i in indexes.items()}
    print(f"\n| clean rows checked against | rows | {' | '.join(false_flags['python'])} |")
    print("|---|---|---|---|---|")
    for domain, by_rule in false_flags.items():
        cells = []
        for found in by_rule.values():
            counted = zip(*np.unique(kinds[found], return_counts=True))
            where = ", ".join(f"{k} {n}" for k, n in counted)
            cells.append(f"{found.sum()} ({found.mean():.2%}{'; ' + where if where else ''})")
        print(f"| {domain} targets | {len(clean):,} | {' | '.join(cells)} |", flush=True)


def floor_table(pools, targets) -> None:
    """Short rows caught (the targets' own tails) and flagged (clean rows' tails) at each
    floor of the share-of-row rule."""
    clean = tails([t for pool in pools.values() for t in pool.texts])
    print(
        "\n| domain | short rows | "
        + " | ".join(f"floor {f} ({ROW_NGRAM + f - 1}+ words)" for f in FLOORS)
        + " |"
    )
    print("|---|---|" + "---|" * len(FLOORS))
    for domain in DOMAINS:
        own = tails(targets[domain])
        caught, false = [], []
        for floor in FLOORS:
            index = ContaminationIndex({domain: targets[domain]}, min_row_grams=floor)
            caught.append(f"{flagged(index, own).mean():.1%}")
            found = flagged(index, clean)
            false.append(f"{found.sum()} ({found.mean():.3%})")
        print(f"| {domain} | {len(own):,} of the targets': caught | {' | '.join(caught)} |")
        print(f"| {domain} | {len(clean):,} clean: flagged | {' | '.join(false)} |", flush=True)


def guard_speed(texts: list[bytes], targets: dict[str, list[bytes]]) -> None:
    """Rows checked per second (best of 3 passes) against both domains' targets."""
    index = ContaminationIndex(targets)
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for text in texts:
            index.check(text)
        best = max(best, len(texts) / (time.perf_counter() - start))
    mean = np.mean([len(t) for t in texts])
    print(
        f"\nguard: {best:,.0f} rows/s ({1e6 / best:.0f} µs a row), {len(texts):,} rows of "
        f"{mean:,.0f} bytes on average, {len(index.items)} items indexed"
    )


def selection_experiment(natural, targets, planted) -> None:
    """K = 10% of the natural pool with the Python items planted in it: planted items
    selected, without the guard and with it."""
    texts = list(natural.texts) + [t for kind in KINDS for t in planted[kind]]
    kinds = [None] * len(natural.texts) + [kind for kind in KINDS for _ in planted[kind]]
    prepared = prepare_targets(targets)  # the default compressor and joint
    scores = score(texts, prepared)
    k = len(natural.texts) // 10
    ranking = np.lexsort((np.arange(len(texts)), -scores))
    dropped = set(np.flatnonzero(flagged(ContaminationIndex({"python": targets}), texts)))
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
        print(
            f"| {kind} | {len(ranks)} of {len(planted[kind])} "
            f"({', '.join(map(str, ranks))}) | {kept} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pools, targets = build_pools(args.rows, 150)
    rng = random.Random(args.seed)
    natural = pools["natural"]
    hosts = [t for t, label in zip(natural.texts, natural.labels) if label == "other"]
    planted = {d: planted_items(targets[d], hosts, rng) for d in DOMAINS}
    recall_and_false_flags(pools, targets, planted)
    floor_table(pools, targets)
    guard_speed(natural.texts, targets)
    selection_experiment(natural, targets["python"], planted["python"])


if __name__ == "__main__":
    main()
