"""The report's plots: inline SVG, drawn from the summary's histograms."""

from __future__ import annotations

import numpy as np

from zipfit_ray.job.summary import Histograms, Selected

PLOT_BARS = 60  # the populated score range is redrawn in this many bars
POOL_COLOR, SELECTED_COLOR, THRESHOLD_COLOR = "#9ecae1", "#e6550d", "#222222"


def score_histogram(found: Selected) -> str:
    """Pool and selected score histograms over the populated range, the threshold marked."""
    low, high, bins = found.histograms.bins
    pool = np.asarray(found.histograms.pool)
    selected = np.asarray(found.histograms.selected)
    used = np.flatnonzero(pool + selected)
    if len(used) == 0:
        return "<p>No rows were scored.</p>"
    width_bins = max(1, -(-(used[-1] + 1 - used[0]) // PLOT_BARS))
    first = used[0] - used[0] % width_bins
    edges = np.arange(first, used[-1] + width_bins + 1, width_bins)

    def rebin(counts: np.ndarray) -> np.ndarray:
        return np.add.reduceat(counts, edges[:-1])[: len(edges) - 1]

    pool_bars, selected_bars = rebin(pool), rebin(selected)
    step = (high - low) / bins
    x_low, x_high = low + edges[0] * step, low + edges[-1] * step
    w, h, pad = 900, 300, 40
    scale_y = (h - 2 * pad) / max(1, pool_bars.max(), selected_bars.max())
    bar_w = (w - 2 * pad) / len(pool_bars)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' "
        f"role='img' aria-label='score histogram'>"
    ]
    for bars, color, cls in (
        (pool_bars, POOL_COLOR, "pool"),
        (selected_bars, SELECTED_COLOR, "selected"),
    ):
        for i, count in enumerate(bars):
            if count:
                bh = max(1.0, count * scale_y)
                parts.append(
                    f"<rect class='{cls}' x='{pad + i * bar_w:.1f}' "
                    f"y='{h - pad - bh:.1f}' width='{max(1.0, bar_w - 1):.1f}' "
                    f"height='{bh:.1f}' fill='{color}'><title>{count:,}</title></rect>"
                )
    threshold = found.selected_score_quantiles.get("q0")
    if threshold is not None:
        tx = pad + (threshold - x_low) / (x_high - x_low) * (w - 2 * pad)
        parts.append(
            f"<line x1='{tx:.1f}' x2='{tx:.1f}' y1='{pad / 2}' y2='{h - pad}' "
            f"stroke='{THRESHOLD_COLOR}' stroke-dasharray='4 3'/>"
        )
        parts.append(
            f"<text x='{tx + 4:.1f}' y='{pad / 2 + 10}' font-size='12'>"
            f"threshold {threshold:.4f}</text>"
        )
    parts.append(f"<line x1='{pad}' x2='{w - pad}' y1='{h - pad}' y2='{h - pad}' stroke='#888'/>")
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        x = pad + fraction * (w - 2 * pad)
        parts.append(
            f"<text x='{x:.1f}' y='{h - pad + 16}' font-size='11' "
            f"text-anchor='middle'>{x_low + fraction * (x_high - x_low):.3f}</text>"
        )
    parts.append("</svg>")
    legend = (
        f"<p class='legend'>alignment score, rows per bar:<span style='background:"
        f"{POOL_COLOR}'></span>pool<span style='background:{SELECTED_COLOR}'></span>"
        "selected</p>"
    )
    return "".join(parts) + legend


def in_bytes(n: int) -> str:
    """A bin edge (a power of two) in whole units: 512 B, 2 KiB, 4 MiB."""
    for shift, unit in ((20, "MiB"), (10, "KiB")):
        if n >= 1 << shift:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def length_histogram(histograms: Histograms) -> str:
    """The share of pool and of selected rows per length bin, side by side, so that a
    selection tilted towards short (or long) texts shows at a glance. ZIP-FIT's NCD divides
    by max(C(x), C(y)), so a compressor's fixed overhead favours short texts."""
    edges = histograms.length_edges
    pool = np.asarray(histograms.pool_lengths, dtype=float)
    selected = np.asarray(histograms.selected_lengths, dtype=float)
    used = np.flatnonzero(pool + selected)
    if len(used) == 0 or selected.sum() == 0:
        return "<p>No rows were selected.</p>"
    bins = range(used[0], used[-1] + 1)
    pool_share, selected_share = pool / max(1, pool.sum()), selected / selected.sum()
    w, h, pad = 900, 260, 40
    group_w = (w - 2 * pad) / len(bins)
    scale_y = (h - 2 * pad) / max(pool_share.max(), selected_share.max())
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' "
        "role='img' aria-label='length histogram'>"
    ]
    for slot, b in enumerate(bins):
        x = pad + slot * group_w
        for offset, shares, color, cls in (
            (0.1, pool_share, POOL_COLOR, "pool-length"),
            (0.5, selected_share, SELECTED_COLOR, "selected-length"),
        ):
            bh = shares[b] * scale_y
            if shares[b]:
                parts.append(
                    f"<rect class='{cls}' x='{x + offset * group_w:.1f}' y='{h - pad - bh:.1f}' "
                    f"width='{0.4 * group_w:.1f}' height='{max(1.0, bh):.1f}' fill='{color}'>"
                    f"<title>{shares[b]:.1%}</title></rect>"
                )
        parts.append(
            f"<text x='{x + group_w / 2:.1f}' y='{h - pad + 16}' font-size='11' "
            f"text-anchor='middle'>{in_bytes(edges[b])}</text>"
        )
    parts.append(f"<line x1='{pad}' x2='{w - pad}' y1='{h - pad}' y2='{h - pad}' stroke='#888'/>")
    parts.append("</svg>")
    return "".join(parts) + (
        f"<p class='legend'>share of rows per length in bytes (each bin up to twice its "
        f"start):<span style='background:{POOL_COLOR}'></span>pool"
        f"<span style='background:{SELECTED_COLOR}'></span>selected; median bin: pool "
        f"{median_bin(pool, edges)}, selected {median_bin(selected, edges)}</p>"
    )


def median_bin(counts: np.ndarray, edges: list[int]) -> str:
    b = int(np.searchsorted(np.cumsum(counts), counts.sum() / 2))
    if b + 1 == len(edges):
        return f"{in_bytes(edges[b])} and up"
    return f"{in_bytes(edges[b])} to {in_bytes(edges[b + 1])}"
