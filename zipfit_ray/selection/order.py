"""Scored rows as numpy records, in one total order: score descending, then row id ascending.

The order is total, so where a rule cuts it (cut.py) does not depend on shard sizes,
worker counts or the order in which shards finish.
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


def concatenate(parts: Iterable[np.ndarray]) -> np.ndarray:
    parts = list(parts)
    return np.concatenate(parts) if parts else np.empty(0, dtype=ENTRY)
