"""The Ray job: plan -> broadcast -> score shards -> keep by rule, merge -> materialize -> report.

With tasks.py, the only modules that import ray. The work itself (IO, the kernel, the
ordering, the rules) lives in storage, alignment, topk and selection, which know nothing of
Ray; the tasks wrap it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import ray

from zipfit_ray import checkpoints, compare, compressors, report, stats, storage
from zipfit_ray.alignment import prepare_targets
from zipfit_ray.compressors import DEFAULT_COMPRESSOR
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.progress import Progress, log
from zipfit_ray.selection import SelectionRule
from zipfit_ray.tasks import (
    SCORES,
    Shared,
    ThresholdBoard,
    merge_results,
    process_shard,
    rescore_rows,
    score_column,
    score_sample,
    write_part,
)
from zipfit_ray.tokens import TokenCounter

MERGE_FAN_IN = 16  # results merged per merge task
MAX_SHARD_ROWS = 8192  # default upper bound on rows per scoring task
SHARDS_PER_CPU = 16  # default lower bound on shards per CPU, so the last wave of tasks is short
SUCCESS = "_SUCCESS"
SUMMARY = "summary.json"
SCORES_JOB = "_job.json"
BAD_FILES_LISTED = 100  # summary.json names at most this many skipped files
# what reselect takes from the job that saved the scores (the rest comes from its own flags)
RESELECT_KEEPS = (
    "pool",
    "targets",
    "target_column",
    "text_column",
    "compressor",
    "level",
    "max_bytes",
    "on_bad_file",
)


# ---------------------------------------------------------------- driver


class MergeTree:
    """Merges shard results as they arrive, MERGE_FAN_IN at a time per level.

    A tree rather than one driver loop: merges run as tasks in parallel with scoring, and
    the object store never holds more than a fan-in's worth of unmerged results per level.
    """

    def __init__(self, rule: SelectionRule) -> None:
        self.rule = rule
        self.levels: list[list[ray.ObjectRef]] = []

    def add(self, result: ray.ObjectRef, level: int = 0) -> None:
        if level == len(self.levels):
            self.levels.append([])
        self.levels[level].append(result)
        if len(self.levels[level]) == MERGE_FAN_IN:
            merged = merge_results.remote(self.rule, *self.levels[level])
            self.levels[level] = []
            self.add(merged, level + 1)

    def result(self) -> np.ndarray:
        remaining = [ref for level in self.levels for ref in level]
        return self.rule.finish(ray.get(merge_results.remote(self.rule, *remaining)))


@contextmanager
def timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    seconds[phase] = round(time.monotonic() - start, 3)


def run_select(config: SelectConfig) -> dict[str, Any]:
    """Score a pool and select from it; returns the summary also written to summary.json.

    Inputs are checked before Ray starts, so bad input fails fast. Then the job joins the
    Ray already initialized in this process, else the one at ``config.address``, else
    starts a local one.
    """
    options = config.storage_options
    seconds: dict[str, float] = {}
    _claim_output(config)
    scan = _plan(config, seconds)
    with timed(seconds, "targets"):
        targets = prepare_targets(
            storage.read_targets(config.targets, config.target_column, options),
            config.compressor,
            config.level,
        )
        tokenizer_json = (
            storage.read_bytes(config.tokenizer, options).decode() if config.tokenizer else None
        )
        TokenCounter(tokenizer_json)  # a bad tokenizer fails here, not in every task
    job = checkpoints.fingerprint(config, scan, targets, tokenizer_json)
    finished = checkpoints.open_for_job(config.out, job, config.overwrite, options)
    if config.all_scores:
        storage.write_json(
            storage.join(config.out, SCORES, SCORES_JOB),
            {"job": job, "arguments": config.public_dict(), "files": list(scan.files)},
            options,
        )
    log(
        f"pool: {len(scan.files)} files, {scan.num_rows:,} rows; targets: {len(targets.texts)} "
        f"texts; {config.compressor} level {config.level}; {config.rule.describe()}"
    )
    for uri in scan.skipped_files:
        log(f"warning: skipped {uri}: not a readable Parquet file")

    def sources() -> list[tuple[storage.Shard, str]]:
        shard_rows = config.shard_rows or _auto_shard_rows(scan.num_rows)
        shards = storage.cut_shards(scan, shard_rows)
        _warn_if_row_groups_limit_parallelism(shards, shard_rows)
        return [(s, checkpoints.shard_name(s)) for s in shards]

    shared = Shared(config, targets, tokenizer_json, _file_map(scan), scan.schema)
    summary = _on_ray(config, lambda: _select(shared, sources(), finished, seconds))
    summary.update(
        files=len(scan.files) + len(scan.skipped_files),
        rows_total=scan.num_rows,
        targets=len(targets.texts),
    )
    bad_files = list(dict.fromkeys([*scan.skipped_files, *summary.pop("bad_files")]))
    summary.update(files_skipped=len(bad_files), bad_files=bad_files[:BAD_FILES_LISTED])
    _publish(config, summary, seconds)
    checkpoints.remove_all(config.out, options)
    return summary


def run_reselect(scores: str, options: dict[str, Any]) -> dict[str, Any]:
    """Apply a new selection rule to the scores a job saved with --all-scores under
    ``scores`` (its output directory), without scoring again. ``options`` are SelectConfig
    fields (the rule, out, ...); the pool and scoring arguments are the saved job's. The
    pool must be unchanged since it was scored."""
    saved_job_uri = storage.join(scores, SCORES, SCORES_JOB)
    if not storage.exists(saved_job_uri, options.get("storage_options", {})):
        raise ZipfitError(f"--scores: {scores} holds no saved scores (run select --all-scores)")
    saved = json.loads(storage.read_bytes(saved_job_uri, options.get("storage_options", {})))
    scored_with = {key: saved["arguments"][key] for key in RESELECT_KEEPS}
    config = SelectConfig(**{**scored_with, "pool": tuple(scored_with["pool"]), **options})
    seconds: dict[str, float] = {}
    _claim_output(config)
    scan = _plan(config, seconds)
    if saved["job"]["pool"] != checkpoints.pool_digest(scan):
        raise ZipfitError(f"--scores: the pool {list(config.pool)} changed since it was scored")
    listed = storage.list_names(storage.join(scores, SCORES), config.storage_options)
    score_files = [name for name in listed if name.endswith(".parquet")]
    log(f"re-selecting {config.rule.describe()} from {len(score_files)} score files")
    sources = [
        (storage.join(scores, SCORES, name), name.removesuffix(".parquet")) for name in score_files
    ]
    shared = Shared(config, None, None, _file_map(scan), scan.schema)
    summary = _on_ray(config, lambda: _select(shared, sources, set(), seconds))
    summary.update(files=len(scan.files), rows_total=scan.num_rows, scores=scores)
    summary.pop("bad_files")
    _publish(config, summary, seconds)
    return summary


def _claim_output(config: SelectConfig) -> None:
    options = config.storage_options
    success = storage.join(config.out, SUCCESS)
    if storage.exists(success, options):
        if not config.overwrite:
            raise ZipfitError(f"--out: {config.out} already holds a finished result (--overwrite)")
        storage.remove(success, options)  # the old result stops being complete right away
    storage.make_dirs(config.out, options)


def _plan(config: SelectConfig, seconds: dict[str, float]) -> storage.PoolScan:
    with timed(seconds, "plan"):
        files = storage.list_pool_files(config.pool, config.storage_options)
        progress = Progress("plan", len(files), "footers")
        scan = storage.scan_pool(
            files,
            config.text_column,
            config.storage_options,
            skip_bad_files=config.on_bad_file == "skip",
            on_footer=lambda: progress.advance(1),
            group_column=config.group_column,
        )
        progress.close()
    return scan


def _file_map(scan: storage.PoolScan) -> dict[int, tuple[str, tuple[int, ...]]]:
    return {i: (path, groups) for i, (path, groups) in enumerate(zip(scan.files, scan.row_groups))}


def _on_ray(config: SelectConfig, work: Any) -> Any:
    return _run_on_ray(config.address, config.num_cpus, work)


def _run_on_ray(address: str | None, num_cpus: int | None, work: Any) -> Any:
    """Run ``work()`` on Ray (joined or started here); user errors raised in tasks come
    back as ZipfitError."""
    started_ray = not ray.is_initialized()
    if started_ray:
        # "local" starts a new Ray even where `ray start` left one running on this machine
        if address:
            ray.init(address=address)
        else:  # no dashboard: ~1 s less to start; progress is on stderr
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False)
    try:
        return work()
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, ZipfitError):
            raise ZipfitError(str(exc.cause)) from None
        raise
    finally:
        if started_ray:
            ray.shutdown()


def _publish(config: SelectConfig, summary: dict[str, Any], seconds: dict[str, float]) -> None:
    """The report, then summary.json, then _SUCCESS: the result is complete only now."""
    options = config.storage_options
    summary["arguments"] = config.public_dict()
    summary["compressor"] = compressors.describe(config.compressor, config.level)
    with timed(seconds, "report"):
        report.write_report(config.out, summary, options)
    summary["seconds"] = seconds
    storage.write_json(storage.join(config.out, SUMMARY), summary, options)
    storage.write_atomic(storage.join(config.out, SUCCESS), b"", options)
    log(
        f"selected {summary['rows_selected']:,} of {summary['rows_read']:,} rows "
        f"({summary['tokens_selected']:,} tokens) into {config.out} "
        f"in {sum(seconds.values()):.1f}s"
    )


@dataclass
class Tally:
    """What the driver adds up from the shards' notes as they come in."""

    counts: Counter = field(default_factory=Counter)
    shards_resumed: int = 0
    bad_files: list[str] = field(default_factory=list)
    groups: Counter = field(default_factory=Counter)
    histogram: np.ndarray = field(default_factory=lambda: stats.histogram(np.empty(0)))
    length_histogram: np.ndarray = field(default_factory=lambda: stats.length_histogram([]))
    # with --min-score, what the shards wrote out themselves
    parts: list[str] = field(default_factory=list)
    selected_rows: int = 0
    selected_tokens: int = 0
    selected_histogram: np.ndarray = field(default_factory=lambda: stats.histogram(np.empty(0)))
    selected_length_histogram: np.ndarray = field(
        default_factory=lambda: stats.length_histogram([])
    )
    selected_groups: Counter = field(default_factory=Counter)

    def add(self, notes: dict[str, Any]) -> None:
        self.counts.update(notes["counts"])
        self.shards_resumed += notes["resumed"]
        self.bad_files += notes["bad_files"]
        self.groups.update(notes["groups"])
        self.histogram += notes["histogram"]
        self.length_histogram += notes["length_histogram"]
        if notes["selected"] is not None:
            if notes["selected"]["part"]:
                self.parts.append(notes["selected"]["part"])
            self.selected_rows += notes["selected"]["rows"]
            self.selected_tokens += notes["selected"]["tokens"]
            self.selected_histogram += np.asarray(notes["selected"]["histogram"])
            self.selected_length_histogram += np.asarray(notes["selected"]["length_histogram"])
            self.selected_groups.update(notes["selected"]["groups"])


