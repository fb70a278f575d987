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

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from zipfit_ray import storage
from zipfit_ray.analysis.cost import Interval, mean_interval
from zipfit_ray.errors import ZipfitError
from zipfit_ray.kernel.alignment import PreparedTargets, ncd_matrix, score
from zipfit_ray.kernel.compressors import Compressor
from zipfit_ray.modes.base import Cluster, Handle, Mode, ModeSettings, Scored, SelfCheck
from zipfit_ray.selection import histograms, order
from zipfit_ray.selection.amounts import Amount, Cut, Threshold
from zipfit_ray.selection.cut import Boundary
from zipfit_ray.storage import outputs

DEFAULT_Z = 5.0
DEFAULT_CHECK = 0.01  # share of the dropped rows scored exactly anyway
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
class Bound:
    """The bound's settings: its width in standard errors, and the target order's seed."""

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
        cut: Cut,
        early: Bound,
        board: Board | None = None,
        sizes: Sizes | None = None,
    ) -> None:
        if isinstance(cut, Amount) and cut.k is None:
            raise ValueError("early exit needs --k or --min-score")
        self.k = cut.k if isinstance(cut, Amount) else None
        self.min_score = cut.min_score if isinstance(cut, Threshold) else None
        self.targets, self.early, self.board = targets, early, board
        self.sizes = sizes or Compressor(targets.compressor, targets.level, joint=targets.joint)
        self.best = np.empty(0)  # this shard's exact scores, the best k, ascending
        self.histogram = histograms.histogram(np.empty(0))  # all of this shard's exact scores
        self.spreads = np.zeros(SPREAD_BINS, dtype=np.int64)  # of the rows scored to the end
        self.ncd_sums = np.zeros(len(targets.texts))  # per target, over those rows
        self.finished = 0  # how many rows that is
        self.recorded: set[int] = set()  # their row ids, where given

    def offsets(self) -> np.ndarray:
        """Each target's mean NCD over the rows scored to the end (zeros before any)."""
        return self.ncd_sums / max(self.finished, 1)

    def threshold(self) -> float:
        if self.min_score is not None:
            return self.min_score
        local = self.best[-self.k] if len(self.best) >= self.k else -np.inf
        return max(local, self.board.bound()) if self.board else local

    def floor(self) -> float:
        """FLOOR_QUANTILE of the spreads seen (rounded up to its bin); infinite, so that
        nothing is dropped, until WARMUP_ROWS rows are scored to the end."""
        if self.finished < WARMUP_ROWS:
            return np.inf
        at = np.searchsorted(np.cumsum(self.spreads), FLOOR_QUANTILE * self.finished)
        return (at + 1) * SPREAD_BIN

    def __call__(
        self, candidates: Sequence[bytes], row_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, int]:
        """(scores, pair compressions done): exact alignment for candidates that survive
        every checkpoint, NaN for those dropped. With ``row_ids``, a row scored again (its
        row group read again after a fault) is not counted twice in what sets the bar."""
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
            fresh = self._first_time(row_ids[batch]) if row_ids is not None else slice(None)
            self._record(scores[batch][fresh], ncd[fresh])
        return scores, pairs

    def _first_time(self, row_ids: np.ndarray) -> np.ndarray:
        """Which of these rows were not recorded before (and now are)."""
        fresh = np.array([r not in self.recorded for r in row_ids.tolist()], dtype=bool)
        self.recorded.update(row_ids[fresh].tolist())
        return fresh

    def _record(self, exact: np.ndarray, ncd: np.ndarray) -> None:
        """Exact scores and NCDs of rows just scored to the end: they raise the bar for
        the next rows, within this call too, and tell each target's offset and the floor."""
        self.ncd_sums += ncd.sum(axis=0)
        self.finished += len(ncd)
        spreads = (ncd - self.offsets()).std(axis=1)
        bins = np.minimum((spreads / SPREAD_BIN).astype(np.int64), SPREAD_BINS - 1)
        self.spreads += np.bincount(bins, minlength=SPREAD_BINS)
        if self.k is not None:
            self.best = np.sort(np.concatenate([self.best, exact]))[-self.k :]
            self.histogram += histograms.histogram(exact)
            if self.board:
                self.board.post(self.histogram)


class ThresholdBoard:
    """The cluster-wide lower bound on the K-th best exact score, for --k: the sum of every
    shard's histogram of exact scores (a Ray actor: Cluster.shared). A shard re-posts its
    whole histogram, so a retried task replaces, not adds to, what it posted before it died.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self.finished_total = histograms.histogram(np.empty(0))
        self.in_progress: dict[str, np.ndarray] = {}
        self.finished: set[str] = set()

    def post(self, shard: str, histogram: np.ndarray) -> None:
        if shard not in self.finished:
            self.in_progress[shard] = histogram

    def finish(self, shard: str) -> None:
        if shard not in self.finished:
            self.finished.add(shard)
            self.finished_total += self.in_progress.pop(shard, 0)

    def bound(self) -> float:
        total = self.finished_total + sum(self.in_progress.values())
        return histograms.kth_best_lower_bound(total, self.k)


class _BoardClient:
    """One shard's view of the shared board, as a Board."""

    def __init__(self, board: Handle, shard: str) -> None:
        self.board, self.shard = board, shard

    def bound(self) -> float:
        return self.board.call("bound")

    def post(self, histogram: np.ndarray) -> None:
        self.board.send("post", self.shard, histogram)


