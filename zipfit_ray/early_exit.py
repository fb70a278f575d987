"""Approximate early exit: stop compressing a candidate once it clearly cannot be selected.

Targets are visited in a fixed random order. After each checkpoint (8, 16, 32, 64, 96 and 128
targets by default) a candidate's mean NCD so far estimates its final mean; with the sample standard
deviation s of its NCDs and m of M targets seen, the final alignment is at most

    1 - (mean_m - z * s / sqrt(m) * sqrt((M - m) / (M - 1)))

(normal approximation, finite-population correction: the targets are a sample drawn without
replacement from all M). A candidate whose bound is below the current threshold (the K-th
best exact score known so far, or --min-score) is dropped. Survivors are compressed against
every target, and their scores are the exact kernel's, bit for bit. What makes it
approximate: a selected row can be dropped when the bound fails, with a probability that
shrinks fast with z; evaluate.py measures it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from zipfit_ray import stats
from zipfit_ray.alignment import PreparedTargets, alignment_from_sizes, ncd_matrix
from zipfit_ray.compressors import Compressor
from zipfit_ray.selection import SelectionRule

DEFAULT_Z = 5.0
DEFAULT_CHECKPOINTS = (8, 16, 32, 64, 96, 128)
BATCH_ROWS = 256  # smaller batches: the threshold rises sooner (measured: 4.4x vs 3.8x)


@dataclass(frozen=True)
class EarlyExit:
    z: float = DEFAULT_Z
    checkpoints: tuple[int, ...] = DEFAULT_CHECKPOINTS
    seed: int = 0  # the target order

    def order(self, num_targets: int) -> np.ndarray:
        return np.random.default_rng(self.seed).permutation(num_targets)


def score_early_exit(
    candidates: Sequence[bytes],
    targets: PreparedTargets,
    threshold: Callable[[], float],
    early: EarlyExit,
) -> tuple[np.ndarray, int]:
    """(scores, pair compressions done): exact alignment for candidates that survive every
    checkpoint, NaN for those dropped. ``threshold()`` is asked after each checkpoint."""
    comp = Compressor(targets.compressor, targets.level)
    n, m = len(candidates), len(targets.texts)
    order = early.order(m)
    cx = np.fromiter((comp.size(x) for x in candidates), np.int64, n)
    cy = targets.sizes
    cxy = np.zeros((n, m), dtype=np.int64)
    active = np.arange(n)
    seen = 0
    pairs = 0
    for stop in [c for c in early.checkpoints if c < m] + [m]:
        columns = order[seen:stop]
        if len(active) and len(columns):
            block = comp.pair_size_matrix(
                [candidates[i] for i in active], [targets.texts[j] for j in columns]
            )
            cxy[np.ix_(active, columns)] = block
            pairs += block.size
        seen = stop
        if stop == m or len(active) == 0:
            break
        known = order[:stop]
        ncd = ncd_matrix(cx[active], cy[known], cxy[np.ix_(active, known)])
        half_width = (
            early.z * ncd.std(axis=1, ddof=1) / np.sqrt(stop) * np.sqrt((m - stop) / (m - 1))
        )
        upper = 1.0 - (ncd.mean(axis=1) - half_width)
        active = active[upper >= threshold()]
    scores = np.full(n, np.nan)
    scores[active] = alignment_from_sizes(cx[active], cy, cxy[active])
    return scores, pairs


class Board(Protocol):
    """The cluster-wide K-th best bound: shards post histograms of their exact scores."""

    def bound(self) -> float: ...

    def post(self, histogram: np.ndarray) -> None: ...


class EarlyExitScorer:
    """Scores batches of one shard with early exit. The threshold is --min-score, or for
    --k the higher of this shard's K-th best exact score so far and the board's bound."""

    def __init__(
        self,
        targets: PreparedTargets,
        rule: SelectionRule,
        early: EarlyExit,
        board: Board | None = None,
    ) -> None:
        if rule.budget_tokens is not None:
            raise ValueError("early exit needs --k or --min-score")
        self.targets, self.rule, self.early, self.board = targets, rule, early, board
        self.best = np.empty(0)  # this shard's exact scores, the best k, ascending
        self.histogram = stats.histogram(np.empty(0))  # all of this shard's exact scores

    def threshold(self) -> float:
        if self.rule.min_score is not None:
            return self.rule.min_score
        local = self.best[-self.rule.k] if len(self.best) >= self.rule.k else -np.inf
        return max(local, self.board.bound()) if self.board else local

    def __call__(self, texts: Sequence[bytes]) -> tuple[np.ndarray, int]:
        scores, pairs = score_early_exit(texts, self.targets, self.threshold, self.early)
        if self.rule.k is not None:
            exact = scores[~np.isnan(scores)]
            self.best = np.sort(np.concatenate([self.best, exact]))[-self.rule.k :]
            self.histogram += stats.histogram(exact)
            if self.board:
                self.board.post(self.histogram)
        return scores, pairs
