"""report.html: one self-contained page (inline SVG, no scripts, no network) to look at a
selection before spending GPU hours on it."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any

import numpy as np

from zipfit_ray import modes, storage
from zipfit_ray.selection.contamination import NGRAM, ROW_NGRAM
from zipfit_ray.selection.histograms import LENGTH_EDGES
from zipfit_ray.storage.outputs import REPORT

PLOT_BARS = 60  # the populated score range is redrawn in this many bars
POOL_COLOR, SELECTED_COLOR, THRESHOLD_COLOR = "#9ecae1", "#e6550d", "#222222"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
td, th { border-bottom: 1px solid #ddd; padding: 0.25rem 0.75rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.5rem; white-space: pre-wrap; max-height: 14rem;
      overflow: auto; font-size: 0.8rem; }
.legend span { display: inline-block; width: 0.8rem; height: 0.8rem; margin: 0 0.3rem 0 1rem; }
"""


def write_report(out: str, summary: dict[str, Any], options: dict[str, Any]) -> None:
    score_column = summary["score_column"]
    examples = summary["examples"]
    mode = "" if modes.get(summary["mode"]).exact else f" ({summary['mode']})"
    sections = [
        f"<h1>ZIP-FIT selection: {html.escape(summary['rule'])}{mode}</h1>",
        _overview(summary),
        "<h2>Scores: pool and selection</h2>",
        _histogram_svg(summary),
        "<h2>Text lengths: pool and selection</h2>",
        _lengths_svg(summary),
        _sections(summary),
        _contamination(summary),
        _near_duplicates(summary),
        _target_set(summary),
        "<h2>Best selected rows</h2>",
        _rows(examples["best"], score_column),
        "<h2>Borderline: the last rows selected</h2>",
        _rows(examples["last"], score_column),
    ]
    sections.append(
        "<h2>Run</h2><details><summary>summary.json</summary><pre>"
        + html.escape(
            json.dumps(
                {k: v for k, v in summary.items() if k not in ("histograms", "examples")},
                indent=2,
                sort_keys=True,
            )
        )
        + "</pre></details>"
    )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>ZIP-FIT selection</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
    storage.write_atomic(storage.join(out, REPORT), page.encode(), options)


def _overview(summary: dict[str, Any]) -> str:
    arguments = summary["arguments"]
    quantiles = summary["selected_score_quantiles"]
    rows = [
        ("pool rows read", f"{summary['rows_read']:,}"),
        ("rows selected", f"{summary['rows_selected']:,}"),
        ("tokens selected", f"{summary['tokens_selected']:,}"),
        ("lowest selected score", f"{quantiles['q0']:.6f}" if quantiles else "-"),
        ("highest selected score", f"{quantiles['q1']:.6f}" if quantiles else "-"),
        (
            "compressor",
            f"{arguments['compressor']} level {arguments['level']}, {arguments['joint']} joint",
        ),
        ("targets", html.escape(str(arguments["targets"]))),
        (
            "skipped (null, bad file, bad line)",
            f"{summary['rows_skipped_null']:,}, {summary['rows_skipped_bad_file']:,}, "
            f"{summary.get('rows_skipped_bad_line', 0):,}",
        ),
    ]
    check = summary.get("early_exit_check")
    if check:
        rows.append(
            (
                "early exit check",
                f"{check['checked_rows_that_would_be_selected']:,} of {check['rows_checked']:,} "
                f"dropped rows scored anyway would have been selected "
                f"({check['rows_dropped']:,} dropped)",
            )
        )
    return (
        "<table>"
        + "".join(f"<tr><th>{name}</th><td class='n'>{value}</td></tr>" for name, value in rows)
        + "</table>"
    )


def _histogram_svg(summary: dict[str, Any]) -> str:
    """Pool and selected score histograms over the populated range, the threshold marked."""
    low, high, bins = summary["histograms"]["bins"]
    pool = np.asarray(summary["histograms"]["pool"])
    selected = np.asarray(summary["histograms"]["selected"])
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
    threshold = summary["selected_score_quantiles"].get("q0")
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


