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


def with_fields(entries: np.ndarray, fields: dict[str, np.ndarray]) -> np.ndarray:
    """Entries with more per-row fields after their own (saved and read back with them)."""
    if not fields:
        return entries
    dtype = np.dtype([*entries.dtype.descr, *((name, v.dtype) for name, v in fields.items())])
    out = np.empty(len(entries), dtype=dtype)
    for name in entries.dtype.names:
        out[name] = entries[name]
    for name, values in fields.items():
        out[name] = values
    return out


def keyed(entries: np.ndarray, key: str) -> np.ndarray:
    """Entries ordered by another of their fields: a copy with ``key`` as the score."""
    if key == "score":
        return entries
    out = entries.copy()
    out["score"] = entries[key]
    return out


def best_first_order(scores: np.ndarray, row_ids: np.ndarray) -> np.ndarray:
    """The indices that put rows best first: score descending, then row id ascending."""
    return np.lexsort((np.asarray(row_ids), -np.asarray(scores)))


def best_first(items: np.ndarray) -> np.ndarray:
    """All items, sorted best first."""
    return items[best_first_order(items["score"], items["row_id"])]


def best_first_examples(examples: list[dict]) -> list[dict]:
    """Example rows (dicts with a score and a row_id), sorted best first."""
    scores = np.array([e["score"] for e in examples], dtype=np.float64)
    row_ids = np.array([e["row_id"] for e in examples], dtype=np.int64)
    return [examples[i] for i in best_first_order(scores, row_ids)]


def concatenate(parts: Iterable[np.ndarray]) -> np.ndarray:
    parts = list(parts)
    return np.concatenate(parts) if parts else np.empty(0, dtype=ENTRY)
