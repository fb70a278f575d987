"""Exact ZIP-FIT, the paper's: every candidate compressed against every target. Having
every NCD, it also scores each row against two halves of the targets (analysis/target_set.py),
or with named target sets, against each set (selection/mixture.py) in the same pass."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from zipfit_ray.analysis import target_set
from zipfit_ray.kernel.alignment import PreparedTargets, ncd_to_targets, set_alignments
from zipfit_ray.modes.base import Mode, Scored
from zipfit_ray.selection import coverage, mixture

if TYPE_CHECKING:
    from zipfit_ray.config import SelectConfig


def saved_columns(targets: PreparedTargets, per_item: bool = False) -> list[tuple[str, str]]:
    """Each named set's score; with one set, each half's (2 targets or more), the nearest
    target item, and with ``per_item`` each item's own alignment (selection/coverage.py)."""
    if targets.sets:
        return [(mixture.score_field(name), "<f8") for name, _ in targets.sets]
    halves = target_set.HALF_FIELDS if target_set.halves(len(targets.texts)) else ()
    found = [*((name, "<f8") for name in halves), (coverage.NEAREST, "<i4")]
    items = range(len(targets.texts)) if per_item else ()
    return found + [(coverage.item_field(j), "<f8") for j in items]


class ExactScorer:
    """Alignment of every row, n x m pair compressions."""

    def __init__(self, targets: PreparedTargets, per_item: bool = False) -> None:
        self.targets, self.per_item = targets, per_item
        self.halves = None if targets.sets else target_set.halves(len(targets.texts))

    def __call__(self, texts: Sequence[bytes], row_ids: np.ndarray) -> Scored:
        ncd = ncd_to_targets(texts, self.targets)
        counts = Counter(pair_compressions=len(texts) * len(self.targets.texts))
        if self.targets.sets:  # each set's score; the row's best of them as its score
            found = set_alignments(ncd, self.targets)
            columns = {mixture.score_field(name): scores for name, scores in found.items()}
            return Scored(np.max(list(columns.values()), axis=0), counts, columns)
        columns = target_set.half_scores(ncd, self.halves) if self.halves else {}
        columns[coverage.NEAREST] = coverage.nearest(ncd)
        if self.per_item:
            columns.update({coverage.item_field(j): 1.0 - ncd[:, j] for j in range(ncd.shape[1])})
        return Scored(1.0 - ncd.mean(axis=1), counts, columns)


class Exact(Mode):
    name = "exact"
    exact = True
    rules = None  # every rule, a registered one too

    @classmethod
    def saved_columns(cls, config: SelectConfig, targets: PreparedTargets) -> list[tuple[str, str]]:
        return saved_columns(targets, config.selecting.per_item)

    def scorer(self, targets: PreparedTargets, shard: str) -> ExactScorer:
        return ExactScorer(targets, self.config.selecting.per_item)
