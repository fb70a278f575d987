"""After the write: how much the top K by one half of the targets overlaps the top K by
the other (analysis/target_set.py), each found by the same distributed cut as the
selection, over the half scores saved beside every row's score. K is the selection's size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zipfit_ray import storage
from zipfit_ray.analysis.target_set import HALF_FIELDS
from zipfit_ray.modes.base import Cluster
from zipfit_ray.selection import cut, histograms
from zipfit_ray.selection.amounts import Amount


@dataclass(frozen=True)
class Agreement:
    """How alike the two halves' top ``top_k`` rows are: their Jaccard."""

    top_k: int
    jaccard: float


def agreement(
    cluster: Cluster, saved: list[str], k: int, record: np.dtype, options: dict[str, Any]
) -> Agreement | None:
    """The two halves' top k rows' agreement, or None where the rows were not scored
    against halves (the saved ``record`` has no half scores) or nothing was selected."""
    if k == 0 or not saved or not set(HALF_FIELDS) <= set(record.names):
        return None
    totals = sum(h for _, h in cluster.map(_half_histograms, saved, options))
    rule = Amount(k=k)
    no_tokens = np.zeros_like(totals[0])
    a, b = (
        cluster.cut(rule, totals[i], no_tokens, saved, key=field)
        for i, field in enumerate(HALF_FIELDS)
    )
    both = sum(n for _, n in cluster.map(_in_both, saved, a, b, options))
    return Agreement(k, both / (2 * k - both))


def _half_histograms(uri: str, options: dict[str, Any]) -> np.ndarray:
    """A shard's histogram of each half score (2 x bins)."""
    entries = storage.read_scores(uri, options)
    return np.stack([histograms.histogram(entries[field]) for field in HALF_FIELDS])


def _in_both(uri: str, a: cut.Boundary, b: cut.Boundary, options: dict[str, Any]) -> int:
    """A shard's rows in both halves' top k."""
    entries = storage.read_scores(uri, options)
    return int((a.selects(entries) & b.selects(entries)).sum())  # each orders by its half