def _select(
    shared: Shared,
    sources: list[tuple[storage.Shard | str, str]],
    finished: set[str],
    seconds: dict[str, float],
) -> dict[str, Any]:
    """Process every source, then merge and write what the rule keeps. Returns the summary's
    counts and statistics."""
    config = shared.config
    if config.mode == "approx-early-exit" and config.k is not None:
        shared = replace(shared, board=ThresholdBoard.remote(config.k))
    if config.mode == "approx-cascade":  # the first pass keeps the best c*K by prefilter
        shared = replace(shared, config=replace(config, k=config.cascade_factor * config.k))
    shared_ref = ray.put(shared)
    with timed(seconds, "score"):
        merge_tree, tally = _process_all(sources, shared_ref, finished, shared)
    if config.rule.streamed:
        parts = sorted(tally.parts)
        _remove_outputs(config.out, keep=set(parts), options=config.storage_options)
        rows, tokens = tally.selected_rows, tally.selected_tokens
        histogram, groups = tally.selected_histogram, tally.selected_groups
        length_histogram = tally.selected_length_histogram
        quantiles = stats.histogram_quantiles(histogram)
    else:
        with timed(seconds, "reduce"):
            selected = merge_tree.result()
        if config.mode == "approx-cascade":
            with timed(seconds, "rescore"):
                rescoring = ray.put(replace(shared, config=config))
                selected, pairs = _rescore(selected, rescoring, config.rule)
            tally.counts["pair_compressions"] += pairs
        if config.k is not None and len(selected) < config.k:
            log(
                f"warning: only {len(selected):,} rows were scored; --k {config.k:,} keeps them all"
            )
        with timed(seconds, "materialize"):
            parts, groups, tokens = _materialize(selected, shared_ref, config)
        rows = len(selected)
        histogram = stats.histogram(selected["score"])
        length_histogram = stats.length_histogram(selected["length"])
        quantiles = stats.quantiles(selected["score"])
    return {
        "rows_read": 0,
        "rows_skipped_null": 0,
        "rows_truncated": 0,
        "rows_skipped_bad_file": 0,
        **tally.counts,
        "shards_total": len(sources),
        "shards_resumed": tally.shards_resumed,
        "bad_files": tally.bad_files,
        "rule": config.rule.describe(),
        "mode": config.mode,
        "score_column": score_column(config),
        "rows_selected": rows,
        "tokens_selected": tokens,
        "parts": parts,
        "selected_score_quantiles": quantiles,
        "histograms": {
            "bins": [
                float(stats.BIN_EDGES[0]),
                float(stats.BIN_EDGES[-1]),
                len(stats.BIN_EDGES) - 1,
            ],
            "pool": tally.histogram.tolist(),
            "selected": histogram.tolist(),
            "length_edges": stats.LENGTH_EDGES.tolist(),
            "pool_lengths": tally.length_histogram.tolist(),
            "selected_lengths": length_histogram.tolist(),
        },
        "groups": {"pool": dict(tally.groups), "selected": dict(groups)}
        if config.group_column
        else None,
    }


