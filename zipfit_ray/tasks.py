"""The Ray tasks (and the one actor) of a job: each a thin wrapper around plain functions
of scoring, storage, selection and the approximate modes. job.py orchestrates them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import ray

from zipfit_ray import checkpoints, compare, scoring, stats, storage, topk
from zipfit_ray.alignment import PreparedTargets, score
from zipfit_ray.config import SelectConfig
from zipfit_ray.early_exit import EarlyExit, EarlyExitScorer
from zipfit_ray.prefilter import DictionaryPrefilter
from zipfit_ray.selection import SelectionRule
from zipfit_ray.tokens import TokenCounter

TASK_RETRIES = 3  # Ray reruns a task whose worker or node died this often
SCORES = "scores"  # --all-scores: <out>/scores/<shard>.parquet and _job.json


@dataclass(frozen=True)
class Shared:
    """What every shard task needs, put in the object store once."""

    config: SelectConfig
    targets: PreparedTargets | None  # None when re-selecting from saved scores
    tokenizer_json: str | None
    files: dict[int, tuple[str, tuple[int, ...]]]  # file index -> (path, row group sizes)
    schema: pa.Schema
    board: Any = None  # approx-early-exit with --k: the ThresholdBoard actor


# ---------------------------------------------------------------- tasks


@ray.remote(num_returns=2, max_retries=TASK_RETRIES)
def process_shard(
    source: storage.Shard | str, shared: Shared, name: str, resume: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    """Score one shard (or load its checkpoint, or its saved scores: ``source`` a path) and
    keep what the rule keeps. Returns (kept entries, notes for the driver).

    The checkpoint is written by the task itself, so finished work survives the driver.
    """
    config = shared.config
    checkpoint = checkpoints.uri(config.out, name)
    if resume:
        outcome = checkpoints.load(checkpoint, config.storage_options)
    elif isinstance(source, str):
        saved = storage.read_scores(source, config.storage_options)
        entries = topk.entries(*(saved.column(n).to_numpy() for n in topk.ENTRY.names))
        outcome = _conclude(
            scoring.ShardOutcome(entries, Counter(rows_read=len(entries))), shared, name
        )
    else:
        # rows' tokens are needed to select by budget and to save for reselect; otherwise only
        # the selected rows' tokens are counted, as they are written
        needs_tokens = config.budget_tokens is not None or config.all_scores
        tokens = TokenCounter(shared.tokenizer_json) if needs_tokens else None
        outcome = _conclude(
            scoring.score_shard(source, _scorer(shared, name), config, tokens), shared, name
        )
        checkpoints.save(checkpoint, outcome, config.storage_options)
    return outcome.entries, {
        "counts": dict(outcome.counts),
        "bad_files": outcome.bad_files,
        "groups": dict(outcome.groups),
        "histogram": outcome.histogram,
        "length_histogram": outcome.length_histogram,
        "selected": outcome.selected,
        "resumed": resume,
    }


def _scorer(shared: Shared, name: str) -> scoring.Scorer:
    """How this job scores a batch of texts (see config.MODES)."""
    config = shared.config
    if config.mode == "approx-early-exit":
        board = _BoardClient(shared.board, name) if shared.board else None
        return EarlyExitScorer(shared.targets, config.rule, EarlyExit(config.early_exit_z), board)
    if config.mode in ("approx-cascade", "approx-prefilter"):
        prefilter = DictionaryPrefilter(shared.targets.texts, config.prefilter)
        return lambda texts: (prefilter.score(texts), 0)
    return scoring.exact_scorer(shared.targets)


@ray.remote(num_cpus=0)
class ThresholdBoard:
    """The cluster-wide lower bound on the K-th best exact score, for early exit: the sum
    of every shard's histogram of exact scores. A shard re-posts its whole histogram, so a
    retried task replaces, not adds to, what it posted before it died."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.finished_total = stats.histogram(np.empty(0))
        self.in_progress: dict[str, np.ndarray] = {}
        self.finished: set[str] = set()

    def post(self, shard: str, histogram: np.ndarray) -> None:
        if shard not in self.finished:
            self.in_progress[shard] = histogram

    def finish(self, shard: str) -> None:
        if shard not in self.finished:
            self.finished.add(shard)
            self.finished_total += self.in_progress.pop(shard, 0)

    def bound(self) -> float:
        total = self.finished_total + sum(self.in_progress.values())
        return stats.kth_best_lower_bound(total, self.k)


