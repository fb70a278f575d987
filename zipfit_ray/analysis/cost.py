"""What a selection will cost and where it will cut, from a uniform sample of the pool.

Pure arithmetic on a sample's scores, tokens and measured seconds per pair; the Ray side
(plan, sample, time the kernel on the cluster's own workers) is survey.run_estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zipfit_ray.analysis import Z_95
from zipfit_ray.selection.amounts import Threshold
from zipfit_ray.selection.rules import Rule


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


def selected_share(rule: Rule, scores: np.ndarray, tokens: np.ndarray, pool_rows: int) -> float:
    """The share of the pool the rule selects, as the sample predicts it: what the rule
    comes to over the pool (its tokens scaled up from the sample's), cut from the sample."""
    order = np.argsort(-scores, kind="stable")
    scaled = np.cumsum(tokens[order]) * pool_rows / len(scores)  # tokens over the pool
    found = rule.resolved(pool_rows, int(scaled[-1]) if len(scaled) else 0)
    if isinstance(found, Threshold):
        return float(np.mean(scores >= found.min_score))
    if found.k is not None:
        return min(1.0, found.k / pool_rows)
    return int(np.searchsorted(scaled, found.budget_tokens, "right")) / len(scores)


def threshold(scores: np.ndarray, share: float) -> Interval:
    """The score at which the best ``share`` of the pool begins, with a distribution-free
    95% interval (the order statistics whose ranks bracket the quantile)."""
    ordered = np.sort(scores)
    n, q = len(ordered), 1.0 - share
    spread = Z_95 * math.sqrt(n * q * (1 - q))
    low = int(np.clip(math.floor(n * q - spread) - 1, 0, n - 1))
    high = int(np.clip(math.ceil(n * q + spread), 0, n - 1))
    return Interval(float(np.quantile(ordered, q)), float(ordered[low]), float(ordered[high]))


def share_interval(selected: int, n: int) -> Interval:
    """A Wilson 95% interval for a share seen in a sample (for --min-score)."""
    p = selected / n
    centre = (p + Z_95**2 / (2 * n)) / (1 + Z_95**2 / n)
    half = Z_95 * math.sqrt(p * (1 - p) / n + Z_95**2 / (4 * n * n)) / (1 + Z_95**2 / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: np.ndarray) -> Interval:
    mean = float(np.mean(values))
    half = Z_95 * float(np.std(values, ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else 0
    return Interval(mean, mean - half, mean + half)


def wall_seconds(rows: int, shard_rows: int, seconds_per_row: float, cpus: int) -> float:
    """Scoring time on ``cpus`` CPUs: shards run in waves of ``cpus``, the last one too
    (the last-wave effect); reading and Ray's own start-up are not counted."""
    shards = math.ceil(rows / shard_rows)
    return math.ceil(shards / cpus) * min(rows, shard_rows) * seconds_per_row


def table(found: dict[str, Any]) -> str:
    pool = found["pool"]
    lines = [
        f"pool: {pool['rows']:,} rows in {pool['files']:,} files ({pool['row_groups']:,} row "
        f"groups), text column {pool['text_column_bytes'] / 1e6:,.1f} MB; sample: "
        f"{found['sample']['scored']:,} rows scored; {found['rule']}; "
        f"{found['cluster_cpus']} CPUs, shards of {found['shard_rows']:,} rows",
        "",
        f"{'compressor:level:joint':<32} {'mode':<18} {'pair compressions (95%)':>34} "
        f"{'us/pair':>8} {'core-h':>9} {'wall':>9} {'threshold (95%)':>28} {'selected':>9}",
    ]
    for e in found["estimates"]:
        pairs, cut = e["pair_compressions"], e["threshold"]
        where = f"{cut['estimate']:>10.5f} [{cut['low']:.5f}, {cut['high']:.5f}]" if cut else "-"
        extra = ""
        if "wall_seconds_on_cpus" in e:
            extra += f"  on --cpus: {_duration(e['wall_seconds_on_cpus'])}"
        if "cost" in e:
            extra += f"  cost {e['cost']:,.2f}"
        lines.append(
            f"{e['compressor'] + ':' + str(e['level']) + ':' + e['joint']:<32} {e['mode']:<18} "
            f"{pairs['estimate']:>12,.0f} [{pairs['low']:,.0f}, {pairs['high']:,.0f}]".ljust(75)
            + f"{e['seconds_per_pair'] * 1e6:>8.2f} {e['core_hours']:>9.3f} "
            f"{_duration(e['wall_seconds']):>9} {where:>28} "
            f"{e['share_selected']['estimate']:>8.2%}{extra}"
        )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"
