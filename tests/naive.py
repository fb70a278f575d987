"""The paper's formula as a plain loop over the reference compressor calls: the yardstick;
and the selection rules written row by row."""

import numpy as np

from zipfit_ray.kernel.backends import reference_joint_size, reference_size


def naive_alignment(
    x: bytes, targets: list[bytes], compressor: str, level: int, joint: str = "concat"
) -> float:
    def c(s: bytes) -> int:
        return reference_size(compressor, s, level)

    total = 0.0
    for y in targets:
        cx, cy = c(x), c(y)
        cxy = reference_joint_size(compressor, x, y, level, joint)
        larger = max(cx, cy)
        total += 0.0 if larger == 0 else (cxy - min(cx, cy)) / larger
    return 1.0 - total / len(targets)


def naive_top_k(scores: list[float], k: int) -> list[int]:
    """Positions of the k best scores, ties broken by position."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


def naive_near_duplicates(texts: list[bytes], threshold: float) -> dict[int, set[int]]:
    """--dedup's rule pair by pair, over texts best first: for each row a better row shares a
    bucket with, the first such row of every band it shares (the rows it is pushed out for)."""
    from zipfit_ray.selection import dedup

    return near_duplicates_of_bands(dedup.lsh_bands(threshold).hashes(texts))


def near_duplicates_of_bands(hashes: np.ndarray) -> dict[int, set[int]]:
    """naive_near_duplicates of rows' band hashes (rows best first x bands)."""
    dropped = {}
    for i in range(len(hashes)):
        shared = hashes[:i] == hashes[i]  # better rows sharing a bucket, band by band
        if shared.any():
            dropped[i] = {
                int(np.flatnonzero(shared[:, b])[0]) for b in np.flatnonzero(shared.any(0))
            }
    return dropped


def best(scores: np.ndarray, n: int, among=None) -> list[int]:
    rows = range(len(scores)) if among is None else among
    return sorted(rows, key=lambda i: (-scores[i], i))[:n]


def union_of_items(items: np.ndarray, n: int, among=None) -> set[int]:
    return {i for j in range(items.shape[1]) for i in best(items[:, j], n, among)}


def covered_rows(items, mean, tokens, rule, share, among) -> set[int]:
    """--cover's rule over the rows ``among``: every item's n best for the largest n whose
    union fits the share, then one more for the items whose next row aligns best (the earlier
    item on a tie) while the union fits; then the best of the rest by the mean, in order,
    while they fit."""
    size = (lambda rows: len(rows)) if "k" in rule else (lambda rows: sum(tokens[i] for i in rows))
    total = rule.get("k") or rule["budget_tokens"]
    budget = int(share * total)
    n = 0
    while n < budget and size(union_of_items(items, n + 1, among)) <= budget:
        n += 1
    covered = union_of_items(items, n, among)
    following = [best(items[:, j], n + 1, among)[-1] for j in range(items.shape[1])]
    for j in sorted(range(items.shape[1]), key=lambda j: (-items[following[j], j], j)):
        if size(covered | {following[j]}) > budget:
            break
        covered |= {following[j]}
    left, rest = total - size(covered), []
    for i in best(mean, len(mean), [i for i in among if i not in covered]):
        if ("k" in rule and len(rest) == left) or ("k" not in rule and tokens[i] > left):
            break
        rest.append(i)
        left -= 0 if "k" in rule else tokens[i]
    return covered | set(rest)
