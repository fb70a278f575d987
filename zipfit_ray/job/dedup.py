"""--dedup on the cluster: drop every row that a better row is a near-duplicate of
(selection/dedup.py says when), and refill the selection from below the cut.

The rows of a window (a prefix of the total order; at first, the rule's selection) are
shuffled by bucket in three steps, each a task per shard or per partition that reads and
writes its own files under OUT/_dedup/:

1. members: each shard's window rows, one record per band, sorted by partition;
2. resolved: each partition's buckets, resolved: which rows are pushed out and for whom,
   sorted by row id;
3. kept: each shard reads the records in its row-id range and saves its rows without the
   pushed-out ones (and, apart, the pushed-out ones and the rows they were pushed out for).

The rule's cut of the kept rows is final if it falls inside the window. If not, the window
widens by the share of rows removed so far and the steps run again; a row's fate depends
only on the rows before it, so the rows inside the old window keep theirs. No task holds
more than PARTITION_MEMBERS bucket records, whatever K, and the driver only adds up counts.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

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
# what a resolving task sends a shard: its row pushed out (for ``other``), or its row that
# ``other`` (scoring ``other_score``) was pushed out for
ROUTED = np.dtype([("row_id", "<i8"), ("other", "<i8"), ("other_score", "<f8"), ("pushed", "?")])


def deduplicate(
    cluster: Cluster,
    config: SelectConfig,
    rule: Cut,
    saved: list[str],
    names: list[str],
    boundary: cut.Boundary,
    known: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[list[str], cut.Boundary, Counter]:
    """The saved scores without the near-duplicates the selection would hold, ``rule``'s
    boundary over them (the job's rule, a share resolved to a count), and counts: rows
    removed from the selection, clusters (selected rows that near-duplicates were removed
    for), rounds. ``known``: the rows and tokens per histogram bin of ``saved``, if the
    caller has them (else they are counted, a read of every saved file)."""
    bands = dedup.lsh_bands(config.trust.dedup_threshold)
    options = config.runtime.storage_options
    kept = [outputs.dedup_uri(config.output.out, "kept", name) for name in names]
    removed = [outputs.dedup_uri(config.output.out, "removed", name) for name in names]
    heads = [outputs.dedup_uri(config.output.out, "heads", name) for name in names]
    window, rounds, scale = boundary, 0, 1.0
    rows, tokens = known or phases.saved_histograms(cluster, saved, options)
    while True:
        rounds += 1
        in_window = _count(cluster, saved, window, options)
        partitions = max(1, math.ceil(in_window * bands.bands / PARTITION_MEMBERS))
        members = [outputs.dedup_uri(config.output.out, "members", name) for name in names]
        jobs = list(zip(saved, members))
        for _ in cluster.map(_members, jobs, window, bands, partitions, options):
            pass
        resolved = [
            outputs.dedup_uri(config.output.out, "resolved", f"{p:05d}") for p in range(partitions)
        ]
        for _ in cluster.map(_resolve, list(enumerate(resolved)), members, options):
            pass
        kept_rows, kept_tokens = np.zeros_like(rows), np.zeros_like(tokens)
        kept_in_window = 0
        jobs = list(zip(saved, kept, removed, heads))
        for _, (shard_rows, shard_tokens, shard_kept) in cluster.map(
            _keep, jobs, resolved, window, options
        ):
            kept_rows += shard_rows
            kept_tokens += shard_tokens
            kept_in_window += shard_kept
        final = boundary if rule.streamed else cluster.cut(rule, kept_rows, kept_tokens, kept)
        log(
            f"dedup round {rounds}: {in_window - kept_in_window:,} of {in_window:,} rows in "
            f"the window are near-duplicates of better ones"
        )
        if window == cut.EVERYTHING or _at_or_before(final, window):
            break
        # as many more as were removed, and a margin; at least a margin more than before
        scale = max(scale * MARGIN, MARGIN * in_window / max(kept_in_window, 1))
        window = cluster.cut(rule.widened(scale), rows, tokens, saved)
    counts = Counter(
        rows_removed_duplicate=_count(cluster, removed, final, options),
        duplicate_clusters=_count(cluster, heads, final, options),
        dedup_rounds=rounds,
    )
    return kept, final, counts


def _at_or_before(a: cut.Boundary, b: cut.Boundary) -> bool:
    """Does boundary ``a`` select no row that ``b`` does not?"""
    return a.score > b.score or (a.score == b.score and a.row_id <= b.row_id)


def _count(
    cluster: Cluster, uris: list[str], boundary: cut.Boundary, options: dict[str, Any]
) -> int:
    return sum(n for _, n in cluster.map(worker.count_selected, uris, boundary, options))


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
    """Step 2, a task per partition: its buckets' records from every shard, resolved; for
    each row pushed out, a record to its own shard and one to the shard of the row it was
    pushed out for (to count clusters), sorted by row id."""
    partition, resolved = job
    found = order.concatenate(
        storage.read_scores(uri, options, ("partition", partition, partition)) for uri in members
    )
    pushed = dedup.resolve(found) if len(found) else np.empty(0, dedup.PUSHED)
    routed = np.empty(2 * len(pushed), dtype=ROUTED)
    out, back = routed[: len(pushed)], routed[len(pushed) :]
    out["row_id"], out["other"], out["pushed"] = pushed["row_id"], pushed["for_row"], True
    out["other_score"] = np.nan
    back["row_id"], back["other"], back["pushed"] = pushed["for_row"], pushed["row_id"], False
    back["other_score"] = pushed["score"]
    storage.write_scores(resolved, routed, options, "row_id")


def _keep(
    uris: tuple[str, str, str, str],
    resolved: list[str],
    window: cut.Boundary,
    options: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, int]:
    """Step 3, a task per shard: its rows without those pushed out (saved as its scores
    to select from), the pushed-out ones, and its kept rows that others were pushed out
    for (saved as entries of their best such row: counted where the final cut selects
    it). Returns the kept rows' histograms and how many lie inside the window."""
    saved, kept_uri, removed_uri, heads_uri = uris
    entries = storage.read_scores(saved, options)
    routed = np.empty(0, dtype=ROUTED)
    if len(entries):
        span = ("row_id", int(entries["row_id"].min()), int(entries["row_id"].max()))
        routed = order.concatenate(storage.read_scores(uri, options, span) for uri in resolved)
    pushed = np.isin(entries["row_id"], routed["row_id"][routed["pushed"]] if len(routed) else [])
    kept = entries[~pushed]
    storage.write_scores(kept_uri, kept, options)
    storage.write_scores(removed_uri, entries[pushed], options)
    stood_for = routed[~routed["pushed"]] if len(routed) else routed
    stood_for = stood_for[np.isin(stood_for["row_id"], kept["row_id"])]
    # each kept row's best pushed-out near-duplicate first
    best = stood_for[
        np.lexsort((stood_for["other"], -stood_for["other_score"], stood_for["row_id"]))
    ]
    firsts = np.ones(len(best), dtype=bool)
    firsts[1:] = best["row_id"][1:] != best["row_id"][:-1]
    storage.write_scores(
        heads_uri, order.entries(best["other_score"][firsts], best["other"][firsts]), options
    )
    kept_rows, kept_tokens = histograms.rows_and_tokens(kept)
    return kept_rows, kept_tokens, int(window.selects(kept).sum())
