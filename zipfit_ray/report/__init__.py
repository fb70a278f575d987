"""report.html: one self-contained page (inline SVG, no scripts, no network) to look at a
selection before spending GPU hours on it."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any

import numpy as np

from zipfit_ray import modes, storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.job.quotas import QuotaFigures
from zipfit_ray.job.summary import Example, Section, Summary
from zipfit_ray.report import plots
from zipfit_ray.selection.contamination import NGRAM, ROW_NGRAM
from zipfit_ray.selection.histograms import LENGTH_EDGES
from zipfit_ray.storage.outputs import REPORT

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
td, th { border-bottom: 1px solid #ddd; padding: 0.25rem 0.75rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.5rem; white-space: pre-wrap; max-height: 14rem;
      overflow: auto; font-size: 0.8rem; }
.legend span { display: inline-block; width: 0.8rem; height: 0.8rem; margin: 0 0.3rem 0 1rem; }
"""


def write_report(out: str, summary: Summary, config: SelectConfig, options: dict[str, Any]) -> None:
    """report.html under ``out``, from a job's summary and plan."""
    run, selected = summary.run, summary.selected
    mode = "" if modes.get(run.mode).exact else f" ({run.mode})"
    shown = {k: v for k, v in summary.to_json().items() if k not in ("histograms", "examples")}
    sections = [
        f"<h1>ZIP-FIT selection: {html.escape(run.rule)}{mode}</h1>",
        _overview(summary, config),
        "<h2>Scores: pool and selection</h2>",
        plots.score_histogram(selected),
        "<h2>Text lengths: pool and selection</h2>",
        plots.length_histogram(selected.histograms),
        _sections(summary, config),
        _contamination(summary, config),
        _near_duplicates(summary, config),
        _excluded(summary, config),
        _target_set(summary),
        _coverage(summary),
        "<h2>Best selected rows</h2>",
        _rows(selected.examples.best, run.score_column),
        "<h2>Borderline: the last rows selected</h2>",
        _rows(selected.examples.last, run.score_column),
        "<h2>Run</h2><details><summary>summary.json</summary><pre>"
        + html.escape(json.dumps(shown, indent=2, sort_keys=True))
        + "</pre></details>",
    ]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>ZIP-FIT selection</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
    storage.write_atomic(storage.join(out, REPORT), page.encode(), options)


def _overview(summary: Summary, config: SelectConfig) -> str:
    counts, selected, scoring = summary.counts, summary.selected, config.scoring
    quantiles = selected.selected_score_quantiles
    rows = [
        ("pool rows read", f"{counts.rows_read:,}"),
        ("rows selected", f"{selected.rows_selected:,}"),
        ("tokens selected", f"{selected.tokens_selected:,}"),
        ("lowest selected score", f"{quantiles['q0']:.6f}" if quantiles else "-"),
        ("highest selected score", f"{quantiles['q1']:.6f}" if quantiles else "-"),
        ("compressor", f"{scoring.compressor} level {scoring.level}, {scoring.joint} joint"),
        ("targets", html.escape(str(list(scoring.targets)))),
        (
            "skipped (null, bad file, bad line)",
            f"{counts.rows_skipped_null:,}, {counts.rows_skipped_bad_file:,}, "
            f"{counts.rows_skipped_bad_line:,}",
        ),
    ]
    check = summary.findings.early_exit_check
    if check:
        rows.append(
            (
                "early exit check",
                f"{check.checked_rows_that_would_be_selected:,} of {check.rows_checked:,} "
                f"dropped rows scored anyway would have been selected "
                f"({check.rows_dropped:,} dropped)",
            )
        )
    return (
        "<table>"
        + "".join(f"<tr><th>{name}</th><td class='n'>{value}</td></tr>" for name, value in rows)
        + "</table>"
    )


