"""--dedup on the cluster: drop every row that a better row is a near-duplicate of
(selection/dedup.py says when), and refill the selection from the rows left.

The rows of a window (a prefix of the total order; at first, down to the last row the
selection takes) are shuffled by bucket in three steps, each a task per shard or per
partition that reads and writes its own files under OUT/_dedup/:

1. members: each shard's window rows, one record per band, sorted by partition;
2. resolved: each partition's buckets, resolved: which rows are pushed out and for whom,
   sorted by row id;
3. kept: each shard reads the records in its row-id range and saves its rows without the
   pushed-out ones (and, apart, the pushed-out ones and whom they were pushed out for).

The selection of the kept rows (``Refill``: the rule's cut, or every target item's with
--per-target and --cover, job/per_item.py) is final if no row below the window took part
in it. If not, the window widens and the steps run again; a row's fate depends only on the
rows before it, so the rows inside the old window keep theirs. No task holds more than
PARTITION_MEMBERS bucket records, whatever K; the driver holds what the refill's cut holds
(histograms and boundaries) and adds up counts.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from zipfit_ray import storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.job import phases, worker
from zipfit_ray.modes.base import Cluster
from zipfit_ray.progress import log
from zipfit_ray.selection import cut, dedup, histograms, order
from zipfit_ray.selection.amounts import Cut
from zipfit_ray.storage import outputs

PARTITION_MEMBERS = 2_000_000  # bucket records a resolving task holds at most (~64 MB)
MARGIN = 1.25  # a widened window holds this much more than the removals so far predict
STOOD_FOR = np.dtype([("row_id", "<i8")])  # a row that a removed selected row was pushed out for


class Refill(Protocol):
    """What selects from the rows left after a round, and how the window widens when that
    selection reaches below it."""

    def select(
        self, cluster: Cluster, kept: list[str], rows: np.ndarray, tokens: np.ndarray
    ) -> tuple[cut.Selector, cut.Boundary]:
        """The selection of the ``kept`` rows (their histograms: ``rows``, ``tokens``), and
        the last row of the total order that took part in it (that it takes, or that a try
        it found too large took)."""
        ...

    def widened(self, cluster: Cluster, saved: list[str], done: Round) -> cut.Boundary:
        """A wider window of ``saved``, towards ``done.last`` (or past it)."""
        ...


@dataclass(frozen=True)
class Round:
    """What a round found: the rows in its window and those kept, the last row that took
    part in the selection, and the histograms of every saved row (what a window is cut
    from)."""

    in_window: int
    kept_in_window: int
    last: cut.Boundary
    rows: np.ndarray
    tokens: np.ndarray


@dataclass
class RuleRefill:
    """The rule's cut of the kept rows (``rule``: a share resolved to a count); with
    --min-score, its ``boundary`` as it is. The window widens by the share removed so far."""

    rule: Cut
    boundary: cut.Boundary
    scale: float = 1.0

    def select(
        self, cluster: Cluster, kept: list[str], rows: np.ndarray, tokens: np.ndarray
    ) -> tuple[cut.Selector, cut.Boundary]:
        final = self.boundary if self.rule.streamed else cluster.cut(self.rule, rows, tokens, kept)
        return final, final

    def widened(self, cluster: Cluster, saved: list[str], done: Round) -> cut.Boundary:
        # as many more as were removed, and a margin; at least a margin more than before
        ratio = done.in_window / max(done.kept_in_window, 1)
        self.scale = max(self.scale * MARGIN, MARGIN * ratio)
        return cluster.cut(self.rule.widened(self.scale), done.rows, done.tokens, saved)


def deduplicate(
    cluster: Cluster,
    config: SelectConfig,
    refill: Refill,
    saved: list[str],
    names: list[str],
    window: cut.Boundary,
    known: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[list[str], cut.Selector, Counter]:
    """The saved scores without the near-duplicates the selection would hold, ``refill``'s
    selection of them, and counts: rows removed from the selection, clusters (selected rows
    that near-duplicates were removed for), rounds. ``window``: the first rows checked.
    ``known``: the rows and tokens per histogram bin of ``saved``, if the caller has them
    (else they are counted, a read of every saved file)."""
    bands = dedup.lsh_bands(config.trust.dedup_threshold)
    options = config.runtime.storage_options
    files = {
        step: [outputs.dedup_uri(config.output.out, step, name) for name in names]
        for step in ("members", "kept", "removed", "pushed", "stood")
    }
    rounds = 0
    rows, tokens = known or phases.saved_histograms(cluster, saved, options)
    while True:
        rounds += 1
        in_window = count(cluster, saved, window, options)
        partitions = max(1, math.ceil(in_window * bands.bands / PARTITION_MEMBERS))
        jobs = list(zip(saved, files["members"]))
        for _ in cluster.map(_members, jobs, window, bands, partitions, options):
            pass
        resolved = [
            outputs.dedup_uri(config.output.out, "resolved", f"{p:05d}") for p in range(partitions)
        ]
        for _ in cluster.map(_resolve, list(enumerate(resolved)), files["members"], options):
            pass
        kept_rows, kept_tokens = np.zeros_like(rows), np.zeros_like(tokens)
        kept_in_window = 0
        jobs = list(zip(saved, files["kept"], files["removed"], files["pushed"]))
        for _, (shard_rows, shard_tokens, shard_kept) in cluster.map(
            _keep, jobs, resolved, window, options
        ):
            kept_rows += shard_rows
            kept_tokens += shard_tokens
            kept_in_window += shard_kept
        selection, last = refill.select(cluster, files["kept"], kept_rows, kept_tokens)
        log(
            f"dedup round {rounds}: {in_window - kept_in_window:,} of {in_window:,} rows in "
            f"the window are near-duplicates of better ones"
        )
        if window == cut.EVERYTHING or _at_or_before(last, window):
            break
        window = refill.widened(
            cluster, saved, Round(in_window, kept_in_window, last, rows, tokens)
        )
    counts = Counter(
        dedup_rounds=rounds, **_removed_and_clusters(cluster, files, selection, options)
    )
    return files["kept"], selection, counts


def _at_or_before(a: cut.Boundary, b: cut.Boundary) -> bool:
    """Does boundary ``a`` select no row that ``b`` does not?"""
    return a.score > b.score or (a.score == b.score and a.row_id <= b.row_id)


def count(
    cluster: Cluster, uris: list[str], boundary: cut.Boundary, options: dict[str, Any]
) -> int:
    """The rows of ``uris`` (saved scores) that ``boundary`` selects."""
    return sum(n for _, n in cluster.map(worker.count_selected, uris, boundary, options))


def _removed_and_clusters(
    cluster: Cluster, files: dict[str, list[str]], selection: cut.Selector, options: dict[str, Any]
) -> dict[str, int]:
    """The removed rows the final selection would take, and the kept rows they were pushed
    out for (each counted once, by its own shard)."""
    jobs = list(zip(files["removed"], files["pushed"], files["stood"]))
    removed = sum(n for _, n in cluster.map(_removed_taken, jobs, selection, options))
    clusters = sum(n for _, n in cluster.map(_clusters, files["kept"], files["stood"], options))
    return {"rows_removed_duplicate": removed, "duplicate_clusters": clusters}


def _members(
    uris: tuple[str, str],
    window: cut.Boundary,
    bands: dedup.Bands,
    partitions: int,
    options: dict[str, Any],
) -> None:
    """Step 1, a task per shard: its window rows' bucket records, sorted by partition."""
    saved, members = uris
    entries = storage.read_scores(saved, options)
    entries = entries[window.selects(entries)]
    records = dedup.bucket_members(entries, bands, partitions) if len(entries) else None
    storage.write_scores(
        members, np.empty(0, dedup.MEMBER) if records is None else records, options, "partition"
    )


