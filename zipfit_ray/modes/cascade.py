"""Approximate cascade: the prefilter shortlists the best c x K rows (found by the same cut
as --k), each shard's shortlist is read again and scored exactly, and the K best of those
are selected. Every score it writes is exact; what makes it approximate is a true top-K row
the prefilter left out of the shortlist (benchmarks/evaluate_modes.py measures how often).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from zipfit_ray import storage
from zipfit_ray.analysis.cost import Interval
from zipfit_ray.errors import require_positive_int
from zipfit_ray.kernel.alignment import PreparedTargets, score
from zipfit_ray.modes.base import Cluster
from zipfit_ray.modes.prefilter import Prefilter, PrefilterSettings
from zipfit_ray.selection import histograms
from zipfit_ray.selection.amounts import Amount
from zipfit_ray.selection.cut import Boundary
from zipfit_ray.storage import columns, outputs

DEFAULT_FACTOR = 10  # shortlist c x K (benchmarks/evaluate_modes.py)


@dataclass(frozen=True)
class CascadeSettings(PrefilterSettings):
    cascade_factor: int = DEFAULT_FACTOR  # the shortlist is this many times K

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive_int("--cascade-factor", self.cascade_factor)


class Cascade(Prefilter):
    name = "approx-cascade"
    Settings = CascadeSettings
    score_column = columns.SCORE
    after_cut_phase = "rescore"

    def first_pass(self, amount: Amount) -> Amount:
        return amount.of(self.settings.cascade_factor * amount.k)

    def after_cut(
        self,
        cluster: Cluster,
        amount: Amount,
        saved: list[str],
        shards: list[str],
        boundary: Boundary,
        shared: Any,
    ) -> tuple[list[str], Boundary, Counter]:
        """Exact scores of every shard's shortlisted rows, saved per shard; the rule's cut
        of those. Not checkpointed: a rerun scores the shortlist again."""
        rescored = [outputs.rescored_uri(self.config.output.out, shard) for shard in shards]
        histogram, pairs = histograms.histogram(np.empty(0)), 0
        for _, (shard_histogram, shard_pairs) in cluster.map(
            _rescore, zip(saved, rescored), boundary, shared
        ):
            histogram += shard_histogram
            pairs += shard_pairs
        boundary = cluster.cut(amount, histogram, histogram * 0, rescored)
        return rescored, boundary, Counter(pair_compressions=pairs)

    def estimate(
        self,
        cluster: Cluster,
        chunks: list[list[bytes]],
        targets: PreparedTargets,
        threshold: float,
        pool_rows: int,
    ) -> tuple[Interval, float]:
        m = len(targets.texts)
        k = self.config.selecting.rule.resolved(pool_rows, 0).k  # --k: the only rule it takes
        shortlisted = min(1.0, self.settings.cascade_factor * k / pool_rows) * m
        pass_per_row = self.seconds_per_row(cluster, chunks, targets)
        return Interval(shortlisted, shortlisted, shortlisted), pass_per_row


def _rescore(uris: tuple[str, str], boundary: Boundary, shared: Any) -> tuple[np.ndarray, int]:
    """One shard's shortlist (its saved prefilter scores the boundary selects), scored
    exactly and saved to the second URI. Returns their histogram and the pairs spent."""
    saved, save_to = uris
    config = shared.config
    shortlist = storage.read_scores(saved, config.runtime.storage_options)
    shortlist = shortlist[boundary.selects(shortlist)]
    file_index, row_index = storage.unpack_row_id(shortlist["row_id"])
    texts: list[bytes] = []
    for f in np.unique(file_index):
        path, row_group_sizes = shared.files[int(f)]
        rows = row_index[file_index == f]
        texts += storage.read_texts(
            path,
            row_group_sizes,
            rows,
            config.reading.text_column,
            config.reading.max_bytes,
            config.runtime.storage_options,
        )
    scores = score(texts, shared.targets)
    shortlist["score"] = scores  # every other field (tokens, --dedup's bands) as it was
    storage.write_scores(save_to, shortlist, config.runtime.storage_options)
    return histograms.histogram(scores), len(texts) * len(shared.targets.texts)
