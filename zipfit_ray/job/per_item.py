"""--per-target and --cover on the cluster: every target item's own cut (its N best rows by
its own alignment), all items in the same passes over the shards (RayCluster.cut_each),
from each item's histogram of the saved rows.

- --per-target N: the union of every item's N best rows (selection/coverage.PerItem);
- --cover F under --k, a token budget or a share: the items take their best rows in rounds
  while their union stays within the share F of the rule (rows, or tokens for a budget):
  every item's N best for the largest N that fits, then one more for as many items as fit,
  those whose next row aligns best first (on a tie, the earlier item); then the rest of the
  rule by mean alignment over the rows they left (coverage.Covered). N is found by doubling,
  then halving (each try one cut of every item and one count), the last round's items by
  halving (each try one count).

With --dedup, the pool's near-duplicates of better rows (by the mean alignment, as
everywhere) go first and every item's cut is of the rows left: ``Refill`` (job/dedup.py).

No task holds more than one shard's rows and one window's worth per item; the driver holds
histograms and boundaries, one per item.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from zipfit_ray import storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.job import dedup, phases
from zipfit_ray.job.runtime import RayCluster
from zipfit_ray.progress import log
from zipfit_ray.selection import coverage, cut, histograms, order
from zipfit_ray.selection.amounts import Amount


def cut_items(
    cluster: RayCluster,
    config: SelectConfig,
    saved: list[str],
    keys: list[str],
    scored: tuple[int, int],
) -> coverage.PerItem | coverage.Covered:
    """The selection of --per-target, or of the rule with --cover, over the ``saved`` rows
    whose item fields are ``keys``; ``scored``: the rows scored and their tokens."""
    options = config.runtime.storage_options
    pool = item_histograms(cluster, saved, keys, options)
    amount = config.selecting.rule.resolved(*scored)
    if config.selecting.rule.per_item:
        return per_item(cluster, saved, pool, amount.k)
    return covered(cluster, config, saved, pool, amount, scored[0])


def item_histograms(
    cluster: RayCluster, saved: list[str], keys: list[str], options: dict[str, Any]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each item's rows and tokens per bin of its alignment, over every saved row."""
    totals: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for _, found in cluster.map(_item_histograms, saved, keys, options):
        for key, (rows, tokens) in found.items():
            before = totals.get(key, (0, 0))
            totals[key] = (rows + before[0], tokens + before[1])
    return totals


def per_item(
    cluster: RayCluster, saved: list[str], pool: dict[str, tuple[np.ndarray, ...]], n: int
) -> coverage.PerItem:
    """Every item's ``n`` best rows (none for n = 0)."""
    keys = list(pool)
    if n == 0:
        bounds = {key: cut.NOTHING for key in keys}
    else:
        bounds = cluster.cut_each(dict.fromkeys(keys, Amount(k=n)), pool, saved)
    return coverage.PerItem(
        tuple(replace(bounds[key], key=key) for key in keys),  # NOTHING's key too
        tuple(pool[key][0] for key in keys),
    )


