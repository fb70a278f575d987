"""evaluation.html: one self-contained page (inline SVG, no scripts, nothing fetched), in
the report's style: the table of bits per byte, and the loss curves of every entry (the
mean over seeds drawn bold, each seed faint)."""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np

from zipfit_ray import storage
from zipfit_ray.evaluation.settings import BASELINE
from zipfit_ray.report import STYLE

COLORS = ("#e6550d", "#3182bd", "#31a354", "#756bb1", "#de2d26", "#636363", "#fd8d3c")
BASELINE_COLOR = "#969696"
WIDTH, HEIGHT, PAD = 900, 320, 50
TICKS = 5


def write_page(uri: str, evaluation: dict[str, Any], options: dict[str, Any]) -> None:
    settings = evaluation["settings"]
    training = settings["training"]
    model = training["model"]
    results = evaluation["results"]
    sections = [
        "<h1>ZIP-FIT downstream evaluation</h1>",
        f"<p>Each entry was cut to {settings['budget_tokens']:,} tokens in its own order, and a "
        f"byte-level transformer (layers {model['layers']}, width {model['width']}, heads "
        f"{model['heads']}, context {model['context']} bytes) was trained on it from scratch "
        f"for {training['steps']:,} steps of {training['batch_size']} windows, once per seed "
        f"({settings['seeds']} seeds), then scored on the {evaluation['test']['texts']:,} "
        f"held-out texts ({evaluation['test']['bytes']:,} bytes) of "
        f"<code>{html.escape(evaluation['test']['uri'])}</code>. Lower is better; "
        "<em>random</em> is a seeded random sample of the pool of the same budget.</p>",
        _table(results),
        "<h2>Held-out bits per byte during training</h2>",
        _curves_svg(results, "test"),
        "<h2>Training bits per byte (mean since the previous point)</h2>",
        _curves_svg(results, "training"),
        "<h2>Run</h2><details><summary>evaluation.json (without curves)</summary><pre>"
        + html.escape(json.dumps(_without_curves(evaluation), indent=2, sort_keys=True))
        + "</pre></details>",
    ]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>ZIP-FIT evaluation</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
    storage.write_atomic(uri, page.encode(), options)


def _color(index: int, name: str) -> str:
    return BASELINE_COLOR if name == BASELINE else COLORS[index % len(COLORS)]


def _table(results: list[dict[str, Any]]) -> str:
    header = (
        "<tr><th>entry</th><th>bits/byte</th><th>sd</th><th>minus random</th>"
        "<th>seeds better than random</th><th>per seed</th><th>rows</th><th>tokens</th>"
        "<th>bytes</th></tr>"
    )
    rows = []
    for i, r in enumerate(results):
        short = " (all it holds: short of the budget)" if r["short_of_budget"] else ""
        rows.append(
            f"<tr><td><span style='color:{_color(i, r['name'])}'>&#9632;</span> "
            f"{html.escape(r['name'])}{short}</td>"
            f"<td class='n'><strong>{r['bits_per_byte']:.3f}</strong></td>"
            f"<td class='n'>{r['bits_per_byte_std']:.3f}</td>"
            f"<td class='n'>{r['minus_random']:+.3f}</td>"
            f"<td class='n'>{r['seeds_better_than_random']} of {len(r['seeds'])}</td>"
            f"<td class='n'>{' '.join(f'{b:.3f}' for b in r['bits_per_byte_seeds'])}</td>"
            f"<td class='n'>{r['rows']:,}</td><td class='n'>{r['tokens']:,}</td>"
            f"<td class='n'>{r['bytes']:,}</td></tr>"
        )
    return f"<table>{header}{''.join(rows)}</table>"


def _curves_svg(results: list[dict[str, Any]], kind: str) -> str:
    """Bits per byte against steps: a faint line per seed, the mean over seeds in bold."""
    points = [p for r in results for c in r["curves"] for p in c[kind]]
    steps = sorted({step for step, _ in points})
    low, high = min(v for _, v in points), max(v for _, v in points)
    high = high if high > low else low + 1

    def x(step: float) -> float:
        return PAD + step / steps[-1] * (WIDTH - 2 * PAD)

    def y(value: float) -> float:
        return HEIGHT - PAD - (value - low) / (high - low) * (HEIGHT - 2 * PAD)

    def line(curve: list[list[float]], color: str, width: float, opacity: float) -> str:
        drawn = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in curve)
        return (
            f"<polyline points='{drawn}' fill='none' stroke='{color}' "
            f"stroke-width='{width}' stroke-opacity='{opacity}'/>"
        )

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' "
        f"role='img' aria-label='{kind} bits per byte'>"
    ]
    for i, r in enumerate(results):
        color = _color(i, r["name"])
        for c in r["curves"]:
            parts.append(line(c[kind], color, 1, 0.35))
        mean = np.mean([[v for _, v in c[kind]] for c in r["curves"]], axis=0)
        parts.append(line(list(zip(steps, mean)), color, 2.5, 1))
    for tick in range(TICKS):
        value = low + tick / (TICKS - 1) * (high - low)
        parts.append(
            f"<text x='{PAD - 6}' y='{y(value) + 4:.1f}' font-size='11' "
            f"text-anchor='end'>{value:.2f}</text>"
        )
    for step in steps:
        parts.append(
            f"<text x='{x(step):.1f}' y='{HEIGHT - PAD + 16}' font-size='11' "
            f"text-anchor='middle'>{step:,}</text>"
        )
    axis = HEIGHT - PAD
    parts.append(f"<line x1='{PAD}' x2='{WIDTH - PAD}' y1='{axis}' y2='{axis}' stroke='#888'/>")
    parts.append("</svg>")
    legend = "".join(
        f"<span style='background:{_color(i, r['name'])}'></span>{html.escape(r['name'])}"
        for i, r in enumerate(results)
    )
    return "".join(parts) + f"<p class='legend'>bits per byte against steps:{legend}</p>"


def _without_curves(evaluation: dict[str, Any]) -> dict[str, Any]:
    return {
        **evaluation,
        "results": [{k: v for k, v in r.items() if k != "curves"} for r in evaluation["results"]],
    }