def _contamination(summary: Summary, config: SelectConfig) -> str:
    """What the contamination guard flagged: per set, and the first rows with the item
    each holds (all of them are in contaminated/)."""
    guard = config.trust.decontaminate
    if guard == "off":
        return "<h2>Contamination guard</h2><p>Off: no row was checked.</p>"
    by_set = summary.findings.rows_contaminated_by_set
    counts = ", ".join(f"{html.escape(name)}: {n:,}" for name, n in sorted(by_set.items()))
    verb = "dropped before the cut" if guard == "drop" else "kept, and flagged"
    found = summary.counts.rows_contaminated
    text = f"<p>{found:,} rows held a target or eval set item ({counts or 'none'}): {verb}.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(e['source'])} row {e['row']:,}</td>"
        f"<td>{html.escape(e['matched_set'])} #{e['matched_item']}</td>"
        f"<td class='n'>{e['matched_share']:.0%}</td>"
        f"<td class='n'>{e['matched_row_share']:.0%}</td>"
        f"<td>{html.escape(e['matched_rule'])}</td>"
        f"<td><pre>{html.escape(e['text'])}</pre></td></tr>"
        for e in summary.findings.contaminated_examples
    )
    table = (
        f"<table><tr><th>row</th><th>item</th><th>of the item's {NGRAM}-grams</th>"
        f"<th>of the row's {ROW_NGRAM}-grams</th><th>flagged by</th><th>text</th></tr>"
        f"{rows}</table>"
        if rows
        else ""
    )
    return f"<h2>Contamination guard</h2>{text}{table}"


def _near_duplicates(summary: Summary, config: SelectConfig) -> str:
    """What --dedup removed from the selection (nothing when it was not asked for)."""
    if not config.trust.dedup:
        return ""
    counts = summary.counts
    return (
        f"<h2>Near-duplicates</h2><p>{counts.rows_removed_duplicate:,} rows were removed "
        f"from the selection as near-duplicates of better rows (Jaccard of word 5-grams "
        f"&ge; {config.trust.dedup_threshold}), for {summary.work.duplicate_clusters:,} of the "
        f"rows selected; the rows below the cut took their places "
        f"({summary.work.dedup_rounds} rounds).</p>"
    )


def _excluded(summary: Summary, config: SelectConfig) -> str:
    """What --exclude-near dropped before the cut: how many, and the first rows with the
    corpus row each is near (all of them are in excluded/)."""
    if not config.trust.exclude_near:
        return ""
    corpora = ", ".join(html.escape(uri) for uri in config.trust.exclude_near)
    rows = "".join(
        f"<tr><td>{html.escape(e['source'])} row {e['row']:,}</td>"
        f"<td>{html.escape(e['near'])} row {e['near_row']:,}</td></tr>"
        for e in summary.findings.excluded_examples
    )
    table = f"<table><tr><th>row</th><th>near</th></tr>{rows}</table>" if rows else ""
    return (
        f"<h2>Near the corpora you have</h2><p>{summary.counts.rows_excluded_near:,} scored "
        f"rows were near-duplicates (Jaccard of word 5-grams &ge; "
        f"{config.trust.dedup_threshold}, by MinHash/LSH) of a row of {corpora}: dropped "
        f"before the cut.</p>{table}"
    )


def _coverage(summary: Summary) -> str:
    """Which target items the selection serves, and the least served, with their text: the
    parts of the target set the pool cannot serve."""
    found = summary.findings.coverage
    if found is None or not found.items:
        return ""
    rows = "".join(
        f"<tr><td class='n'>#{item['item']}</td><td class='n'>{item['rows']:,}</td>"
        f"<td><pre>{html.escape(item['text'])}</pre></td></tr>"
        for item in found.least_served
    )
    return (
        f"<h2>Target items served</h2><p>{found.items_served:,} of {found.items:,} target "
        "items are the nearest item of at least one selected row (with --per-target or "
        "--cover: the item a row was taken for). The least served:</p>"
        f"<table><tr><th>item</th><th>rows</th><th>text</th></tr>{rows}</table>"
    )


def _target_set(summary: Summary) -> str:
    """How far the target set can be trusted: its halves' agreement and its spread."""
    halves, spread = summary.findings.target_halves, summary.pool.target_spread
    parts = []
    if halves:
        parts.append(
            f"Ranked by two random halves of the targets, the "
            f"{halves.top_k:,} best rows overlap with Jaccard {halves.jaccard:.2f} (1: "
            "the same rows; a small overlap says the target set is too small or too "
            "diverse for its ranking to be trusted)."
        )
    if spread and spread.targets > 1:
        parts.append(
            f"Mean NCD between two targets: {spread.mean_ncd:.3f} (over "
            f"{spread.targets:,} of them)."
        )
    return f"<h2>Target set</h2><p>{' '.join(parts)}</p>" if parts else ""


