"""What runs on a worker: plain functions that the driver submits as tasks (runtime.RayCluster),
each reading and writing its own files and returning small notes, never rows."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from zipfit_ray import storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.job import checkpoints, scoring
from zipfit_ray.job.notes import (
    CONTAMINATED_LISTED,
    EXAMPLES,
    PartNotes,
    ShardNotes,
    excerpt,
    section_stats,
)
from zipfit_ray.kernel.alignment import PreparedTargets
from zipfit_ray.modes.base import Mode
from zipfit_ray.selection import coverage, cut, histograms, order, quotas
from zipfit_ray.selection.contamination import ContaminationIndex
from zipfit_ray.selection.tokens import TokenCounter
from zipfit_ray.storage import columns, outputs


@dataclass(frozen=True)
class Shared:
    """What every task needs, put in the object store once."""

    config: SelectConfig
    mode: Mode  # started: it may hold what its shards share (early exit's board)
    targets: PreparedTargets | None  # None when re-selecting from saved scores
    tokenizer_json: str | None
    files: dict[int, tuple[str, tuple[int, ...]]]  # file index -> (path, row group sizes)
    schema: pa.Schema  # the output's columns (with JSONL files: known once all are read)
    record: np.dtype  # each saved row's fields (records.scores_dtype)
    streamed: bool = False  # --min-score on a pool without JSONL: shards write their rows
    guard: ContaminationIndex | None = None  # the targets' and eval sets' n-grams


def process_shard(job: tuple[storage.Shard | str, str, bool], shared: Shared) -> ShardNotes:
    """Score one shard (``job``: the shard, its name, and whether its checkpoint is to be
    loaded instead) and save its scored rows; or, ``job[0]`` a path, count the scores a job
    saved there. Returns the notes for the driver.

    The checkpoint is written by the task itself, so finished work survives the driver.
    """
    source, name, resume = job
    config = shared.config
    checkpoint = checkpoints.uri(config.output.out, name)
    if resume:
        return checkpoints.load(checkpoint, config.runtime.storage_options)
    if isinstance(source, str):
        entries = storage.read_scores(source, config.runtime.storage_options)
        return _conclude(
            scoring.ShardOutcome(entries, Counter(rows_read=len(entries))), shared, name, None
        )
    # rows' tokens are needed to select by budget and to save for reselect; otherwise only
    # the selected rows' tokens are counted, as they are written
    needs_tokens = config.selecting.rule.by_tokens or config.output.all_scores
    tokens = TokenCounter(shared.tokenizer_json) if needs_tokens else None
    scorer = shared.mode.scorer(shared.targets, name)
    how = scoring.ShardScoring(
        config, scorer, shared.record, tokens, shared.mode.batch_rows, shared.guard
    )
    scored = scoring.score_shard(source, how)
    shared.mode.finish_shard(scorer, name)
    notes = _conclude(scored, shared, name, outputs.scores_uri(config.output.out, name))
    if scored.contaminated:
        notes.contaminated_by_set = dict(Counter(r["matched_set"] for r in scored.contaminated))
        notes.contaminated_examples = _write_contaminated(scored.contaminated, shared, name)
    checkpoints.save(checkpoint, notes, config.runtime.storage_options)
    return notes


def _conclude(
    outcome: scoring.ShardOutcome, shared: Shared, name: str, save_to: str | None
) -> ShardNotes:
    """From all of a shard's scored rows to what it contributes: its saved scores (to
    ``save_to``), histograms of scores, tokens and lengths; with --min-score the boundary is
    known, so its selected rows are written out here."""
    config, scored = shared.config, outcome.entries
    if save_to is not None:
        storage.write_scores(save_to, scored, config.runtime.storage_options)
    selected = None
    if shared.streamed:
        boundary = cut.at_least(config.selecting.threshold)
        part = storage.join(
            config.output.out, outputs.streamed_part_name(name, config.output.part_suffix)
        )
        selected = write_selected(part, scored[boundary.selects(scored)], boundary, shared)
    rows, tokens = histograms.rows_and_tokens(scored)
    return ShardNotes(
        counts=dict(outcome.counts),
        bad_files=outcome.bad_files,
        groups=dict(outcome.groups),
        histogram=rows,
        token_histogram=tokens,
        length_histogram=histograms.length_histogram(scored["length"]),
        selected=selected,
        jsonl_kinds=outcome.jsonl_kinds,
    )


def _write_contaminated(rows: list[dict], shared: Shared, name: str) -> list[dict[str, Any]]:
    """The shard's flagged rows as contaminated/<shard>.parquet, each with its pool file and
    row and the item it holds; returns the first few, shortened, for the summary."""
    file_index, row_index = storage.unpack_row_id(np.array([r["row_id"] for r in rows]))
    located = [
        {"source": shared.files[int(f)][0], "row": int(i), **r}
        for f, i, r in zip(file_index, row_index, rows)
    ]
    storage.write_atomic(
        outputs.contaminated_uri(shared.config.output.out, name),
        pa.Table.from_pylist(located),
        shared.config.runtime.storage_options,
    )
    return [{**r, "text": excerpt(r["text"])} for r in located[:CONTAMINATED_LISTED]]


def count_windows(
    uri: str,
    windows: list[cut.Window],
    options: dict[str, Any],
    key: order.OrderKey = "score",
    where: cut.Where | None = None,
) -> cut.Counts:
    """One shard's saved rows (those ``where`` lets through) counted per window of the order
    by ``key`` (see cut.find)."""
    return cut.count(_saved_rows(uri, options, key, where), windows)


def gather_window(
    uri: str,
    window: cut.Window,
    options: dict[str, Any],
    key: order.OrderKey = "score",
    where: cut.Where | None = None,
) -> np.ndarray:
    """One shard's saved rows inside a window of the order by ``key``: the boundary's
    neighbourhood."""
    entries = _saved_rows(uri, options, key, where)
    return entries[window.holds(entries)]


def count_windows_each(
    uri: str, windows: dict[str, list[cut.Window]], options: dict[str, Any]
) -> dict[str, cut.Counts]:
    """One shard's saved rows counted per window of each field's order (cut.find_each)."""
    entries = storage.read_scores(uri, options)
    return {key: cut.count(order.by_field(entries, key), asked) for key, asked in windows.items()}


def gather_each(
    uri: str, windows: dict[str, cut.Window], options: dict[str, Any]
) -> dict[str, np.ndarray]:
    """One shard's saved rows inside each field's window, as ENTRY rows ordered by it."""
    entries, found = storage.read_scores(uri, options), {}
    for key, window in windows.items():
        inside = order.by_field(entries, key)
        found[key] = inside[window.holds(inside)]
    return found


def shard_histograms(
    uri: str, options: dict[str, Any], key: order.OrderKey = "score", where: cut.Where | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One shard's saved rows: rows and tokens per histogram bin of ``key``."""
    return histograms.rows_and_tokens(_saved_rows(uri, options, key, where))


