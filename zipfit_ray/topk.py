"""Scored rows as numpy records, in one total order: score descending, then row id ascending.

The order is total, so keeping the best rows of any split of the pool and merging the
pieces gives the same rows as ranking everything at once: the output cannot depend on
shard sizes, worker counts or the order in which shards finish.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# tokens: the row's token count, for selection by token budget; length: the bytes scored,
# for the report's length distributions
ENTRY = np.dtype([("score", "<f8"), ("row_id", "<i8"), ("tokens", "<i8"), ("length", "<i8")])


def entries(
    scores: np.ndarray,
    row_ids: np.ndarray,
    tokens: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
) -> np.ndarray:
    """Pack parallel arrays into one ENTRY array."""
    out = np.zeros(len(scores), dtype=ENTRY)
    out["score"] = scores
    out["row_id"] = row_ids
    if tokens is not None:
        out["tokens"] = tokens
    if lengths is not None:
        out["length"] = lengths
    return out


def best_first(items: np.ndarray) -> np.ndarray:
    """All items, sorted best first."""
    return items[np.lexsort((items["row_id"], -items["score"]))]


def top_k(items: np.ndarray, k: int) -> np.ndarray:
    """The best k items, sorted best first.

    Linear-time cut at the k-th best score first, so only about k items are sorted.
    """
    if len(items) > k:
        kth_score = np.partition(items["score"], len(items) - k)[len(items) - k]
        above = items[items["score"] > kth_score]
        tied = items[items["score"] == kth_score]
        tied = np.sort(tied, order="row_id")[: k - len(above)]
        items = np.concatenate([above, tied])
    return best_first(items)


def concatenate(parts: Iterable[np.ndarray]) -> np.ndarray:
    parts = list(parts)
    return np.concatenate(parts) if parts else np.empty(0, dtype=ENTRY)


def merge(parts: Iterable[np.ndarray], k: int) -> np.ndarray:
    """Top k of the union of several top-k results."""
    return top_k(concatenate(parts), k)