def _process_all(
    sources: list[tuple[storage.Shard | str, str]],
    shared_ref: ray.ObjectRef,
    finished: set[str],
    shared: Shared,
) -> tuple[MergeTree, Tally]:
    """Submit one task per source, at most max_in_flight at a time, merging as they finish.

    Shards with a checkpoint from an earlier run of the same job are loaded, not scored.
    """
    config = shared.config
    merge_tree = MergeTree(config.rule)
    tally = Tally()
    rows_to_score = sum(
        s.num_rows for s, name in sources if isinstance(s, storage.Shard) and name not in finished
    )
    progress = Progress("score", rows_to_score, "rows")
    queue = iter(sources)
    in_flight: dict[ray.ObjectRef, tuple[ray.ObjectRef, str]] = {}  # notes -> entries, name

    def submit_next() -> None:
        source, name = next(queue, (None, None))
        if source is not None:
            kept, notes = process_shard.remote(source, shared_ref, name, name in finished)
            in_flight[notes] = (kept, name)

    for _ in range(_max_in_flight(config)):
        submit_next()
    shards_done = 0
    while in_flight:
        done, _ = ray.wait(list(in_flight), num_returns=1)
        for notes_ref in done:
            kept, name = in_flight.pop(notes_ref)
            merge_tree.add(kept)
            notes = ray.get(notes_ref)
            if shared.board is not None:
                shared.board.finish.remote(name)
            tally.add(notes)
            shards_done += 1
            scored_rows = 0 if notes["resumed"] else notes["counts"].get("rows_read", 0)
            progress.advance(scored_rows, f"{shards_done}/{len(sources)} shards")
            submit_next()
    progress.close()
    return merge_tree, tally