def covered(
    cluster: RayCluster,
    config: SelectConfig,
    saved: list[str],
    pool: dict[str, tuple[np.ndarray, ...]],
    amount: Amount,
    rows: int,
) -> coverage.Covered:
    """--cover's selection of ``amount``: the items' share first, then the rest. ``rows``:
    the rows scored, past which a larger n takes nothing more."""
    options = config.runtime.storage_options
    budget = math.floor(config.selecting.cover * amount.total)
    unit = 0 if amount.unit == "k" else 1  # what size() measures: rows, or tokens

    def size(found: coverage.PerItem) -> int:
        return sum(c[unit] for _, c in cluster.map(_taken, saved, found, options))

    best = over = per_item(cluster, saved, pool, 0)  # over: the smallest n known not to fit
    used, low, high = 0, 0, None  # the largest n known to fit, the smallest known not to
    while high is None or high - low > 1:
        n = low * 2 + 1 if high is None else (low + high) // 2
        found = per_item(cluster, saved, pool, n)
        if (taken := size(found)) <= budget:
            low, best, used = n, found, taken
        else:
            high, over = n, found
        if high is None and n >= min(budget, rows):  # no larger n can take more rows
            break
    more = 0  # items given one row more than the others
    if high == low + 1:  # the last round, in part: the items whose next row aligns best first
        ranked = sorted(range(len(pool)), key=lambda i: (-over.boundaries[i].score, i))
        fewest_not = len(pool)  # every item one more is n + 1: known not to fit
        chosen = best
        while fewest_not - more > 1:
            m = (more + fewest_not) // 2
            found = one_more(best, over, ranked[:m])
            if (taken := size(found)) <= budget:
                more, used, chosen = m, taken, found
            else:
                fewest_not = m
        best = chosen
    log(
        f"cover: every target item's {low:,} best rows ({more:,} items one more), {used:,} of "
        f"the {budget:,} covered"
    )
    over = over if high is not None else None
    left = amount.total - used
    if left <= 0:
        return coverage.Covered(best, over=over)
    where = coverage.NotTaken(best)
    rows, tokens = phases.saved_histograms(cluster, saved, options, "score", where)
    rest = cluster.cut(amount.of(left), rows, tokens, saved, "score", where)
    return coverage.Covered(best, rest, over)


@dataclass(frozen=True)
class Refill:
    """--dedup's refill (dedup.Refill): every item's cut of the rows kept; a window that
    reaches past the last row of the total order that took part in it, by a margin."""

    config: SelectConfig
    keys: list[str]
    scored: tuple[int, int]

    def select(
        self, cluster: RayCluster, kept: list[str], rows: np.ndarray, tokens: np.ndarray
    ) -> tuple[coverage.PerItem | coverage.Covered, cut.Boundary]:
        selection = cut_items(cluster, self.config, kept, self.keys, self.scored)
        return selection, last_read(cluster, kept, selection, self.config.runtime.storage_options)

    def widened(self, cluster: RayCluster, saved: list[str], done: dedup.Round) -> cut.Boundary:
        options = self.config.runtime.storage_options
        ahead = dedup.count(cluster, saved, done.last, options)
        reach = Amount(k=math.ceil(ahead * dedup.MARGIN))
        return cluster.cut(reach, done.rows, done.tokens, saved)


def last_read(
    cluster: RayCluster,
    saved: list[str],
    selection: coverage.PerItem | coverage.Covered,
    options: dict[str, Any],
) -> cut.Boundary:
    """The last row of the total order (mean alignment) that decided ``selection``: of
    those it takes, and with --cover, of the round it found too large (``read``)."""
    lasts = [b for _, b in cluster.map(_last_read, saved, selection, options) if b is not None]
    return max(lasts, key=lambda b: (-b.score, b.row_id), default=cut.NOTHING)


def _last_read(
    uri: str, selection: coverage.PerItem | coverage.Covered, options: dict[str, Any]
) -> cut.Boundary | None:
    entries = storage.read_scores(uri, options)
    taken = entries[selection.read(entries)]
    if not len(taken):
        return None
    last = order.best_first(taken)[-1]
    return cut.Boundary(float(last["score"]), int(last["row_id"]))


def one_more(
    before: coverage.PerItem, after: coverage.PerItem, items: list[int]
) -> coverage.PerItem:
    """``before``'s cuts, with ``after``'s for ``items``."""
    chosen = set(items)
    boundaries = zip(before.boundaries, after.boundaries)
    mixed = tuple(a if i in chosen else b for i, (b, a) in enumerate(boundaries))
    return coverage.PerItem(mixed, before.pool_histograms)


def _item_histograms(
    uri: str, keys: list[str], options: dict[str, Any]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    entries = storage.read_scores(uri, options)
    return {key: histograms.rows_and_tokens(order.by_field(entries, key)) for key in keys}


def _taken(uri: str, found: coverage.PerItem, options: dict[str, Any]) -> tuple[int, int]:
    """A shard's rows some item's cut takes: how many, and their tokens."""
    entries = storage.read_scores(uri, options)
    chosen = entries[found.selects(entries)]
    return len(chosen), int(chosen["tokens"].sum())
