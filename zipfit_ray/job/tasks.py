"""The Ray tasks (and the one actor) of a job: each a thin wrapper around plain functions
of scoring, storage, selection and the approximate modes. job.py orchestrates them."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import ray

from zipfit_ray import storage
from zipfit_ray.analysis import dataset_alignment
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import checkpoints, scoring
from zipfit_ray.kernel.alignment import PreparedTargets, score
from zipfit_ray.modes.early_exit import EarlyExit, EarlyExitScorer
from zipfit_ray.modes.prefilter import DictionaryPrefilter
from zipfit_ray.report import EXAMPLES, excerpt
from zipfit_ray.selection import cut, histograms, order
from zipfit_ray.selection.rules import SelectionRule
from zipfit_ray.selection.tokens import TokenCounter
from zipfit_ray.storage import outputs

TASK_RETRIES = 3  # Ray reruns a task whose worker or node died this often


@dataclass(frozen=True)
class Shared:
    """What every shard task needs, put in the object store once."""

    config: SelectConfig
    targets: PreparedTargets | None  # None when re-selecting from saved scores
    tokenizer_json: str | None
    files: dict[int, tuple[str, tuple[int, ...]]]  # file index -> (path, row group sizes)
    schema: pa.Schema  # the output's columns (with JSONL files: known once all are read)
    streamed: bool = False  # --min-score on a pool without JSONL: shards write their rows
    board: Any = None  # approx-early-exit with --k: the ThresholdBoard actor


# ---------------------------------------------------------------- tasks


@ray.remote(max_retries=TASK_RETRIES)
def plan_files(
    files: list[str], text_column: str, options: dict[str, Any]
) -> list[storage.FilePlan | ZipfitError]:
    """Plans of a chunk of the pool's files (footers read here, not by the driver)."""
    return storage.plan_files(files, text_column, options)


@ray.remote(max_retries=TASK_RETRIES)
def process_shard(
    source: storage.Shard | str, shared: Shared, name: str, resume: bool
) -> dict[str, Any]:
    """Score one shard and save its scored rows (or load its checkpoint; or count the scores
    a job saved: ``source`` a path). Returns the notes for the driver: counts and
    histograms, never rows.

    The checkpoint is written by the task itself, so finished work survives the driver.
    """
    config = shared.config
    checkpoint = checkpoints.uri(config.out, name)
    if resume:
        outcome = checkpoints.load(checkpoint, config.storage_options)
    elif isinstance(source, str):
        entries = saved_entries(source, config.storage_options)
        outcome = _conclude(
            scoring.ShardOutcome(entries, Counter(rows_read=len(entries))), shared, name, None
        )
    else:
        # rows' tokens are needed to select by budget and to save for reselect; otherwise only
        # the selected rows' tokens are counted, as they are written
        needs_tokens = config.budget_tokens is not None or config.all_scores
        tokens = TokenCounter(shared.tokenizer_json) if needs_tokens else None
        early = config.mode == "approx-early-exit"
        check = scoring.exact_scorer(shared.targets) if early else None
        scored = scoring.score_shard(source, _scorer(shared, name), config, tokens, check)
        if early:
            storage.write_scores(
                outputs.checks_uri(config.out, name), scored.checked, config.storage_options
            )
        outcome = _conclude(scored, shared, name, outputs.scores_uri(config.out, name))
        checkpoints.save(checkpoint, outcome, config.storage_options)
    return {
        "counts": dict(outcome.counts),
        "bad_files": outcome.bad_files,
        "groups": dict(outcome.groups),
        "histogram": outcome.histogram,
        "token_histogram": outcome.token_histogram,
        "length_histogram": outcome.length_histogram,
        "selected": outcome.selected,
        "fields": outcome.fields,
        "resumed": resume,
    }


def saved_entries(uri: str, options: dict[str, Any]) -> np.ndarray:
    """A shard's saved scored rows, as order.ENTRY records."""
    saved = storage.read_scores(uri, options)
    return order.entries(*(saved.column(n).to_numpy() for n in order.ENTRY.names))


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
        self.finished_total = histograms.histogram(np.empty(0))
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
        return histograms.kth_best_lower_bound(total, self.k)