def _rescore(
    shortlist: np.ndarray, shared_ref: ray.ObjectRef, rule: SelectionRule
) -> tuple[np.ndarray, int]:
    """Exact scores for the cascade's shortlist, in tasks of at most MAX_SHARD_ROWS rows of
    one file; returns the rule's rows of them and the pair compressions spent."""
    file_index, row_index = storage.unpack_row_id(shortlist["row_id"])
    refs = []
    for f in np.unique(file_index):
        rows = np.sort(row_index[file_index == f])
        for start in range(0, len(rows), MAX_SHARD_ROWS):
            refs.append(
                rescore_rows.remote(int(f), rows[start : start + MAX_SHARD_ROWS], shared_ref)
            )
    results = ray.get(refs)
    return rule.finish(rule.merge([entries for entries, _ in results])), sum(p for _, p in results)


def _materialize(
    selected: np.ndarray, shared_ref: ray.ObjectRef, config: SelectConfig
) -> tuple[list[str], dict[str, int], int]:
    """Write the selection as part-NNNNN.parquet files, best rows first; drop stale parts.
    Returns the part names, the selected rows per group and their tokens."""
    chunks = [selected[i : i + config.part_rows] for i in range(0, len(selected), config.part_rows)]
    chunks = chunks or [selected]  # an empty selection still gets one (empty) part
    names = [f"part-{i:05d}.parquet" for i in range(len(chunks))]
    progress = Progress("write", len(chunks), "parts")
    groups: Counter = Counter()
    tokens = 0
    in_flight: list[ray.ObjectRef] = []
    max_in_flight = _max_in_flight(config)

    def collect(refs: list[ray.ObjectRef]) -> None:
        nonlocal tokens
        for written in ray.get(refs):  # raises if a part failed
            groups.update(written["groups"])
            tokens += written["tokens"]
        progress.advance(len(refs))

    for name, chunk in zip(names, chunks):
        if len(in_flight) >= max_in_flight:
            done, in_flight = ray.wait(in_flight, num_returns=1)
            collect(done)
        in_flight.append(write_part.remote(storage.join(config.out, name), chunk, shared_ref))
    collect(in_flight)
    progress.close()
    _remove_outputs(config.out, keep=set(names), options=config.storage_options)
    return names, dict(groups), tokens


