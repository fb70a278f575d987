"""After the write: how much the top K by one half of the targets overlaps the top K by
the other (analysis/target_set.py), each found by the same distributed cut as the
selection, over the half scores saved beside every row's score. K is the selection's size."""

from __future__ import annotations

from typing import Any

import numpy as np

from zipfit_ray import storage
from zipfit_ray.analysis.target_set import HALF_FIELDS
from zipfit_ray.modes.base import Cluster
from zipfit_ray.selection import cut, histograms
from zipfit_ray.selection.amounts import Amount


def agreement(
    cluster: Cluster, saved: list[str], k: int, options: dict[str, Any]
) -> dict[str, Any] | None:
    """{top_k, jaccard} of the two halves' top k rows, or None where the rows were not
    scored against halves (approximate modes) or nothing was selected."""
    if k == 0 or not saved:
        return None
    found = [h for _, h in cluster.map(_half_histograms, saved, options)]
    if any(h is None for h in found):
        return None
    totals = sum(found)
    rule = Amount(k=k)
    no_tokens = np.zeros_like(totals[0])
    a, b = (
        cluster.cut(rule, totals[i], no_tokens, saved, key=field)
        for i, field in enumerate(HALF_FIELDS)
    )
    both = sum(n for _, n in cluster.map(_in_both, saved, a, b, options))
    return {"top_k": k, "jaccard": both / (2 * k - both)}


def _half_histograms(uri: str, options: dict[str, Any]) -> np.ndarray | None:
    """A shard's histogram of each half score (2 x bins), or None if it has none."""
    entries = storage.read_scores(uri, options)
    if len(entries) and not set(HALF_FIELDS) <= set(entries.dtype.names):
        return None
    if not len(entries):
        return np.stack([histograms.histogram(np.empty(0))] * 2)
    return np.stack([histograms.histogram(entries[field]) for field in HALF_FIELDS])


def _in_both(uri: str, a: cut.Boundary, b: cut.Boundary, options: dict[str, Any]) -> int:
    """A shard's rows in both halves' top k."""
    entries = storage.read_scores(uri, options)
    if not len(entries):
        return 0
    return int((a.selects(entries) & b.selects(entries)).sum())  # each orders by its half