def group_histograms(uri: str, options: dict[str, Any]) -> dict[int, tuple[np.ndarray, ...]]:
    """One shard's saved rows per group (quotas.GROUP_FIELD): rows and tokens per score bin."""
    entries = storage.read_scores(uri, options)
    groups = entries[quotas.GROUP_FIELD]
    return {
        key: histograms.rows_and_tokens(entries[groups == key])
        for key in np.unique(groups).tolist()
    }


def _saved_rows(
    uri: str, options: dict[str, Any], key: order.OrderKey, where: cut.Where | None
) -> np.ndarray:
    """A shard's saved rows that ``where`` lets through (all where None), ordered by ``key``."""
    entries = storage.read_scores(uri, options)
    return order.keyed(entries if where is None else entries[where(entries)], key)


def count_selected(uri: str, boundary: cut.Selector, options: dict[str, Any]) -> int:
    return int(boundary.selects(storage.read_scores(uri, options)).sum())


def write_part(job: tuple[str, list[str]], boundary: cut.Selector, shared: Shared) -> PartNotes:
    """The selected rows of consecutive shards (``job``: the part's URI and the shards'
    saved scores) as one part, each row group they touch read once."""
    part_uri, uris = job
    options = shared.config.runtime.storage_options
    selected = order.concatenate(
        entries[boundary.selects(entries)]
        for entries in (storage.read_scores(u, options) for u in uris)
    )
    return write_selected(part_uri, selected, boundary, shared)


def write_selected(
    uri: str, selected: np.ndarray, boundary: cut.Selector, shared: Shared
) -> PartNotes:
    """Write rows ``boundary`` selected as one part in pool order, every pool column plus
    the score and the selector's columns. Returns what the summary and report need of them:
    counts, histograms, tokens, groups and the best and last few rows (an empty selection
    writes nothing)."""
    config = shared.config
    if len(selected) == 0:
        return PartNotes()
    selected = selected[np.argsort(selected["row_id"], kind="stable")].copy()
    selected["score"], added = boundary.columns(selected)
    table = storage.write_part(
        uri,
        selected,
        shared.files,
        shared.schema,
        config.runtime.storage_options,
        shared.mode.score_column,
        with_position=config.output.order == "score",
        out_format=config.output.out_format,
        more_columns={columns.PREFIX + name: values for name, values in added.items()},
    )
    texts = storage.column_bytes(storage.field_values(table, config.reading.text_column))
    tokens = TokenCounter(shared.tokenizer_json).count(
        [t[: config.reading.max_bytes] for t in texts]
    )
    best_first = order.best_first_order(selected["score"], selected["row_id"])

    def example(i: int) -> dict[str, Any]:
        row = selected[i]
        return {
            "score": float(row["score"]),
            "row_id": int(row["row_id"]),
            "text": excerpt(texts[i]),
        }

    groups = (
        table.column(config.groups.group_column).to_pylist() if config.groups.group_column else []
    )
    group_labels = scoring.group_labels(groups)
    served = added.get(coverage.NEAREST)  # the item each row serves (--per-target, --cover)
    if served is None and coverage.NEAREST in selected.dtype.names:
        served = selected[coverage.NEAREST]  # else: the item it is nearest to
    labelled = {"target set": added.get("target"), "group": group_labels}
    sections = {
        kind: section_stats(labels, selected["score"], selected["length"], tokens)
        for kind, labels in labelled.items()
        if labels is not None and len(labels)
    }
    return PartNotes(
        coverage={} if served is None else dict(Counter(map(str, served.tolist()))),
        part=uri.rsplit("/", 1)[-1],
        rows=len(selected),
        tokens=int(tokens.sum()),
        groups=dict(Counter(group_labels)),
        histogram=histograms.histogram(selected["score"]).tolist(),
        length_histogram=histograms.length_histogram(selected["length"]).tolist(),
        best=[example(i) for i in best_first[:EXAMPLES]],
        last=[example(i) for i in best_first[-EXAMPLES:]],
        sections=sections,
    )