def _auto_shard_rows(num_rows: int) -> int:
    """Small enough for SHARDS_PER_CPU shards per CPU (balance), at most MAX_SHARD_ROWS."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(MAX_SHARD_ROWS, -(-num_rows // (SHARDS_PER_CPU * cpus))))


def _warn_if_row_groups_limit_parallelism(shards: tuple[storage.Shard, ...], rows: int) -> None:
    """A row group is never split (each task would fetch all of it), so a pool of a few
    large row groups leaves CPUs idle; say so, and what to do."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    largest = max((p.num_rows for s in shards for p in s.pieces), default=0)
    if len(shards) < cpus and largest > rows:
        log(
            f"warning: {cpus} CPUs but {len(shards)} shard(s): the pool's row groups (up to "
            f"{largest:,} rows) are larger than a shard ({rows:,} rows) and are not split; "
            f"rewrite it with smaller row groups, e.g. pyarrow.parquet.write_table(..., "
            f"row_group_size={rows})"
        )


def _max_in_flight(config: SelectConfig) -> int:
    """Tasks queued at once: enough to keep every CPU busy, few enough to bound memory."""
    return config.max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))


def _remove_outputs(out: str, keep: set[str], options: dict[str, Any]) -> None:
    """Remove result files of an earlier run (parts, summary, marker) not in ``keep``."""
    for name in storage.list_names(out, options):
        if name not in keep and (name.startswith("part-") or name in (SUMMARY, SUCCESS)):
            storage.remove(storage.join(out, name), options)


# ---------------------------------------------------------------- compare-datasets

SAMPLE_ROWS_PER_TASK = 256


def run_compare(
    datasets: list[str],
    targets_uri: str,
    *,
    sample: int,
    seed: int = 0,
    text_column: str = "text",
    target_column: str = "text",
    compressor: str = DEFAULT_COMPRESSOR,
    level: int | None = None,
    max_bytes: int = SelectConfig.max_bytes,
    storage_options: dict[str, Any] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
) -> list[dict[str, Any]]:
    """Dataset-level alignment of each dataset (a file, directory or glob) to the targets,
    from ``sample`` rows of each, with a 95% confidence interval."""
    options = storage_options or {}
    targets = prepare_targets(
        storage.read_targets(targets_uri, target_column, options), compressor, level
    )
    plans = {
        dataset: compare.plan_sample(
            storage.scan_pool(storage.list_pool_files([dataset], options), text_column, options),
            sample,
            seed,
        )
        for dataset in datasets
    }

    def work() -> list[dict[str, Any]]:
        targets_ref = ray.put(targets)
        pending = {
            dataset: [
                score_sample.remote(batch, targets_ref, text_column, max_bytes, options)
                for batch in _batches(plan)
            ]
            for dataset, plan in plans.items()
        }
        return [
            {
                "dataset": dataset,
                "rows_sampled": int(sum(len(read.rows) for read in plans[dataset])),
                **compare.estimate(np.concatenate([np.empty(0), *ray.get(refs)])),
            }
            for dataset, refs in pending.items()
        ]

    return _run_on_ray(address, num_cpus, work)


def _batches(reads: list[compare.SampleRead]) -> list[list[compare.SampleRead]]:
    """Group a sample's reads into tasks of about SAMPLE_ROWS_PER_TASK rows."""
    batches: list[list[compare.SampleRead]] = [[]]
    rows = 0
    for read in reads:
        if rows >= SAMPLE_ROWS_PER_TASK:
            batches.append([])
            rows = 0
        batches[-1].append(read)
        rows += len(read.rows)
    return [b for b in batches if b]