def _bytes(n: int) -> str:
    """A bin edge (a power of two) in whole units: 512 B, 2 KiB, 4 MiB."""
    for shift, unit in ((20, "MiB"), (10, "KiB")):
        if n >= 1 << shift:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def _lengths_svg(summary: dict[str, Any]) -> str:
    """The share of pool and of selected rows per length bin, side by side, so that a
    selection tilted towards short (or long) texts shows at a glance. ZIP-FIT's NCD divides
    by max(C(x), C(y)), so a compressor's fixed overhead favours short texts."""
    histograms = summary["histograms"]
    edges = histograms["length_edges"]
    pool = np.asarray(histograms["pool_lengths"], dtype=float)
    selected = np.asarray(histograms["selected_lengths"], dtype=float)
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
            f"text-anchor='middle'>{_bytes(edges[b])}</text>"
        )
    parts.append(f"<line x1='{pad}' x2='{w - pad}' y1='{h - pad}' y2='{h - pad}' stroke='#888'/>")
    parts.append("</svg>")
    return "".join(parts) + (
        f"<p class='legend'>share of rows per length in bytes (each bin up to twice its "
        f"start):<span style='background:{POOL_COLOR}'></span>pool"
        f"<span style='background:{SELECTED_COLOR}'></span>selected; median bin: pool "
        f"{_median_bin(pool, edges)}, selected {_median_bin(selected, edges)}</p>"
    )


def _median_bin(counts: np.ndarray, edges: list[int]) -> str:
    b = int(np.searchsorted(np.cumsum(counts), counts.sum() / 2))
    if b + 1 == len(edges):
        return f"{_bytes(edges[b])} and up"
    return f"{_bytes(edges[b])} to {_bytes(edges[b + 1])}"


def _contamination(summary: dict[str, Any]) -> str:
    """What the contamination guard flagged: per set, and the first rows with the item
    each holds (all of them are in contaminated/)."""
    guard = summary["arguments"].get("decontaminate", "off")
    if guard == "off":
        return "<h2>Contamination guard</h2><p>Off: no row was checked.</p>"
    by_set = summary.get("rows_contaminated_by_set") or {}
    counts = ", ".join(f"{html.escape(name)}: {n:,}" for name, n in sorted(by_set.items()))
    verb = "dropped before the cut" if guard == "drop" else "kept, and flagged"
    found = summary.get("rows_contaminated", 0)
    text = f"<p>{found:,} rows held a target or eval set item ({counts or 'none'}): {verb}.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(e['source'])} row {e['row']:,}</td>"
        f"<td>{html.escape(e['matched_set'])} #{e['matched_item']}</td>"
        f"<td class='n'>{e['matched_share']:.0%}</td>"
        f"<td class='n'>{e['matched_row_share']:.0%}</td>"
        f"<td>{html.escape(e['matched_rule'])}</td>"
        f"<td><pre>{html.escape(e['text'])}</pre></td></tr>"
        for e in summary.get("contaminated_examples") or []
    )
    table = (
        f"<table><tr><th>row</th><th>item</th><th>of the item's {NGRAM}-grams</th>"
        f"<th>of the row's {ROW_NGRAM}-grams</th><th>flagged by</th><th>text</th></tr>"
        f"{rows}</table>"
        if rows
        else ""
    )
    return f"<h2>Contamination guard</h2>{text}{table}"


def _near_duplicates(summary: dict[str, Any]) -> str:
    """What --dedup removed from the selection (nothing when it was not asked for)."""
    arguments = summary["arguments"]
    if not arguments.get("dedup"):
        return ""
    return (
        f"<h2>Near-duplicates</h2><p>{summary['rows_removed_duplicate']:,} rows were removed "
        f"from the selection as near-duplicates of better rows (Jaccard of word 5-grams "
        f"&ge; {arguments['dedup_threshold']}), for {summary['duplicate_clusters']:,} of the "
        f"rows selected; the rows below the cut took their places "
        f"({summary.get('dedup_rounds', 0)} rounds).</p>"
    )


def _target_set(summary: dict[str, Any]) -> str:
    """How far the target set can be trusted: its halves' agreement and its spread."""
    halves, spread = summary.get("target_halves"), summary.get("target_spread")
    parts = []
    if halves:
        parts.append(
            f"Ranked by two random halves of the targets, the "
            f"{halves['top_k']:,} best rows overlap with Jaccard {halves['jaccard']:.2f} (1: "
            "the same rows; a small overlap says the target set is too small or too "
            "diverse for its ranking to be trusted)."
        )
    if spread and spread["targets"] > 1:
        parts.append(
            f"Mean NCD between two targets: {spread['mean_ncd']:.3f} (over "
            f"{spread['targets']:,} of them)."
        )
    return f"<h2>Target set</h2><p>{' '.join(parts)}</p>" if parts else ""


