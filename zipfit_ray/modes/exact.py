"""Exact ZIP-FIT, the paper's: every candidate compressed against every target. Having
every NCD, it also scores each row against two halves of the targets (analysis/target_set.py),
or with named target sets, against each set (selection/mixture.py) in the same pass."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from zipfit_ray.analysis import target_set
from zipfit_ray.kernel.alignment import PreparedTargets, ncd_to_targets, set_alignments
from zipfit_ray.modes.base import Mode, Scored
from zipfit_ray.selection import mixture


def saved_columns(targets: PreparedTargets) -> tuple[str, ...]:
    """Each named set's score; with one set of 2 targets or more, each half's."""
    if targets.sets:
        return tuple(mixture.score_field(name) for name, _ in targets.sets)
    return target_set.HALF_FIELDS if target_set.halves(len(targets.texts)) else ()


class ExactScorer:
    """Alignment of every row, n x m pair compressions."""

    def __init__(self, targets: PreparedTargets) -> None:
        self.targets = targets
        self.halves = None if targets.sets else target_set.halves(len(targets.texts))

    def __call__(self, texts: Sequence[bytes], row_ids: np.ndarray) -> Scored:
        ncd = ncd_to_targets(texts, self.targets)
        counts = Counter(pair_compressions=len(texts) * len(self.targets.texts))
        if self.targets.sets:  # each set's score; the row's best of them as its score
            found = set_alignments(ncd, self.targets)
            columns = {mixture.score_field(name): scores for name, scores in found.items()}
            return Scored(np.max(list(columns.values()), axis=0), counts, columns)
        columns = target_set.half_scores(ncd, self.halves) if self.halves else None
        return Scored(1.0 - ncd.mean(axis=1), counts, columns)


class Exact(Mode):
    name = "exact"
    exact = True
    rules = None  # every rule, a registered one too

    @classmethod
    def saved_columns(cls, targets: PreparedTargets) -> tuple[str, ...]:
        return saved_columns(targets)

    def scorer(self, targets: PreparedTargets, shard: str) -> ExactScorer:
        return ExactScorer(targets)
