"""Exact ZIP-FIT, the paper's: every candidate compressed against every target."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from zipfit_ray.kernel.alignment import PreparedTargets, score
from zipfit_ray.modes.base import Mode


class ExactScorer:
    """Alignment of every row, n x m pair compressions."""

    def __init__(self, targets: PreparedTargets) -> None:
        self.targets = targets

    def __call__(self, texts: Sequence[bytes], row_ids: np.ndarray) -> tuple[np.ndarray, Counter]:
        pairs = len(texts) * len(self.targets.texts)
        return score(texts, self.targets), Counter(pair_compressions=pairs)


class Exact(Mode):
    name = "exact"
    exact = True
    rules = ("k", "budget_tokens", "min_score")

    def scorer(self, targets: PreparedTargets, shard: str) -> ExactScorer:
        return ExactScorer(targets)