class _BoardClient:
    """One shard's view of the board, as early_exit.Board."""

    def __init__(self, actor: Any, shard: str) -> None:
        self.actor, self.shard = actor, shard

    def bound(self) -> float:
        return ray.get(self.actor.bound.remote())

    def post(self, histogram: np.ndarray) -> None:
        self.actor.post.remote(self.shard, histogram)


def _conclude(
    outcome: scoring.ShardOutcome, shared: Shared, name: str, save_to: str | None
) -> scoring.ShardOutcome:
    """From all of a shard's scored rows to what it contributes: its saved scores (to
    ``save_to``), histograms of scores, tokens and lengths; with --min-score the boundary is
    known, so its selected rows are written out here."""
    config, scored = shared.config, outcome.entries
    if save_to is not None:
        storage.write_scores(save_to, scored, config.storage_options)
    outcome.histogram = histograms.histogram(scored["score"])
    outcome.token_histogram = histograms.histogram(scored["score"], scored["tokens"])
    outcome.length_histogram = histograms.length_histogram(scored["length"])
    if shared.streamed:
        kept = scored[cut.at_least(config.min_score).selects(scored)]
        part = outputs.streamed_part_name(name, config.part_suffix)
        outcome.selected = _write_selected(storage.join(config.out, part), kept, shared)
    outcome.entries = scored[:0]
    return outcome


@ray.remote(max_retries=TASK_RETRIES)
def count_windows(uri: str, windows: list[cut.Window], options: dict[str, Any]) -> cut.Counts:
    """One shard's saved rows counted per window of the order (see cut.find)."""
    return cut.count(saved_entries(uri, options), windows)


@ray.remote(max_retries=TASK_RETRIES)
def gather_window(uri: str, window: cut.Window, options: dict[str, Any]) -> np.ndarray:
    """One shard's saved rows inside a window: the boundary's neighbourhood."""
    entries = saved_entries(uri, options)
    return entries[window.holds(entries)]


@ray.remote(max_retries=TASK_RETRIES)
def count_selected(uri: str, boundary: cut.Boundary, options: dict[str, Any]) -> int:
    return int(boundary.selects(saved_entries(uri, options)).sum())


@ray.remote(max_retries=TASK_RETRIES)
def write_part(
    part_uri: str, uris: list[str], boundary: cut.Boundary, shared: Shared
) -> dict[str, Any]:
    """The selected rows of consecutive shards (their saved scores at ``uris``) as one part,
    each row group they touch read once."""
    options = shared.config.storage_options
    selected = order.concatenate(
        entries[boundary.selects(entries)] for entries in (saved_entries(u, options) for u in uris)
    )
    return _write_selected(part_uri, selected, shared)


@ray.remote(max_retries=TASK_RETRIES)
def rescore_shard(uri: str, boundary: cut.Boundary, shared: Shared, save_to: str) -> dict[str, Any]:
    """approx-cascade's second pass over one shard: exact scores of its shortlisted rows
    (those the prefilter's boundary selects), saved to ``save_to``. Returns their histogram
    and the pair compressions spent."""
    config = shared.config
    shortlist = saved_entries(uri, config.storage_options)
    shortlist = shortlist[boundary.selects(shortlist)]
    file_index, row_index = storage.unpack_row_id(shortlist["row_id"])
    texts: list[bytes] = []
    for f in np.unique(file_index):
        path, row_group_sizes = shared.files[int(f)]
        texts += _read_texts(
            path,
            row_group_sizes,
            row_index[file_index == f],
            config.text_column,
            config.max_bytes,
            config.storage_options,
        )
    scores, pairs = scoring.exact_scorer(shared.targets)(texts)
    exact = order.entries(scores, shortlist["row_id"], shortlist["tokens"], shortlist["length"])
    storage.write_scores(save_to, exact, config.storage_options)
    return {"histogram": histograms.histogram(scores), "pairs": pairs}


