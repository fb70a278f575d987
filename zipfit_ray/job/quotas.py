"""The cut for quotas per group (selection/quotas.py) over the scores every shard saved:
one pass for every group's histograms, a cut of each group's own order for its floor and its
cap, and one cut of the rows between them for what the floors leave."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from zipfit_ray.config import SelectConfig
from zipfit_ray.job import phases, worker
from zipfit_ray.job.runtime import RayCluster
from zipfit_ray.progress import log
from zipfit_ray.selection import quotas
from zipfit_ray.selection.cut import Boundary

MAX_GROUPS = 1000  # a cut per group: quotas are for sources, not for ids


@dataclass(frozen=True)
class QuotaFigures:
    """What the quotas asked of each group, in ``unit`` (rows or tokens): floors, caps, the
    groups short of their quota (by how much), and quota values no row holds."""

    unit: str
    floors: dict[str, int]
    caps: dict[str, int]
    short: dict[str, int]
    unknown: list[str]


def plan_groups(
    config: SelectConfig, sizes: dict[str, quotas.GroupSize], scored: tuple[int, int]
) -> quotas.Plan:
    """The plan's floors and caps for groups of ``sizes`` (a share of the pool is of the
    ``scored`` rows and tokens; with --per-group, of each group's)."""
    groups, rule = config.groups, config.selecting.rule
    return quotas.plan(
        rule if groups.per_group else rule.resolved(*scored),
        sizes,
        groups.group_quota,
        groups.group_max,
        groups.per_group,
        groups.quota_shortfall,
    )


def cut_groups(
    cluster: RayCluster,
    config: SelectConfig,
    saved: list[str],
    labels: Mapping[str, int],
    scored: tuple[int, int],
) -> tuple[quotas.QuotaSelection, QuotaFigures]:
    """The selection under --group-quota / --group-max / --per-group, and what summary.json
    says of it. ``labels``: the groups scored (label: rows); ``scored``: the rows scored
    and their tokens, what a share of the pool is of."""
    quotas.check_groups(list(labels), MAX_GROUPS)
    keys = dict(zip(labels, quotas.group_keys(labels).tolist()))
    options = config.runtime.storage_options
    per_key: dict[int, list[np.ndarray]] = {}
    for _, found in cluster.map(worker.group_histograms, saved, options):
        for key, histograms in found.items():
            totals = per_key.setdefault(key, [np.zeros_like(h) for h in histograms])
            for total, h in zip(totals, histograms):
                total += h
    sizes = {
        label: quotas.GroupSize(int(per_key[key][0].sum()), int(per_key[key][1].sum()))
        for label, key in keys.items()
        if key in per_key
    }
    plan = plan_groups(config, sizes, scored)
    for label in plan.unknown:
        log(f"warning: --group-quota: no scored row has {config.groups.group_column} = {label!r}")

    def cut_group(label: str, amount: int) -> Boundary:
        """The boundary of the group's best rows up to ``amount`` rows or tokens."""
        if amount == 0:
            return quotas.NOTHING
        key = keys[label]
        return cluster.cut(plan.rule(amount), *per_key[key], saved, "score", quotas.InGroup(key))

    floors = {keys[g]: cut_group(g, amount) for g, amount in plan.floors.items() if amount}
    caps = {}
    for label, cap in plan.caps.items():
        size = sizes[label].rows if plan.unit == "k" else sizes[label].tokens
        if cap == plan.floors.get(label):  # --per-group: the floor is the cap
            caps[keys[label]] = floors.get(keys[label], quotas.NOTHING)
        elif cap < size:
            caps[keys[label]] = cut_group(label, cap)
    selection = quotas.QuotaSelection(floors, caps)
    if plan.rest > 0:
        between = quotas.Between(selection)
        rows, tokens = phases.saved_histograms(cluster, saved, options, "score", between)
        rest = cluster.cut(plan.rule(plan.rest), rows, tokens, saved, "score", between)
        selection = replace(selection, rest=rest)
    unit = "rows" if plan.unit == "k" else "tokens"
    return selection, QuotaFigures(unit, plan.floors, plan.caps, plan.short, list(plan.unknown))