def _sections(summary: Summary, config: SelectConfig) -> str:
    """A table per target set and per --group-column value: what each took (rows, tokens,
    scores, lengths), beside the pool's rows for groups."""
    found, parts = summary.selected.sections, []
    target_sets, counts = summary.findings.target_sets, summary.counts
    if target_sets:
        parts.append(
            f"<h2>By target set</h2><p>{counts.rows_contested:,} rows cleared more "
            "than one set's cut; each went to the set where it ranks higher, and the other "
            f"took its next best ({summary.work.target_set_rounds} rounds of cuts).</p>"
            + _section_table(found.get("target set", {}), "set", None, target_sets)
        )
    groups = summary.selected.groups
    if groups:
        column = html.escape(config.groups.group_column)
        parts.append(
            f"<h2>By {column}</h2>"
            + _quotas(summary.findings.group_quotas, config)
            + _section_table(found.get("group", {}), column, groups.pool)
        )
    return "".join(parts)


def _quotas(quotas: QuotaFigures | None, config: SelectConfig) -> str:
    """What --group-quota, --group-max or --per-group asked of each group, and which fell
    short."""
    if not quotas:
        return ""
    unit = quotas.unit

    def listed(amounts: dict[str, int]) -> str:
        return ", ".join(f"{html.escape(g)} {n:,}" for g, n in sorted(amounts.items())) or "none"

    if config.groups.per_group:
        left = "they took all they had."
    elif config.groups.quota_shortfall == "refill":
        left = "what they left went to the other groups by score."
    else:
        left = "what they left was not selected."
    short = (
        f" <strong>Short of their quota</strong> ({unit}): {listed(quotas.short)}; {left}"
        if quotas.short
        else ""
    )
    return (
        f"<p>Each group's floor ({unit}): {listed(quotas.floors)}; cap: "
        f"{listed(quotas.caps)}.{short}</p>"
    )


def _section_table(
    sections: dict[str, Section],
    label: str,
    pool: dict[str, int] | None,
    listed: Iterable[str] = (),
) -> str:
    """One row per label (those selected from, those of ``pool`` and ``listed``)."""
    names = sorted(
        set(sections) | set(pool or ()) | set(listed),
        key=lambda n: (-(sections[n].rows if n in sections else 0), n),
    )
    pooled = pool is not None  # groups: the pool's rows, and the share of them kept
    header = f"<th>{label}</th>" + (
        "<th>pool</th><th>selected</th><th>kept</th>" if pooled else "<th>selected</th>"
    )
    header += "<th>tokens</th><th>score q10 / median / q90</th><th>median length</th>"
    rows = []
    for name in names:
        figures = sections.get(name)
        selected = figures.rows if figures else 0
        cells = f"<td>{html.escape(name)}</td>"
        if pooled:
            cells += f"<td class='n'>{pool.get(name, 0):,}</td>"
        cells += f"<td class='n'>{selected:,}</td>"
        if pooled:
            cells += f"<td class='n'>{selected / max(1, pool.get(name, 0)):.1%}</td>"
        if figures:
            q = figures.score_quantiles
            lengths = np.asarray(figures.length_histogram)
            cells += (
                f"<td class='n'>{figures.tokens:,}</td>"
                f"<td class='n'>{q['q0.1']:.4f} / {q['q0.5']:.4f} / {q['q0.9']:.4f}</td>"
                f"<td>{plots.median_bin(lengths, LENGTH_EDGES)}</td>"
            )
        else:
            cells += "<td class='n'>0</td><td>-</td><td>-</td>"
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def _rows(rows: list[Example], score_column: str) -> str:
    if not rows:
        return "<p>None.</p>"
    return "".join(
        f"<p>{score_column} {row['score']:.6f}</p><pre>" + html.escape(row["text"]) + "</pre>"
        for row in rows
    )