def _write_selected(uri: str, selected: np.ndarray, shared: Shared) -> dict[str, Any]:
    """Write selected rows as one part in pool order, every pool column plus the score.
    Returns what the summary and report need of them: counts, histograms, tokens, groups
    and the best and last few rows (an empty selection writes nothing)."""
    config = shared.config
    if len(selected) == 0:
        return {"part": None, "rows": 0}
    selected = selected[np.argsort(selected["row_id"], kind="stable")]
    table = storage.write_part(
        uri,
        selected,
        shared.files,
        shared.schema,
        config.storage_options,
        score_column(config),
        with_position=config.order == "score",
        out_format=config.out_format,
    )
    texts = storage.column_bytes(table.column(config.text_column))
    tokens = TokenCounter(shared.tokenizer_json).count([t[: config.max_bytes] for t in texts])
    best_first = np.lexsort((selected["row_id"], -selected["score"]))

    def example(i: int) -> dict[str, Any]:
        row = selected[i]
        return {
            "score": float(row["score"]),
            "row_id": int(row["row_id"]),
            "text": excerpt(texts[i]),
        }

    return {
        "part": uri.rsplit("/", 1)[-1],
        "rows": len(selected),
        "tokens": int(tokens.sum()),
        "groups": _group_counts(table, config.group_column),
        "histogram": histograms.histogram(selected["score"]).tolist(),
        "length_histogram": histograms.length_histogram(selected["length"]).tolist(),
        "best": [example(i) for i in best_first[:EXAMPLES]],
        "last": [example(i) for i in best_first[-EXAMPLES:]],
    }


def score_column(config: SelectConfig) -> str:
    """approx-prefilter's scores are not ZIP-FIT's, and their column says so."""
    return "prefilter_score" if config.mode == "approx-prefilter" else storage.SCORE_COLUMN


def _group_counts(table: pa.Table, column: str | None) -> dict[str, int]:
    return dict(scoring.group_counts(table.column(column).to_pylist())) if column else {}


@ray.remote(max_retries=TASK_RETRIES)
def score_sample(
    reads: list[dataset_alignment.SampleRead],
    targets: PreparedTargets,
    text_column: str,
    max_bytes: int,
    options: dict[str, Any],
) -> np.ndarray:
    """Alignment of sampled rows (nulls skipped, long texts cut as in select)."""
    return score(_sample_texts(reads, text_column, max_bytes, options), targets)


@ray.remote(max_retries=TASK_RETRIES)
def read_sample(
    reads: list[dataset_alignment.SampleRead],
    text_column: str,
    max_bytes: int,
    options: dict[str, Any],
) -> list[bytes]:
    """The sampled rows' texts, for the driver to hand to timed scoring tasks."""
    return _sample_texts(reads, text_column, max_bytes, options)


def _sample_texts(
    reads: list[dataset_alignment.SampleRead],
    text_column: str,
    max_bytes: int,
    options: dict[str, Any],
) -> list[bytes]:
    """The sampled rows' texts (nulls skipped, long texts cut as in select)."""
    texts: list[bytes] = []
    for read in reads:
        texts += _read_texts(
            read.path, read.row_group_sizes, read.rows, text_column, max_bytes, options
        )
    return texts


@ray.remote(max_retries=TASK_RETRIES)
def time_scoring(
    texts: list[bytes],
    targets: PreparedTargets,
    early_exit_at: float | None,
    z: float,
    prefilter: str | None = None,
) -> dict[str, Any]:
    """Score texts on a worker and time it: exact, with early exit against a fixed
    threshold, or with the dictionary prefilter (no pairs at all)."""
    start = time.perf_counter()
    if prefilter is not None:
        scores, pairs = DictionaryPrefilter(targets.texts, prefilter).score(texts), 0
    elif early_exit_at is None:
        scores, pairs = score(texts, targets), len(texts) * len(targets.texts)
    else:
        rule = SelectionRule(min_score=early_exit_at)
        scores, pairs = EarlyExitScorer(targets, rule, EarlyExit(z))(texts)
    return {"scores": scores, "pairs": pairs, "seconds": time.perf_counter() - start}


def _read_texts(
    path: str,
    row_group_sizes: tuple[int, ...],
    rows: np.ndarray,
    column: str,
    max_bytes: int,
    options: dict[str, Any],
) -> list[bytes]:
    """The non-null texts of the given rows of one file, cut to max_bytes as in scoring."""
    text_only = pa.schema([(column, pa.large_binary())])
    table = storage.read_rows(path, row_group_sizes, rows, options, text_only)
    return [t[:max_bytes] for t in storage.column_bytes(table.column(0)) if t is not None]