class CheckedScorer:
    """A shard's scorer: early exit, plus exact scores of a seeded share of the rows it
    dropped (seeded by their row ids, so a rerun checks the same rows): what tells whether
    dropping held. Kept by row id, so a row group read again after a fault is not counted
    twice."""

    def __init__(self, bounded: EarlyExitScorer, share: float) -> None:
        self.bounded, self.share = bounded, share
        self.checked: dict[int, tuple[float, int]] = {}  # row id -> (exact score, length)

    def __call__(self, texts: Sequence[bytes], row_ids: np.ndarray) -> Scored:
        scores, pairs = self.bounded(texts, row_ids)
        counts = Counter(pair_compressions=pairs)
        dropped = np.flatnonzero(np.isnan(scores))
        if len(dropped):
            draws = np.random.default_rng(row_ids[dropped]).random(len(dropped))
            sample = dropped[draws < self.share]
            if len(sample):
                exact = score([texts[i] for i in sample], self.bounded.targets)
                lengths = (len(texts[i]) for i in sample)
                self.checked.update(zip(row_ids[sample].tolist(), zip(exact.tolist(), lengths)))
                counts.update(
                    rows_checked=len(sample),
                    pair_compressions_check=len(sample) * len(self.bounded.targets.texts),
                )
        return Scored(scores, counts)


@dataclass(frozen=True)
class EarlyExitSettings(ModeSettings):
    early_exit_z: float = DEFAULT_Z  # the bound's width, in standard errors
    early_exit_check: float = DEFAULT_CHECK  # the share of dropped rows scored anyway

    def __post_init__(self) -> None:
        share, z = self.early_exit_check, self.early_exit_z
        if not (isinstance(share, int | float) and 0 <= share <= 1):
            raise ZipfitError(f"--early-exit-check: a share from 0 to 1, got {share!r}")
        if not (isinstance(z, int | float) and z > 0):
            raise ZipfitError(f"--early-exit-z: must be a positive number, got {z!r}")


class EarlyExit(Mode):
    name = "approx-early-exit"
    Settings = EarlyExitSettings
    rules = ("k", "min_score")
    batch_rows = BATCH_ROWS

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.board: Handle | None = None

    def start(self, cluster: Cluster) -> None:
        cut = self._cut()
        if isinstance(cut, Amount):
            self.board = cluster.shared(ThresholdBoard, cut.k)

    def _cut(self) -> Cut:
        """--k or --min-score: what they come to is known before any row is scored."""
        return self.config.selecting.rule.resolved(0, 0)

    def scorer(self, targets: PreparedTargets, shard: str) -> CheckedScorer:
        board = _BoardClient(self.board, shard) if self.board else None
        bound = Bound(self.settings.early_exit_z)
        bounded = EarlyExitScorer(targets, self._cut(), bound, board)
        return CheckedScorer(bounded, self.settings.early_exit_check)

    def finish_shard(self, scorer: CheckedScorer, shard: str) -> None:
        rows = sorted(scorer.checked)
        scores = np.array([scorer.checked[r][0] for r in rows], dtype=np.float64)
        lengths = np.array([scorer.checked[r][1] for r in rows], dtype=np.int64)
        checked = order.entries(scores, np.array(rows, dtype=np.int64), None, lengths)
        uri = outputs.checks_uri(self.config.output.out, shard)
        storage.write_scores(uri, checked, self.config.runtime.storage_options)

    def shard_finished(self, shard: str) -> None:
        if self.board is not None:
            self.board.send("finish", shard)

    def self_check(
        self, cluster: Cluster, shards: list[str], boundary: Boundary, counts: Counter
    ) -> SelfCheck:
        """How many of the dropped rows that were scored anyway the final boundary selects,
        and the number of rows early exit missed that this implies."""
        checks = [outputs.checks_uri(self.config.output.out, shard) for shard in shards]
        options = self.config.runtime.storage_options
        found = cluster.map(_count_selected, checks, boundary, options)
        would_be_selected = sum(n for _, n in found)
        dropped, checked = counts["rows_dropped_early"], counts["rows_checked"]
        missed = would_be_selected * dropped / checked if checked else None
        return SelfCheck(dropped, checked, would_be_selected, missed)

    def estimate(
        self,
        cluster: Cluster,
        chunks: list[list[bytes]],
        targets: PreparedTargets,
        threshold: float,
        pool_rows: int,
    ) -> tuple[Interval, float]:
        """Measured against the predicted threshold, known from the start: a lower bound on
        a real run's compressions, which learns its threshold as shards finish."""
        z = self.settings.early_exit_z
        pairs = cluster.map_in_order(_pairs_below, chunks, targets, threshold, z)
        return mean_interval(np.array([p / len(chunk) for p, chunk in zip(pairs, chunks)])), 0.0


def _count_selected(uri: str, boundary: Boundary, options: dict[str, Any]) -> int:
    return int(boundary.selects(storage.read_scores(uri, options)).sum())


def _pairs_below(texts: list[bytes], targets: PreparedTargets, threshold: float, z: float) -> int:
    """Pair compressions early exit spends on ``texts`` against a fixed threshold."""
    return EarlyExitScorer(targets, Threshold(threshold), Bound(z))(texts)[1]
