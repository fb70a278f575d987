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
shrinks fast with z; evaluate_modes.py measures it.
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
# Rows per call (at most one row group): all are compressed against the first checkpoint's
# targets, then the likeliest go first, SUB_BATCH_ROWS at a time, so the threshold is high
# before most rows are decided (benchmarks/evaluate_modes.py, 20,000 rows, K = 1%: 4.4x fewer
# compressions with calls of 256 rows in pool order, 6.0x with 8,192 best first).
BATCH_ROWS = 8192
SUB_BATCH_ROWS = 256


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
    on_exact: Callable[[np.ndarray], None] = lambda scores: None,
) -> tuple[np.ndarray, int]:
    """(scores, pair compressions done): exact alignment for candidates that survive every
    checkpoint, NaN for those dropped. ``threshold()`` is asked before every drop;
    ``on_exact`` hears every batch of exact scores as soon as it is known, so that the
    threshold can rise within this call."""
    comp = Compressor(targets.compressor, targets.level)
    n, m = len(candidates), len(targets.texts)
    order = early.order(m)
    stops = [c for c in early.checkpoints if c < m] + [m]
    cx = np.fromiter((comp.size(x) for x in candidates), np.int64, n)
    cy = targets.sizes
    cxy = np.zeros((n, m), dtype=np.int64)  # in the targets' own order: exact sums, bit for bit
    pairs = 0

    def compress(rows: np.ndarray, seen: int, stop: int) -> None:
        nonlocal pairs
        columns = order[seen:stop]
        if len(rows) and len(columns):
            block = comp.pair_size_matrix(
                [candidates[i] for i in rows], [targets.texts[j] for j in columns]
            )
            cxy[np.ix_(rows, columns)] = block
            pairs += block.size

    def mean_and_upper_bound(rows: np.ndarray, seen: int) -> tuple[np.ndarray, np.ndarray]:
        known = order[:seen]
        ncd = ncd_matrix(cx[rows], cy[known], cxy[np.ix_(rows, known)])
        half_width = (
            early.z * ncd.std(axis=1, ddof=1) / np.sqrt(seen) * np.sqrt((m - seen) / (m - 1))
        )
        mean = ncd.mean(axis=1)
        return mean, 1.0 - (mean - half_width)

    def survivors(rows: np.ndarray, seen: int) -> np.ndarray:
        if len(rows) == 0:
            return rows
        return rows[mean_and_upper_bound(rows, seen)[1] >= threshold()]

    first = stops[0]
    rows = np.arange(n)
    compress(rows, 0, first)
    if first < m:  # drop what the first targets rule out; the likeliest go on first
        mean, upper = mean_and_upper_bound(rows, first)
        kept = upper >= threshold()
        rows = rows[kept][np.argsort(mean[kept], kind="stable")]
    scores = np.full(n, np.nan)
    for start in range(0, len(rows), SUB_BATCH_ROWS):
        batch, seen = rows[start : start + SUB_BATCH_ROWS], first
        for stop in stops[1:]:
            batch = survivors(batch, seen)  # again: the threshold may have risen
            compress(batch, seen, stop)
            seen = stop
        scores[batch] = alignment_from_sizes(cx[batch], cy, cxy[batch])
        on_exact(scores[batch])
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
        return score_early_exit(texts, self.targets, self.threshold, self.early, self._record)

    def _record(self, exact: np.ndarray) -> None:
        if self.rule.k is not None:
            self.best = np.sort(np.concatenate([self.best, exact]))[-self.rule.k :]
            self.histogram += stats.histogram(exact)
            if self.board:
                self.board.post(self.histogram)
