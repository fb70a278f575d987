"""Approximate early exit: stop compressing a candidate once it clearly cannot be selected.

Targets are visited in a fixed random order, so the targets a candidate has seen are a
sample drawn without replacement from all M. At each checkpoint (after 8 targets, then after
every 1/8 more, until half are seen) its final alignment is bounded from its m NCDs so far:

    1 - (mean_m(r) + mean(b) - z * max(s_m(r), floor) / sqrt(m) * sqrt((M - m) / (M - 1)))

b_j is target j's mean NCD over the rows already scored to the end, r = NCD - b its
residual, s_m(r) the residuals' sample standard deviation, and floor the 95th percentile
of the residual spread (over all targets) of those finished rows. A candidate whose bound is
below the current threshold (the K-th best exact score known so far, or --min-score) is
dropped; the rest are compressed against every target, and their scores are the exact
kernel's, bit for bit.

Why each part (benchmarks/early_exit.py measured them over a grid of pools, targets,
compressors, K and target orders):
- b_j: targets differ (some are near everything), and which ones come first moves every
  candidate's early mean alike; the residuals do not move with it, so they can be bounded
  tighter (gzip-9, K = 1%, 6,000 rows: 9.5x fewer compressions instead of 6.0x).
- floor: a candidate that shares much with a few targets has skewed NCDs, and its first 8
  often miss those few, so s_8 alone can be a third of the true spread: a bound on it
  dropped true top-K rows, on 20 targets as on 150. The finished rows show what spreads
  rows worth finishing have; a high percentile, because they are mostly the best rows and
  borderline rows (often of another kind) spread more: with the 10th, 50th or 90th
  percentile some true top-K rows were still dropped. Nothing is dropped before
  WARMUP_ROWS rows are finished, so b and floor rest on a sample.
- no drop past half the targets: a bound on the mean of a few unseen targets is a bound on
  single values, which a normal approximation does not give.
What makes it approximate: a selected row is dropped when the bound fails anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from zipfit_ray.kernel.alignment import PreparedTargets, ncd_matrix
from zipfit_ray.kernel.compressors import Compressor
from zipfit_ray.selection import histograms
from zipfit_ray.selection.rules import SelectionRule

DEFAULT_Z = 5.0
FIRST_CHECKPOINT = 8  # targets every candidate is compressed against
CHECKPOINT_GROWTH = 8  # then a checkpoint after every 1/8 more targets
LAST_CHECKPOINT = 0.5  # share of the targets: no drop once fewer are left unseen
FLOOR_QUANTILE = 0.95  # of the spreads of the rows scored to the end
WARMUP_ROWS = 32  # rows scored to the end before any is dropped
SPREAD_BIN, SPREAD_BINS = 0.0005, 4000  # a fixed histogram of those spreads
# Rows per call (at most one row group): all are compressed against the first checkpoint's
# targets, then the likeliest go first, SUB_BATCH_ROWS at a time, so the threshold is high
# before most rows are decided (20,000 rows, K = 1%: 4.4x fewer compressions with calls of
# 256 rows in pool order, 6.0x with 8,192 best first).
BATCH_ROWS = 8192
SUB_BATCH_ROWS = 256


class Sizes(Protocol):
    """What early exit asks of a compressor (``Compressor`` is one)."""

    def size(self, text: bytes) -> int: ...

    def pair_size_matrix(self, xs: Sequence[bytes], ys: Sequence[bytes]) -> np.ndarray: ...


@dataclass(frozen=True)
class EarlyExit:
    z: float = DEFAULT_Z
    seed: int = 0  # the target order

    def order(self, num_targets: int) -> np.ndarray:
        return np.random.default_rng(self.seed).permutation(num_targets)


def checkpoints(num_targets: int) -> list[int]:
    """How many targets are seen at each checkpoint; the last is all of them."""
    stops = [FIRST_CHECKPOINT]
    while stops[-1] < num_targets:
        stops.append(stops[-1] + max(1, stops[-1] // CHECKPOINT_GROWTH))
    return [stop for stop in stops if stop <= LAST_CHECKPOINT * num_targets] + [num_targets]


class Board(Protocol):
    """The cluster-wide K-th best bound: shards post histograms of their exact scores."""

    def bound(self) -> float: ...

    def post(self, histogram: np.ndarray) -> None: ...


class EarlyExitScorer:
    """Scores batches of one shard with early exit. The threshold is --min-score, or for
    --k the higher of this shard's K-th best exact score so far and the board's bound; the
    spread floor comes from every row this scorer has scored to the end.

    ``sizes`` defaults to the targets' compressor; a benchmark replays recorded sizes
    through it, to run many settings on one matrix."""

    def __init__(
        self,
        targets: PreparedTargets,
        rule: SelectionRule,
        early: EarlyExit,
        board: Board | None = None,
        sizes: Sizes | None = None,
    ) -> None:
        if rule.budget_tokens is not None:
            raise ValueError("early exit needs --k or --min-score")
        self.targets, self.rule, self.early, self.board = targets, rule, early, board
        self.sizes = sizes or Compressor(targets.compressor, targets.level)
        self.best = np.empty(0)  # this shard's exact scores, the best k, ascending
        self.histogram = histograms.histogram(np.empty(0))  # all of this shard's exact scores
        self.spreads = np.zeros(SPREAD_BINS, dtype=np.int64)  # of the rows scored to the end
        self.ncd_sums = np.zeros(len(targets.texts))  # per target, over those rows
        self.finished = 0  # how many rows that is

    def offsets(self) -> np.ndarray:
        """Each target's mean NCD over the rows scored to the end (zeros before any)."""
        return self.ncd_sums / max(self.finished, 1)

    def threshold(self) -> float:
        if self.rule.min_score is not None:
            return self.rule.min_score
        local = self.best[-self.rule.k] if len(self.best) >= self.rule.k else -np.inf
        return max(local, self.board.bound()) if self.board else local

    def floor(self) -> float:
        """FLOOR_QUANTILE of the spreads seen (rounded up to its bin); infinite, so that
        nothing is dropped, until WARMUP_ROWS rows are scored to the end."""
        if self.finished < WARMUP_ROWS:
            return np.inf
        at = np.searchsorted(np.cumsum(self.spreads), FLOOR_QUANTILE * self.finished)
        return (at + 1) * SPREAD_BIN

    def __call__(self, candidates: Sequence[bytes]) -> tuple[np.ndarray, int]:
        """(scores, pair compressions done): exact alignment for candidates that survive
        every checkpoint, NaN for those dropped."""
        n, m = len(candidates), len(self.targets.texts)
        order = self.early.order(m)
        stops = checkpoints(m)
        cx = np.fromiter((self.sizes.size(x) for x in candidates), np.int64, n)
        cy = self.targets.sizes
        cxy = np.zeros((n, m), dtype=np.int64)  # in the targets' own order: exact sums
        pairs = 0

        def compress(rows: np.ndarray, seen: int, stop: int) -> None:
            nonlocal pairs
            columns = order[seen:stop]
            if len(rows) and len(columns):
                block = self.sizes.pair_size_matrix(
                    [candidates[i] for i in rows], [self.targets.texts[j] for j in columns]
                )
                cxy[np.ix_(rows, columns)] = block
                pairs += block.size

        def mean_and_upper_bound(rows: np.ndarray, seen: int) -> tuple[np.ndarray, np.ndarray]:
            known = order[:seen]
            offsets = self.offsets()
            ncd = ncd_matrix(cx[rows], cy[known], cxy[np.ix_(rows, known)]) - offsets[known]
            spread = np.maximum(ncd.std(axis=1, ddof=1), self.floor())
            half_width = self.early.z * spread / np.sqrt(seen) * np.sqrt((m - seen) / (m - 1))
            mean = ncd.mean(axis=1) + offsets.mean()
            return mean, 1.0 - (mean - half_width)

        def survivors(rows: np.ndarray, seen: int) -> np.ndarray:
            if len(rows) == 0:
                return rows
            return rows[mean_and_upper_bound(rows, seen)[1] >= self.threshold()]

        first = stops[0]
        rows = np.arange(n)
        compress(rows, 0, first)
        if first < m:  # drop what the first targets rule out; the likeliest go on first
            mean, upper = mean_and_upper_bound(rows, first)
            kept = upper >= self.threshold()
            rows = rows[kept][np.argsort(mean[kept], kind="stable")]
        scores = np.full(n, np.nan)
        start = 0
        while start < len(rows):  # the warm-up rows first, alone, so the floor comes soon
            size = SUB_BATCH_ROWS if self.finished >= WARMUP_ROWS else WARMUP_ROWS
            batch, seen = rows[start : start + min(size, SUB_BATCH_ROWS)], first
            start += len(batch)
            for stop in stops[1:]:
                batch = survivors(batch, seen)  # again: the threshold may have risen
                compress(batch, seen, stop)
                seen = stop
            ncd = ncd_matrix(cx[batch], cy, cxy[batch])
            scores[batch] = 1.0 - ncd.mean(axis=1)
            self._record(scores[batch], ncd)
        return scores, pairs

    def _record(self, exact: np.ndarray, ncd: np.ndarray) -> None:
        """Exact scores and NCDs of rows just scored to the end: they raise the bar for
        the next rows, within this call too, and tell each target's offset and the floor."""
        self.ncd_sums += ncd.sum(axis=0)
        self.finished += len(ncd)
        spreads = (ncd - self.offsets()).std(axis=1)
        bins = np.minimum((spreads / SPREAD_BIN).astype(np.int64), SPREAD_BINS - 1)
        self.spreads += np.bincount(bins, minlength=SPREAD_BINS)
        if self.rule.k is not None:
            self.best = np.sort(np.concatenate([self.best, exact]))[-self.rule.k :]
            self.histogram += histograms.histogram(exact)
            if self.board:
                self.board.post(self.histogram)
