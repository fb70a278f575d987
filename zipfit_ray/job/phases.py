"""The driver's phases of a selection, each over every shard: score, write the selection's
parts, and sort a copy best first. The driver adds up notes; tasks do the work."""

from __future__ import annotations

from typing import Any

import numpy as np

from zipfit_ray import storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import worker
from zipfit_ray.job.notes import Selection, Tally
from zipfit_ray.job.runtime import RayCluster
from zipfit_ray.progress import Progress
from zipfit_ray.selection import order
from zipfit_ray.selection.cut import Selector, Where
from zipfit_ray.storage import columns, outputs

Source = storage.Shard | str  # a shard to score, or the scores a job saved for one


def score(
    cluster: RayCluster,
    sources: list[tuple[Source, str]],
    finished: set[str],
    shared: worker.Shared,
    shared_ref: Any,
) -> Tally:
    """One task per source, adding up their notes. Shards with a checkpoint from an earlier
    run of the same job are loaded, not scored."""
    tally = Tally()
    to_score = [s for s, n in sources if isinstance(s, storage.Shard) and n not in finished]
    # by rows where every shard to score knows its rows (JSONL does not; saved scores: none)
    by_rows = bool(to_score) and all(p.num_rows for s in to_score for p in s.pieces)
    progress = (
        Progress("score", sum(s.num_rows for s in to_score), "rows")
        if by_rows
        else Progress("score", len(sources), "shards")
    )
    jobs = ((source, name, name in finished) for source, name in sources)
    found = cluster.map(worker.process_shard, jobs, shared_ref)
    for shards_done, ((_, name, _), notes) in enumerate(found, start=1):
        shared.mode.shard_finished(name)
        tally.add(name, notes)
        if by_rows:
            scored_rows = 0 if notes.resumed else notes.counts.get("rows_read", 0)
            progress.advance(scored_rows, f"{shards_done}/{len(sources)} shards")
        else:
            progress.advance(1, f"{tally.counts['rows_read']:,} rows read")
    progress.close()
    return tally


def saved_histograms(
    cluster: RayCluster,
    saved: list[str],
    options: dict[str, Any],
    key: order.OrderKey = "score",
    where: Where | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and tokens per histogram bin of ``key`` over every saved row (that ``where``
    lets through): what a cut by ``key`` starts from (the scoring tasks' own histograms are
    of the score, over every row)."""
    rows = tokens = None
    found = cluster.map(worker.shard_histograms, saved, options, key, where)
    for _, (shard_rows, shard_tokens) in found:
        rows = shard_rows if rows is None else rows + shard_rows
        tokens = shard_tokens if tokens is None else tokens + shard_tokens
    return rows, tokens


def write(
    cluster: RayCluster,
    saved: list[str],
    boundary: Selector,
    shared_ref: Any,
    config: SelectConfig,
) -> Selection:
    """Write the selection as parts in pool order: runs of consecutive shards holding about
    --part-rows selected rows each (a shard is never split), each part written by one task
    that reads the row groups it needs once. Drops stale parts."""
    options = config.runtime.storage_options
    counted = dict(cluster.map(worker.count_selected, saved, boundary, options))
    runs: list[list[str]] = [[]]
    rows_in_run = 0
    for uri in saved:
        if not counted[uri]:
            continue
        if runs[-1] and rows_in_run + counted[uri] > config.output.part_rows:
            runs.append([])
            rows_in_run = 0
        runs[-1].append(uri)
        rows_in_run += counted[uri]
    runs = [r for r in runs if r]
    names = [outputs.part_name(i, config.output.part_suffix) for i in range(len(runs))]
    outputs.record(config.output.out, names, options)  # before any task writes one
    progress = Progress("write", len(runs), "parts")
    selection = Selection()
    jobs = ((storage.join(config.output.out, name), uris) for name, uris in zip(names, runs))
    for _, written in cluster.map(worker.write_part, jobs, boundary, shared_ref):
        selection.add(written)
        progress.advance(1)
    progress.close()
    outputs.remove_stale(config.output.out, keep=set(names), options=options)
    return selection


def rank(config: SelectConfig, parts: list[str], score_column: str) -> None:
    """A copy of the selection best first, as <out>/ranked/part-*.parquet: Ray Data sorts
    the parts by score, then pool position (the job's order). Its files hold disjoint runs
    of that order, so ordering them by their first rows gives the names."""
    import ray.data

    options = config.runtime.storage_options
    ranked = storage.join(config.output.out, outputs.RANKED)
    if storage.exists(ranked, options):
        storage.remove(ranked, options)
    if not parts:
        return
    fs, root = storage.arrow_filesystem(config.output.out, options)
    key = [score_column, columns.POSITION]
    ray.data.read_parquet([f"{root}/{p}" for p in parts], filesystem=fs).sort(
        key, descending=[True, False]
    ).write_parquet(f"{root}/{outputs.RANKED}", filesystem=fs)
    written = [storage.join(ranked, n) for n in storage.list_names(ranked, options)]
    firsts = {uri: storage.first_row(uri, key, options) for uri in written}
    for uri in [u for u, first in firsts.items() if first is None]:
        storage.remove(uri, options)
    ordered = sorted(
        (u for u in written if firsts[u]), key=lambda u: (-firsts[u][key[0]], firsts[u][key[1]])
    )
    for i, uri in enumerate(ordered):
        storage.move(uri, storage.join(ranked, outputs.part_name(i, ".parquet")), options)


def check_rank_possible(config: SelectConfig) -> None:
    """--order score sorts with Ray Data: say so before any work if it is missing."""
    if config.output.order == "score":
        try:
            import ray.data  # noqa: F401
        except ImportError as exc:
            raise ZipfitError(
                "--order score: sorts with Ray Data (pip install 'zipfit-ray[data]')"
            ) from exc
