"""The cut for named target sets (selection/mixture.py) over the scores every shard saved:
each set's boundary found by the same distributed cut as one set's, the cuts repeated over
the rows each set can keep until no boundary moves."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np

from zipfit_ray import storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.job import phases
from zipfit_ray.job.runtime import RayCluster
from zipfit_ray.progress import log
from zipfit_ray.selection import cut, mixture


def cut_sets(
    cluster: RayCluster, config: SelectConfig, saved: list[str], scored: tuple[int, int]
) -> tuple[mixture.Mixture, Counter]:
    """The sets' selection, and what finding it counted (rounds of cuts, rows contested).
    ``scored``: the rows scored and their tokens, what a share of the pool is of."""
    names = list(config.scoring.target_sets)
    options = config.runtime.storage_options
    keys = [mixture.score_field(name) for name in names]
    pool = [phases.saved_histograms(cluster, saved, options, key) for key in keys]
    rows_per_bin = [rows for rows, _ in pool]
    if config.selecting.rule.streamed:  # a threshold per set: nothing to settle
        bounds = tuple(replace(cut.at_least(config.selecting.threshold), key=key) for key in keys)
        found, rounds = mixture.Mixture(tuple(names), bounds, tuple(rows_per_bin)), 0
    else:
        rules = mixture.set_rules(
            config.selecting.rule.resolved(*scored), names, config.selecting.mix
        )

        def cut_set(s: int, keepable: mixture.Keepable | None) -> cut.Boundary:
            rows, tokens = (
                pool[s]
                if keepable is None
                else phases.saved_histograms(cluster, saved, options, keys[s], keepable)
            )
            return cluster.cut(rules[s], rows, tokens, saved, keys[s], keepable)

        def on_round(rounds: int, moved: list[str]) -> None:
            log(
                f"target sets: round {rounds}: "
                + (", ".join(moved) + " cut again" if moved else "settled")
            )

        found, rounds = mixture.settle(names, rows_per_bin, cut_set, on_round)
    contested = sum(n for _, n in cluster.map(_count_contested, saved, found, options))
    return found, Counter(target_set_rounds=rounds, rows_contested=contested)


def pool_histograms(found: mixture.Mixture) -> dict[str, list[int]]:
    """Each set's histogram of scores over every row scored, for the summary."""
    return {name: np.asarray(h).tolist() for name, h in zip(found.names, found.pool_histograms)}


def _count_contested(uri: str, found: mixture.Mixture, options: dict[str, Any]) -> int:
    """A shard's rows that more than one set's boundary clears."""
    return int(found.contested(storage.read_scores(uri, options)).sum())
