"""Score statistics that add up across shards: fixed-bin histograms, and what they give."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Alignment is 1 - mean NCD; NCD lies in [0, ~1.1], so scores lie in about [-0.1, 1].
BIN_EDGES = np.linspace(-0.25, 1.0, 1001)  # 0.00125 wide; outliers land in the end bins
QUANTILES = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
# Text lengths in bytes, in bins that double: [0, 32), [32, 64), ..., [4 MiB, 8 MiB) and up
LENGTH_EDGES = np.array([0, *(2 ** np.arange(5, 24))], dtype=np.int64)


def histogram(scores: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Counts per bin (int64, len(BIN_EDGES) - 1), or the sums of ``weights`` (tokens) per
    bin; summing shards' histograms is exact."""
    clipped = np.clip(scores, BIN_EDGES[0], BIN_EDGES[-1])
    return np.histogram(clipped, bins=BIN_EDGES, weights=weights)[0].astype(np.int64)


def rows_and_tokens(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scored rows (order.ENTRY) per bin of their score, and their tokens per bin: what a
    cut by --k or --budget-tokens starts from."""
    return histogram(entries["score"]), histogram(entries["score"], entries["tokens"])


def length_histogram(lengths: np.ndarray) -> np.ndarray:
    """Rows per LENGTH_EDGES bin (the last bin is open-ended); adds up across shards."""
    bins = np.searchsorted(LENGTH_EDGES, np.asarray(lengths, dtype=np.int64), side="right") - 1
    return np.bincount(bins, minlength=len(LENGTH_EDGES)).astype(np.int64)


def quantiles(scores: np.ndarray) -> dict[str, float]:
    """Exact quantiles of the given scores."""
    if len(scores) == 0:
        return {}
    return {f"q{q:g}": float(np.quantile(scores, q)) for q in QUANTILES}


def histogram_quantiles(counts: Sequence[int]) -> dict[str, float]:
    """Quantiles read off a histogram (to the bin's midpoint): for selections never gathered
    in one place."""
    counts = np.asarray(counts)
    total = counts.sum()
    if total == 0:
        return {}
    middles = (BIN_EDGES[:-1] + BIN_EDGES[1:]) / 2
    cumulative = np.cumsum(counts)
    return {
        f"q{q:g}": float(middles[np.searchsorted(cumulative, max(1, q * total))]) for q in QUANTILES
    }


def kth_best_lower_bound(counts: np.ndarray, k: int) -> float:
    """A score the k-th best row certainly reaches: the lower edge of the highest bin at
    which the histogram holds k rows counting from the top (-inf while it holds fewer)."""
    from_top = np.cumsum(np.asarray(counts)[::-1])
    if len(from_top) == 0 or from_top[-1] < k:
        return -np.inf
    bins_from_top = int(np.searchsorted(from_top, k))
    return float(BIN_EDGES[len(counts) - 1 - bins_from_top])