def _resolve(job: tuple[int, str], members: list[str], options: dict[str, Any]) -> None:
    """Step 2, a task per partition: its buckets' records from every shard, resolved: each
    row pushed out, once per bucket, with the row it was pushed out for; sorted by row id."""
    partition, resolved = job
    found = order.concatenate(
        storage.read_scores(uri, options, ("partition", partition, partition)) for uri in members
    )
    pushed = dedup.resolve(found) if len(found) else np.empty(0, dedup.PUSHED)
    storage.write_scores(resolved, pushed, options, "row_id")


def _keep(
    uris: tuple[str, str, str, str],
    resolved: list[str],
    window: cut.Boundary,
    options: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, int]:
    """Step 3, a task per shard: its rows without those pushed out (saved as its scores to
    select from), the pushed-out ones, and whom they were pushed out for. Returns the kept
    rows' histograms and how many lie inside the window."""
    saved, kept_uri, removed_uri, pushed_uri = uris
    entries = storage.read_scores(saved, options)
    pushed = np.empty(0, dtype=dedup.PUSHED)
    if len(entries):
        span = ("row_id", int(entries["row_id"].min()), int(entries["row_id"].max()))
        pushed = order.concatenate(storage.read_scores(uri, options, span) for uri in resolved)
    out = np.isin(entries["row_id"], pushed["row_id"])
    kept = entries[~out]
    storage.write_scores(kept_uri, kept, options)
    storage.write_scores(removed_uri, entries[out], options)
    storage.write_scores(
        pushed_uri, np.unique(pushed), options
    )  # a pair met in several buckets: once
    kept_rows, kept_tokens = histograms.rows_and_tokens(kept)
    return kept_rows, kept_tokens, int(window.selects(kept).sum())


def _removed_taken(
    uris: tuple[str, str, str], selection: cut.Selector, options: dict[str, Any]
) -> int:
    """A task per shard: how many of its removed rows the selection would take; saves the
    rows they were pushed out for, sorted by row id (for _clusters)."""
    removed_uri, pushed_uri, stood_uri = uris
    removed = storage.read_scores(removed_uri, options)
    taken = removed["row_id"][selection.selects(removed)] if len(removed) else []
    pushed = storage.read_scores(pushed_uri, options)
    stood = np.unique(pushed["for_row"][np.isin(pushed["row_id"], taken)])
    storage.write_scores(stood_uri, np.rec.fromarrays([stood], dtype=STOOD_FOR), options, "row_id")
    return len(taken)


def _clusters(kept_uri: str, stood: list[str], options: dict[str, Any]) -> int:
    """A task per shard: its kept rows that some removed selected row was pushed out for."""
    kept = storage.read_scores(kept_uri, options)["row_id"]
    if not len(kept):
        return 0
    span = ("row_id", int(kept.min()), int(kept.max()))
    found = order.concatenate(storage.read_scores(uri, options, span) for uri in stood)
    return int(np.isin(np.unique(found["row_id"]), kept).sum())
