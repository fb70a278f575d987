"""Scored rows as numpy records, in one total order: score descending, then row id ascending.

The order is total, so where a rule cuts it (cut.py) does not depend on shard sizes,
worker counts or the order in which shards finish.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads every input bit over the output (uint64, wraps)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def gumbel(row_ids: np.ndarray, seed: int) -> np.ndarray:
    """Standard Gumbel noise for each row, drawn from (seed, row id) alone: the same in
    every task, run and reselect, whatever the shards."""
    with np.errstate(over="ignore"):
        bits = mix64(np.asarray(row_ids).astype(np.uint64) + mix64(np.uint64(seed)))
    uniform = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53  # in (0, 1)
    return -np.log(-np.log(uniform))


@dataclass(frozen=True)
class SoftKey:
    """--temperature: rows ordered by score / T + Gumbel noise (Gumbel top-k: the k best
    keys are a sample without replacement, row i drawn in proportion to exp(score_i / T))."""

    temperature: float
    seed: int

    def of(self, entries: np.ndarray) -> np.ndarray:
        return entries["score"] / self.temperature + gumbel(entries["row_id"], self.seed)


OrderKey = str | SoftKey  # what rows are ordered by: a saved field ("score", ...) or SoftKey


def key_values(entries: np.ndarray, key: OrderKey) -> np.ndarray:
    return entries[key] if isinstance(key, str) else key.of(entries)


def by_field(rows: np.ndarray, field: str) -> np.ndarray:
    """The rows as ENTRY rows ordered by a saved ``field`` (it as their score): a copy of
    the fields a cut reads only, whatever else the record holds (one per target item)."""
    return entries(rows[field], rows["row_id"], rows["tokens"], rows["length"])


def keyed(entries: np.ndarray, key: OrderKey) -> np.ndarray:
    """Entries ordered by ``key``: a copy with it as the score (ties still by row id)."""
    if key == "score":
        return entries
    out = entries.copy()
    out["score"] = key_values(entries, key)
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


def concatenate(parts: Iterable[np.ndarray], dtype: np.dtype = ENTRY) -> np.ndarray:
    """The parts (of one dtype) as one array; with no parts, an empty one of ``dtype``."""
    parts = list(parts)
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