def _sections(summary: dict[str, Any]) -> str:
    """A table per target set and per --group-column value: what each took (rows, tokens,
    scores, lengths), beside the pool's rows for groups."""
    found, parts = summary.get("sections") or {}, []
    if summary.get("target_sets"):
        parts.append(
            f"<h2>By target set</h2><p>{summary.get('rows_contested', 0):,} rows cleared more "
            "than one set's cut; each went to the set where it ranks higher, and the other "
            f"took its next best ({summary.get('target_set_rounds', 0)} rounds of cuts).</p>"
            + _section_table(found.get("target set", {}), "set", None, summary["target_sets"])
        )
    if summary.get("groups"):
        column = html.escape(summary["arguments"]["group_column"])
        pool = summary["groups"]["pool"]
        parts.append(
            f"<h2>By {column}</h2>"
            + _quotas(summary)
            + _section_table(found.get("group", {}), column, pool)
        )
    return "".join(parts)


def _quotas(summary: dict[str, Any]) -> str:
    """What --group-quota, --group-max or --per-group asked of each group, and which fell
    short."""
    quotas = summary.get("group_quotas")
    if not quotas:
        return ""
    unit = quotas["unit"]

    def listed(amounts: dict[str, int]) -> str:
        return ", ".join(f"{html.escape(g)} {n:,}" for g, n in sorted(amounts.items())) or "none"

    arguments = summary["arguments"]
    if arguments.get("per_group"):
        left = "they took all they had."
    elif arguments.get("quota_shortfall") == "refill":
        left = "what they left went to the other groups by score."
    else:
        left = "what they left was not selected."
    short = (
        f" <strong>Short of their quota</strong> ({unit}): {listed(quotas['short'])}; {left}"
        if quotas["short"]
        else ""
    )
    return (
        f"<p>Each group's floor ({unit}): {listed(quotas['floors'])}; cap: "
        f"{listed(quotas['caps'])}.{short}</p>"
    )


def _section_table(
    sections: dict[str, dict[str, Any]],
    label: str,
    pool: dict[str, int] | None,
    listed: Iterable[str] = (),
) -> str:
    """One row per label (those selected from, those of ``pool`` and ``listed``)."""
    names = sorted(
        set(sections) | set(pool or ()) | set(listed),
        key=lambda n: (-sections.get(n, {}).get("rows", 0), n),
    )
    pooled = pool is not None  # groups: the pool's rows, and the share of them kept
    header = f"<th>{label}</th>" + (
        "<th>pool</th><th>selected</th><th>kept</th>" if pooled else "<th>selected</th>"
    )
    header += "<th>tokens</th><th>score q10 / median / q90</th><th>median length</th>"
    rows = []
    for name in names:
        figures = sections.get(name)
        selected = figures["rows"] if figures else 0
        cells = f"<td>{html.escape(name)}</td>"
        if pooled:
            cells += f"<td class='n'>{pool.get(name, 0):,}</td>"
        cells += f"<td class='n'>{selected:,}</td>"
        if pooled:
            cells += f"<td class='n'>{selected / max(1, pool.get(name, 0)):.1%}</td>"
        if figures:
            q = figures["score_quantiles"]
            lengths = np.asarray(figures["length_histogram"])
            cells += (
                f"<td class='n'>{figures['tokens']:,}</td>"
                f"<td class='n'>{q['q0.1']:.4f} / {q['q0.5']:.4f} / {q['q0.9']:.4f}</td>"
                f"<td>{_median_bin(lengths, LENGTH_EDGES)}</td>"
            )
        else:
            cells += "<td class='n'>0</td><td>-</td><td>-</td>"
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def _rows(rows: list[dict[str, Any]], score_column: str) -> str:
    if not rows:
        return "<p>None.</p>"
    return "".join(
        f"<p>{score_column} {row['score']:.6f}</p><pre>" + html.escape(row["text"]) + "</pre>"
        for row in rows
    )
