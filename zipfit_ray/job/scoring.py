"""Scoring one shard: read its texts, apply the row rules, run the kernel, count tokens.

Plain Python (no Ray), so it is tested directly; the job runs it inside a Ray task.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from zipfit_ray import storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.modes.base import BATCH_ROWS, Scorer
from zipfit_ray.selection import dedup, order, quotas
from zipfit_ray.selection.contamination import ContaminationIndex
from zipfit_ray.selection.tokens import TokenCounter
from zipfit_ray.storage import jsonl

READ_ATTEMPTS = 3  # a row group is read (and scored) at most this often before giving up
RETRY_DELAY = 0.5  # seconds before the first retry; doubles each time
NULL_GROUP = "(null)"


def group_labels(values: Iterable[Any]) -> list[str]:
    """--group-column values as text; nulls as NULL_GROUP."""
    return [NULL_GROUP if v is None else str(v) for v in values]


@dataclass
class ShardOutcome:
    """Every scored row of one shard, and what was counted on the way."""

    entries: np.ndarray  # every scored row, as records.scores_dtype (saved, not returned)
    counts: Counter = field(default_factory=Counter)  # rows_read, rows_skipped_null, ...
    bad_files: list[str] = field(default_factory=list)
    groups: Counter = field(default_factory=Counter)  # scored rows per --group-column value
    jsonl_kinds: dict[str, list[str]] = field(default_factory=dict)  # each field's JSON kinds
    contaminated: list[dict] = field(default_factory=list)  # rows the guard flagged, and why


@dataclass(frozen=True)
class ShardScoring:
    """How a task scores its shard: the plan, the mode's scorer, the record each scored row
    is saved as (records.scores_dtype), and the token counter and the guard where the job
    needs them."""

    config: SelectConfig
    scorer: Scorer
    record: np.dtype = order.ENTRY
    tokens: TokenCounter | None = None
    batch_rows: int = BATCH_ROWS
    guard: ContaminationIndex | None = None


def score_shard(shard: storage.Shard, how: ShardScoring) -> ShardOutcome:
    """Score every row of ``shard``, ``how.batch_rows`` at a time; entries for all of them
    (but those the scorer drops), in pool order, with token counts if ``how.tokens`` is
    given (else 0).

    Null texts are skipped, texts longer than ``config.reading.max_bytes`` are cut to that length,
    and each row group is retried with backoff on read errors. A row group that still fails
    is an error naming the file, or is skipped and counted with ``--on-bad-file skip``.
    Rows the contamination ``guard`` flags are noted; with --decontaminate drop they are
    not scored at all, so they never take a place in the selection.
    """
    config = how.config
    outcome = ShardOutcome(np.empty(0, dtype=how.record))
    pieces = []
    for piece in shard.pieces:
        try:
            piece_outcome = _score_piece_with_retries(piece, how)
        except (OSError, pa.ArrowException) as exc:
            if config.reading.on_bad_file != "skip":
                raise ZipfitError(
                    f"{piece.describe()}: cannot be read ({exc}); "
                    "--on-bad-file skip leaves such files and row groups out"
                ) from exc
            outcome.counts["rows_skipped_bad_file"] += piece.num_rows
            if piece.path not in outcome.bad_files:
                outcome.bad_files.append(piece.path)
            continue
        pieces.append(piece_outcome.entries)
        outcome.counts.update(piece_outcome.counts)
        outcome.groups.update(piece_outcome.groups)
        outcome.contaminated += piece_outcome.contaminated
        jsonl.merge_kinds(outcome.jsonl_kinds, piece_outcome.jsonl_kinds)
    outcome.entries = order.concatenate(pieces, how.record)
    return outcome


def _score_piece_with_retries(piece: storage.Piece, how: ShardScoring) -> ShardOutcome:
    attempt = 1
    while True:
        try:
            return _score_piece(piece, how)
        except (OSError, pa.ArrowException):
            if attempt == READ_ATTEMPTS:
                raise
            time.sleep(RETRY_DELAY * 2 ** (attempt - 1))
            attempt += 1


def _score_piece(piece: storage.Piece, how: ShardScoring) -> ShardOutcome:
    config, guard, tokens = how.config, how.guard, how.tokens
    outcome = ShardOutcome(np.empty(0, dtype=how.record))
    batches = []
    columns = [
        config.reading.text_column,
        *([config.groups.group_column] if config.groups.group_column else []),
    ]
    kinds: dict[str, set[str]] = {}

    def on_bad_line(number: int, why: str) -> None:
        if config.reading.on_bad_file != "skip":
            raise ZipfitError(
                f"{piece.path} line {number + 1}: {why}; --on-bad-file skip leaves such lines out"
            )
        outcome.counts["rows_skipped_bad_line"] += 1

    for texts, groups, row_ids in storage.iter_piece_texts(
        piece, columns, how.batch_rows, config.runtime.storage_options, on_bad_line, kinds
    ):
        outcome.counts["rows_read"] += len(texts)
        present = np.fromiter((t is not None for t in texts), dtype=bool, count=len(texts))
        outcome.counts["rows_skipped_null"] += int((~present).sum())
        kept = [t for t in texts if t is not None]
        outcome.counts["rows_truncated"] += sum(len(t) > config.reading.max_bytes for t in kept)
        kept = [t[: config.reading.max_bytes] for t in kept]
        ids = row_ids[present]
        values = [g for g, p in zip(groups, present) if p] if groups is not None else None
        if guard is not None:
            eligible = _guard(guard, kept, ids, config.trust.decontaminate, outcome)
            kept = [t for t, e in zip(kept, eligible) if e]
            ids = ids[eligible]
            values = [g for g, e in zip(values, eligible) if e] if values is not None else None
        start = time.perf_counter()
        scores, counts, beside = how.scorer(kept, ids)
        outcome.counts["scoring_core_seconds"] += time.perf_counter() - start
        outcome.counts.update(counts)
        finished = ~np.isnan(scores)
        outcome.counts["rows_dropped_early"] += int((~finished).sum())
        token_counts = tokens.count(kept) if tokens else None
        lengths = np.fromiter((len(t) for t in kept), np.int64, len(kept))
        entries = order.with_fields(order.entries(scores, ids, token_counts, lengths), beside)
        labels = group_labels(values) if values is not None else None
        if labels is not None:  # each row's group, for quotas (selection/quotas.py)
            keys = quotas.group_keys(labels)
            entries = order.with_fields(entries, {quotas.GROUP_FIELD: keys})
        if config.trust.banded:  # the near-duplicate signature, banded (selection/dedup.py)
            bands = dedup.lsh_bands(config.trust.dedup_threshold)
            entries = dedup.with_bands(entries, bands.hashes(kept), bands)
        if entries.dtype != how.record:  # a bug: the record is declared per job
            raise RuntimeError(f"scored rows are {entries.dtype}, not {how.record}")
        batches.append(entries[finished])
        if labels is not None:  # counted over every row scored, dropped early or not
            outcome.groups.update(labels)
    outcome.entries = order.concatenate(batches, how.record)
    outcome.jsonl_kinds = {name: sorted(seen) for name, seen in kinds.items()}
    return outcome


def _guard(
    guard: ContaminationIndex,
    texts: list[bytes],
    row_ids: np.ndarray,
    decontaminate: str,
    outcome: ShardOutcome,
) -> np.ndarray:
    """Check each row against the targets and eval sets; note the ones it flags. Returns
    which rows go on to be scored: all of them, or with ``drop`` the unflagged ones."""
    eligible = np.ones(len(texts), dtype=bool)
    for i, (text, row_id) in enumerate(zip(texts, row_ids.tolist())):
        match = guard.check(text)
        if match is None:
            continue
        outcome.counts["rows_contaminated"] += 1
        outcome.contaminated.append(
            {
                "row_id": row_id,
                "text": text.decode("utf-8", errors="replace"),
                "matched_set": match.set_name,
                "matched_item": match.item,
                "matched_share": match.item_share,
                "matched_row_share": match.row_share,
                "matched_rule": match.rule,
                "matched_excerpt": match.excerpt,
            }
        )
        eligible[i] = decontaminate != "drop"
    return eligible
