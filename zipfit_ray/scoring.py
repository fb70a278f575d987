"""Scoring one shard: read its texts, apply the row rules, run the kernel, keep a top-K.

Plain Python (no Ray), so it is tested directly; the job runs it inside a Ray task.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from zipfit_ray import storage, topk
from zipfit_ray.alignment import PreparedTargets, score
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError

BATCH_ROWS = 1024  # rows per kernel call
READ_ATTEMPTS = 3  # a row group is read (and scored) at most this often before giving up
RETRY_DELAY = 0.5  # seconds before the first retry; doubles each time

COUNT_KEYS = ("rows_read", "rows_skipped_null", "rows_truncated", "rows_skipped_bad_file")


@dataclass
class ShardResult:
    entries: np.ndarray  # topk.ENTRY, best first, at most k
    counts: Counter = field(default_factory=Counter)  # COUNT_KEYS
    bad_files: list[str] = field(default_factory=list)


def score_shard(
    shard: storage.Shard, targets: PreparedTargets, config: SelectConfig
) -> ShardResult:
    """Score every row of ``shard`` and keep its top ``config.k``.

    Null texts are skipped, texts longer than ``config.max_bytes`` are cut to that length,
    and each row group is retried with backoff on read errors. A row group that still fails
    is an error naming the file, or is skipped and counted with ``--on-bad-file skip``.
    """
    result = ShardResult(np.empty(0, dtype=topk.ENTRY))
    for piece in shard.pieces:
        try:
            piece_entries, piece_counts = _score_piece_with_retries(piece, targets, config)
        except (OSError, pa.ArrowException) as exc:
            if config.on_bad_file != "skip":
                raise ZipfitError(
                    f"{piece.path}: cannot read row group {piece.row_group} ({exc}); "
                    "--on-bad-file skip leaves such row groups out"
                ) from exc
            result.counts["rows_skipped_bad_file"] += piece.num_rows
            if piece.path not in result.bad_files:
                result.bad_files.append(piece.path)
            continue
        result.entries = topk.merge([result.entries, piece_entries], config.k)
        result.counts.update(piece_counts)
    return result


def _score_piece_with_retries(
    piece: storage.Piece, targets: PreparedTargets, config: SelectConfig
) -> tuple[np.ndarray, Counter]:
    attempt = 1
    while True:
        try:
            return _score_piece(piece, targets, config)
        except (OSError, pa.ArrowException):
            if attempt == READ_ATTEMPTS:
                raise
            time.sleep(RETRY_DELAY * 2 ** (attempt - 1))
            attempt += 1


def _score_piece(
    piece: storage.Piece, targets: PreparedTargets, config: SelectConfig
) -> tuple[np.ndarray, Counter]:
    best = np.empty(0, dtype=topk.ENTRY)
    counts: Counter = Counter()
    batches = storage.iter_piece_texts(
        piece, config.text_column, BATCH_ROWS, config.storage_options
    )
    for texts, row_ids in batches:
        counts["rows_read"] += len(texts)
        present = np.fromiter((t is not None for t in texts), dtype=bool, count=len(texts))
        counts["rows_skipped_null"] += int((~present).sum())
        kept = [t for t in texts if t is not None]
        counts["rows_truncated"] += sum(len(t) > config.max_bytes for t in kept)
        kept = [t[: config.max_bytes] for t in kept]
        best = topk.merge([best, topk.entries(score(kept, targets), row_ids[present])], config.k)
    return best, counts
