"""Bounded top-K of (score, row id) under one total order: score descending, row id ascending.

The order is total, so keeping the top K of any split of the rows and merging the pieces
gives the same K rows as ranking everything at once: the output cannot depend on shard
sizes, worker counts or the order in which shards finish.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

ENTRY = np.dtype([("score", "<f8"), ("row_id", "<i8")])


def entries(scores: np.ndarray, row_ids: np.ndarray) -> np.ndarray:
    """Pack parallel score and row id arrays into one ENTRY array."""
    out = np.empty(len(scores), dtype=ENTRY)
    out["score"] = scores
    out["row_id"] = row_ids
    return out


def top_k(items: np.ndarray, k: int) -> np.ndarray:
    """The best k ENTRY items, sorted best first.

    Linear-time cut at the k-th best score first, so only about k items are sorted.
    """
    if len(items) > k:
        kth_score = np.partition(items["score"], len(items) - k)[len(items) - k]
        above = items[items["score"] > kth_score]
        tied = items[items["score"] == kth_score]
        tied = np.sort(tied, order="row_id")[: k - len(above)]
        items = np.concatenate([above, tied])
    order = np.lexsort((items["row_id"], -items["score"]))
    return items[order]


def merge(parts: Iterable[np.ndarray], k: int) -> np.ndarray:
    """Top k of the union of several top-k results."""
    parts = list(parts)
    if not parts:
        return np.empty(0, dtype=ENTRY)
    return top_k(np.concatenate(parts), k)