class _BoardClient:
    """One shard's view of the board, as early_exit.Board."""

    def __init__(self, actor: Any, shard: str) -> None:
        self.actor, self.shard = actor, shard

    def bound(self) -> float:
        return ray.get(self.actor.bound.remote())

    def post(self, histogram: np.ndarray) -> None:
        self.actor.post.remote(self.shard, histogram)


def _conclude(outcome: scoring.ShardOutcome, shared: Shared, name: str) -> scoring.ShardOutcome:
    """From all of a shard's scored rows to what it contributes: saved scores (--all-scores),
    a histogram, and the rows the rule keeps; with --min-score those are written out here."""
    config, scored = shared.config, outcome.entries
    if config.all_scores:
        storage.write_scores(
            storage.join(config.out, SCORES, name + ".parquet"), scored, config.storage_options
        )
    outcome.histogram = stats.histogram(scored["score"])
    outcome.length_histogram = stats.length_histogram(scored["length"])
    outcome.entries = config.rule.keep(scored)
    if config.rule.streamed:
        kept = outcome.entries[np.argsort(outcome.entries["row_id"], kind="stable")]
        part = f"part-{name}.parquet"
        written = (
            _write_part(storage.join(config.out, part), kept, shared)
            if len(kept)
            else {"groups": {}, "tokens": 0}
        )
        outcome.selected = {
            "part": part if len(kept) else None,
            "rows": len(kept),
            "histogram": stats.histogram(kept["score"]).tolist(),
            "length_histogram": stats.length_histogram(kept["length"]).tolist(),
            **written,
        }
        outcome.entries = kept[:0]
    return outcome


@ray.remote(max_retries=TASK_RETRIES)
def rescore_rows(file_index: int, rows: np.ndarray, shared: Shared) -> tuple[np.ndarray, int]:
    """approx-cascade's second pass: exact scores of shortlisted rows of one file.
    Returns (entries, pair compressions)."""
    config = shared.config
    path, row_group_sizes = shared.files[file_index]
    texts = _read_texts(
        path, row_group_sizes, rows, config.text_column, config.max_bytes, config.storage_options
    )
    scores, pairs = scoring.exact_scorer(shared.targets)(texts)
    lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
    scored = topk.entries(scores, storage.pack_row_id(file_index, rows), lengths=lengths)
    return config.rule.keep(scored), pairs


@ray.remote(max_retries=TASK_RETRIES)
def merge_results(rule: SelectionRule, *parts: np.ndarray) -> np.ndarray:
    return rule.merge(parts)


@ray.remote(max_retries=TASK_RETRIES)
def write_part(uri: str, selected: np.ndarray, shared: Shared) -> dict[str, Any]:
    return _write_part(uri, selected, shared)


def _write_part(uri: str, selected: np.ndarray, shared: Shared) -> dict[str, Any]:
    """Read back the selected rows (all columns), in the order given, add the score, write
    one part. Returns its rows per --group-column value and its tokens."""
    config = shared.config
    table = storage.write_part(
        uri, selected, shared.files, shared.schema, config.storage_options, score_column(config)
    )
    texts = storage.column_bytes(table.column(config.text_column))
    tokens = TokenCounter(shared.tokenizer_json).count([t[: config.max_bytes] for t in texts])
    return {"groups": _group_counts(table, config.group_column), "tokens": int(tokens.sum())}


def score_column(config: SelectConfig) -> str:
    """approx-prefilter's scores are not ZIP-FIT's, and their column says so."""
    return "prefilter_score" if config.mode == "approx-prefilter" else storage.SCORE_COLUMN


def _group_counts(table: pa.Table, column: str | None) -> dict[str, int]:
    return dict(scoring.group_counts(table.column(column).to_pylist())) if column else {}


@ray.remote(max_retries=TASK_RETRIES)
def score_sample(
    reads: list[compare.SampleRead],
    targets: PreparedTargets,
    text_column: str,
    max_bytes: int,
    options: dict[str, Any],
) -> np.ndarray:
    """Alignment of sampled rows (nulls skipped, long texts cut as in select)."""
    texts: list[bytes] = []
    for read in reads:
        texts += _read_texts(
            read.path, read.row_group_sizes, read.rows, text_column, max_bytes, options
        )
    return score(texts, targets)


def _read_texts(
    path: str,
    row_group_sizes: tuple[int, ...],
    rows: np.ndarray,
    column: str,
    max_bytes: int,
    options: dict[str, Any],
) -> list[bytes]:
    """The non-null texts of the given rows of one file, cut to max_bytes as in scoring."""
    table = storage.read_rows(path, row_group_sizes, rows, options, columns=[column])
    return [t[:max_bytes] for t in storage.column_bytes(table.column(0)) if t is not None]
