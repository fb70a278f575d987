"""How a job's selection is found from the scores its shards saved. With --exclude-near,
the rows near a corpus the user has are dropped first (exclude.py). Each way of cutting is
one class behind one small interface (``Way``): named target sets (target_sets.py), quotas
per group (quotas.py), every target item's (per_item.py) or the rule's own cut (``ByRule``,
here). The first way in WAYS that applies to the plan cuts; then, with --dedup, the
selection loses its near-duplicates and is refilled (dedup.py). What a way found comes
back typed (``Found``), for the summary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from zipfit_ray.config import SelectConfig
from zipfit_ray.job import dedup, exclude, per_item, phases, quotas, target_sets
from zipfit_ray.job.runtime import RayCluster
from zipfit_ray.modes.base import Mode
from zipfit_ray.progress import timed
from zipfit_ray.selection import coverage, cut
from zipfit_ray.selection.dedup import lsh_bands as dedup_bands


@dataclass(frozen=True)
class Scores:
    """What every way starts from: the saved scores of every shard, and their histograms
    of rows and tokens per score bin (added up as the shards were scored)."""

    cluster: RayCluster
    mode: Mode
    saved: list[str]  # each shard's saved scores
    shards: list[str]  # the shards' names, in the same order
    shared_ref: Any  # what every task was handed
    rows: np.ndarray
    tokens: np.ndarray
    groups: dict[str, int]  # rows scored per --group-column value
    seconds: dict[str, float]  # seconds per phase, added to
    record: np.dtype  # the saved rows' fields (records.scores_dtype)
    pool: tuple[str, ...] = ()  # the pool's files, to name rows in listings

    @property
    def config(self) -> SelectConfig:
        return self.mode.config

    @property
    def scored(self) -> tuple[int, int]:
        """The rows scored and their tokens: what a share of the pool is a share of."""
        return int(self.rows.sum()), int(self.tokens.sum())


@dataclass
class Found:
    """Where the scores to write from are saved, what selects from them, and what finding
    it counted and learned (named sets' pool histograms, the quotas' floors and caps)."""

    saved: list[str]
    selector: cut.Selector
    counts: Counter = field(default_factory=Counter)
    target_sets: dict[str, list[int]] = field(default_factory=dict)
    group_quotas: quotas.QuotaFigures | None = None
    histograms_hold: bool = True  # the start's histograms are still those of ``saved``
    excluded: list[dict[str, Any]] = field(default_factory=list)  # --exclude-near: the first


class Way(Protocol):
    def applies(self, config: SelectConfig) -> bool: ...

    def cut(self, scores: Scores) -> Found: ...


class NamedSets:
    """--targets NAME=URI: each set's cut, settled (job/target_sets.py)."""

    def applies(self, config: SelectConfig) -> bool:
        return config.scoring.target_sets is not None

    def cut(self, scores: Scores) -> Found:
        with timed(scores.seconds, "cut"):
            found, counts = target_sets.cut_sets(
                scores.cluster, scores.config, scores.saved, scores.scored
            )
        return Found(scores.saved, found, counts, target_sets.pool_histograms(found))


class Quotas:
    """--group-quota, --group-max, --per-group: each group's floor and cap, then the rest
    (job/quotas.py)."""

    def applies(self, config: SelectConfig) -> bool:
        return config.groups.grouped

    def cut(self, scores: Scores) -> Found:
        with timed(scores.seconds, "cut"):
            selection, planned = quotas.cut_groups(
                scores.cluster, scores.config, scores.saved, scores.groups, scores.scored
            )
        return Found(scores.saved, selection, group_quotas=planned)


class PerItems:
    """--per-target, --cover: every target item's own cut, then (--cover) the rest by the
    mean alignment (job/per_item.py)."""

    def applies(self, config: SelectConfig) -> bool:
        return config.selecting.per_item

    def cut(self, scores: Scores) -> Found:
        keys = coverage.item_fields(scores.record.names)
        with timed(scores.seconds, "cut"):
            found = per_item.cut_items(
                scores.cluster, scores.config, scores.saved, keys, scores.scored
            )
        return Found(scores.saved, found)


class ByRule:
    """The rule's cut of the total order (by the soft key with --temperature), then the
    mode's own step after it, if it has one; a threshold is known already."""

    def applies(self, config: SelectConfig) -> bool:
        return True

    def cut(self, scores: Scores) -> Found:
        config, mode, cluster = scores.config, scores.mode, scores.cluster
        if config.selecting.rule.streamed:  # --min-score on a pool with JSONL, or --dedup
            return Found(scores.saved, cut.at_least(config.selecting.threshold))
        amount = config.selecting.rule.resolved(*scores.scored)
        with timed(scores.seconds, "cut"):
            rows, tokens, key = scores.rows, scores.tokens, config.selecting.order_key
            if key != "score":  # --temperature: the cut starts from the keys' histograms
                options = config.runtime.storage_options
                rows, tokens = phases.saved_histograms(cluster, scores.saved, options, key)
            boundary = cluster.cut(mode.first_pass(amount), rows, tokens, scores.saved, key)
        if mode.after_cut_phase is None:
            return Found(scores.saved, boundary)
        with timed(scores.seconds, mode.after_cut_phase):
            saved, boundary, counts = mode.after_cut(
                cluster, amount, scores.saved, scores.shards, boundary, scores.shared_ref
            )
        return Found(saved, boundary, counts, histograms_hold=False)


WAYS: tuple[Way, ...] = (NamedSets(), Quotas(), PerItems(), ByRule())  # the first that applies


def find(scores: Scores) -> Found:
    """The selection: --exclude-near's step, the first way that applies, --dedup's step."""
    config, excluded = scores.config, None
    if config.trust.exclude_near:
        with timed(scores.seconds, "exclude near"):
            excluded = exclude.exclude(
                scores.cluster, exclusion(config), scores.saved, scores.shards, list(scores.pool)
            )
        scores = replace(scores, saved=excluded.kept, rows=excluded.rows, tokens=excluded.tokens)
    found = next(way for way in WAYS if way.applies(config)).cut(scores)
    if excluded is not None:
        found.counts.update(excluded.counts)
        found.excluded = excluded.examples
    if config.trust.dedup:
        known = (scores.rows, scores.tokens) if found.histograms_hold else None
        with timed(scores.seconds, "dedup"):
            refill, window = dedup_plan(scores, found)
            found.saved, found.selector, counts = dedup.deduplicate(
                scores.cluster, config, refill, found.saved, scores.shards, window, known
            )
        found.counts.update(counts)
    return found


def dedup_plan(scores: Scores, found: Found) -> tuple[dedup.Refill, cut.Boundary]:
    """--dedup's refill of what the way found, and its first window: the total order down
    to the last row that took part in the selection."""
    config = scores.config
    if config.selecting.per_item:
        keys = coverage.item_fields(scores.record.names)
        options = config.runtime.storage_options
        window = per_item.last_read(scores.cluster, found.saved, found.selector, options)
        return per_item.Refill(config, keys, scores.scored), window
    amount = config.selecting.rule.resolved(*scores.scored)
    return dedup.RuleRefill(amount, found.selector), found.selector


def exclusion(config: SelectConfig) -> exclude.Exclusion:
    """--exclude-near's step for this plan: --dedup's banding, the pool's text column unless
    another is named."""
    trust, reading = config.trust, config.reading
    return exclude.Exclusion(
        trust.exclude_near,
        trust.exclude_near_column or reading.text_column,
        dedup_bands(trust.dedup_threshold),
        config.output.out,
        reading.max_bytes,
        config.runtime.storage_options,
    )
