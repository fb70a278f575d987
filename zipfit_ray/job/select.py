"""The Ray job: plan -> broadcast -> score shards -> cut -> write the selection -> report.

With tasks.py (and survey.py, the sample-reading drivers), the only modules that import
ray. The work itself (IO, the kernel, the order, the cut, the rules) lives in storage,
alignment, topk, cut and selection, which know nothing of Ray; the tasks wrap it.
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
import pyarrow as pa
import ray

from zipfit_ray import report, storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import checkpoints
from zipfit_ray.job.tasks import (
    Shared,
    ThresholdBoard,
    count_selected,
    count_windows,
    gather_window,
    plan_files,
    process_shard,
    rescore_shard,
    score_column,
    write_part,
)
from zipfit_ray.kernel import compressors
from zipfit_ray.kernel.alignment import PreparedTargets, prepare_targets
from zipfit_ray.progress import Progress, log
from zipfit_ray.selection import cut, histograms, order
from zipfit_ray.selection.rules import SelectionRule
from zipfit_ray.selection.tokens import TokenCounter
from zipfit_ray.storage import jsonl, locations, outputs
from zipfit_ray.storage.outputs import CHECKS, RANKED, RESCORED, SCORES, SCORES_JOB, SUCCESS

MAX_SHARD_ROWS = 8192  # default upper bound on rows per scoring task
SHARDS_PER_CPU = 16  # default lower bound on shards per CPU, so the last wave of tasks is short
BAD_FILES_LISTED = 100  # summary.json names at most this many skipped files
PLAN_IN_TASKS_FROM = 2000  # files: from this many, footers are read in Ray tasks
PLAN_CHUNK_FILES = 500  # files per planning task
SKIPPED_ROWS = ("rows_skipped_bad_file", "rows_skipped_bad_line")  # rows_total = read + these
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
    _check_order(config)
    outputs.claim(config.out, config.overwrite, options)
    scan = plan_pool(config, seconds)
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
    saved_job = {"job": job, "arguments": config.public_dict(), "files": list(scan.files)}
    if config.all_scores:
        storage.write_json(storage.join(config.out, SCORES, SCORES_JOB), saved_job, options)
    rows = f"{scan.num_rows:,} rows"
    if scan.jsonl_files:
        rows += f" in Parquet + {scan.jsonl_files} JSONL files (their rows counted as read)"
    log(
        f"pool: {len(scan.files)} files, {rows}; targets: {len(targets.texts)} "
        f"texts; {config.compressor} level {config.level}; {config.rule.describe()}"
    )
    for uri in scan.skipped_files:
        log(f"warning: skipped {uri}: it cannot be read")

    def sources() -> list[tuple[storage.Shard, str]]:
        shard_rows = config.shard_rows or auto_shard_rows(scan.num_rows)
        shards = storage.cut_shards(scan, shard_rows)
        _warn_if_row_groups_limit_parallelism(shards, shard_rows)
        return [(s, checkpoints.shard_name(s)) for s in shards]

    shared = _shared(config, targets, tokenizer_json, scan, scan.schema)
    summary = _on_ray(config, lambda: _select(shared, sources(), finished, seconds))
    summary.update(
        files=len(scan.files) + len(scan.skipped_files),
        rows_total=sum(summary[k] for k in ("rows_read", *SKIPPED_ROWS)),
        targets=len(targets.texts),
    )
    bad_files = list(dict.fromkeys([*scan.skipped_files, *summary.pop("bad_files")]))
    summary.update(files_skipped=len(bad_files), bad_files=bad_files[:BAD_FILES_LISTED])
    fields = summary.pop("fields")
    if config.all_scores:  # what reselect needs that only scoring learns
        saved_job.update(fields=fields, rows_total=summary["rows_total"])
        storage.write_json(storage.join(config.out, SCORES, SCORES_JOB), saved_job, options)
    _publish(config, summary, seconds)
    checkpoints.remove_all(config.out, options)
    for leftover in ([] if config.all_scores else [SCORES]) + [RESCORED, CHECKS]:
        if storage.exists(storage.join(config.out, leftover), options):
            storage.remove(storage.join(config.out, leftover), options)
    return summary


def run_reselect(scores: str, options: dict[str, Any]) -> dict[str, Any]:
    """Apply a new selection rule to the scores a job saved with --all-scores under
    ``scores`` (its output directory), without scoring again. ``options`` are SelectConfig
    fields (the rule, out, ...); the pool and scoring arguments are the saved job's. The
    pool must be unchanged since it was scored."""
    locations.check_apart(options["out"], "--out", [scores], "--scores")
    saved_job_uri = storage.join(scores, SCORES, SCORES_JOB)
    if not storage.exists(saved_job_uri, options.get("storage_options", {})):
        raise ZipfitError(f"--scores: {scores} holds no saved scores (run select --all-scores)")
    saved = json.loads(storage.read_bytes(saved_job_uri, options.get("storage_options", {})))
    scored_with = {key: saved["arguments"][key] for key in RESELECT_KEEPS}
    config = SelectConfig(**{**scored_with, "pool": tuple(scored_with["pool"]), **options})
    seconds: dict[str, float] = {}
    _check_order(config)
    outputs.claim(config.out, config.overwrite, config.storage_options)
    scan = plan_pool(config, seconds)
    if saved["job"]["pool"] != checkpoints.pool_digest(scan):
        raise ZipfitError(f"--scores: the pool {list(config.pool)} changed since it was scored")
    listed = storage.list_names(storage.join(scores, SCORES), config.storage_options)
    score_files = [name for name in listed if name.endswith(".parquet")]
    log(f"re-selecting {config.rule.describe()} from {len(score_files)} score files")
    sources = [
        (storage.join(scores, SCORES, name), name.removesuffix(".parquet")) for name in score_files
    ]
    schema = storage.output_schema(scan.schema, saved.get("fields", {}))
    shared = _shared(config, None, None, scan, schema)
    summary = _on_ray(config, lambda: _select(shared, sources, set(), seconds))
    rows_total = saved.get("rows_total", scan.num_rows)
    summary.update(files=len(scan.files), rows_total=rows_total, scores=scores)
    summary.pop("bad_files")
    summary.pop("fields")
    _publish(config, summary, seconds)
    return summary


def plan_pool(config: SelectConfig, seconds: dict[str, float]) -> storage.PoolScan:
    """List the pool and plan its files: here with threads, or, past PLAN_IN_TASKS_FROM
    files, in Ray tasks of PLAN_CHUNK_FILES files each, so that footers are fetched from
    many nodes at once (benchmarks/planning.py: ~5 ms per file from one driver)."""
    options = config.storage_options
    with timed(seconds, "plan"):
        files = storage.list_pool_files(config.pool, options)
        progress = Progress("plan", len(files), "files")
        if len(files) < PLAN_IN_TASKS_FROM:
            plans = storage.plan_files(
                files, config.text_column, options, lambda: progress.advance(1)
            )
        else:
            plans = _on_ray(config, lambda: _plan_in_tasks(files, config, progress))
        progress.close()
        return storage.combine(
            files,
            plans,
            config.text_column,
            skip_bad_files=config.on_bad_file == "skip",
            group_column=config.group_column,
        )


def _plan_in_tasks(
    files: list[str], config: SelectConfig, progress: Progress
) -> list[storage.FilePlan | ZipfitError]:
    """Parquet footers in tasks; JSONL files here, from the listing just made (its entries
    are cached: no request per file, where a task would send one)."""
    options = config.storage_options
    parquet = [f for f in files if not storage.is_jsonl(f)]
    jsonl_files = [f for f in files if storage.is_jsonl(f)]
    chunks = [parquet[i : i + PLAN_CHUNK_FILES] for i in range(0, len(parquet), PLAN_CHUNK_FILES)]
    submitted = (
        (i, plan_files.remote(chunk, config.text_column, options)) for i, chunk in enumerate(chunks)
    )
    planned = {}
    for i, plans in _bounded(submitted, config):
        planned[i] = plans
        progress.advance(len(plans))
    found = dict(zip(parquet, (plan for i in range(len(chunks)) for plan in planned[i])))
    found |= zip(jsonl_files, storage.plan_files(jsonl_files, config.text_column, options))
    progress.advance(len(jsonl_files))
    return [found[f] for f in files]


def _shared(
    config: SelectConfig,
    targets: PreparedTargets | None,
    tokenizer_json: str | None,
    scan: storage.PoolScan,
    schema: pa.Schema,
) -> Shared:
    """What every task is handed. --min-score streams (shards write their own rows) unless
    the pool has JSONL files, whose columns are known only once all are read."""
    files = {i: (path, groups) for i, (path, groups) in enumerate(zip(scan.files, scan.row_groups))}
    streamed = config.rule.streamed and not scan.jsonl_files
    return Shared(config, targets, tokenizer_json, files, schema, streamed)


def _on_ray(config: SelectConfig, work: Any) -> Any:
    return run_on_ray(config.address, config.num_cpus, work)


def run_on_ray(address: str | None, num_cpus: int | None, work: Any) -> Any:
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
    storage.write_json(storage.join(config.out, outputs.SUMMARY), summary, options)
    storage.write_atomic(storage.join(config.out, SUCCESS), b"", options)
    log(
        f"selected {summary['rows_selected']:,} of {summary['rows_read']:,} rows "
        f"({summary['tokens_selected']:,} tokens) into {config.out} "
        f"in {sum(seconds.values()):.1f}s"
    )


@dataclass
class Selection:
    """What the written parts report, added up: the selection's figures and examples."""

    parts: list[str] = field(default_factory=list)
    rows: int = 0
    tokens: int = 0
    histogram: np.ndarray = field(default_factory=lambda: histograms.histogram(np.empty(0)))
    length_histogram: np.ndarray = field(default_factory=lambda: histograms.length_histogram([]))
    groups: Counter = field(default_factory=Counter)
    best: list[dict[str, Any]] = field(default_factory=list)  # the best rows, best first
    last: list[dict[str, Any]] = field(default_factory=list)  # the last rows selected

    def add(self, written: dict[str, Any]) -> None:
        if written["part"] is None:
            return
        self.parts.append(written["part"])
        self.rows += written["rows"]
        self.tokens += written["tokens"]
        self.histogram += np.asarray(written["histogram"])
        self.length_histogram += np.asarray(written["length_histogram"])
        self.groups.update(written["groups"])
        self.best = _best_first(self.best + written["best"])[: report.EXAMPLES]
        self.last = _best_first(self.last + written["last"])[-report.EXAMPLES :]

    def quantiles(self) -> dict[str, float]:
        """Read off the histogram, but the lowest and highest exactly."""
        if not self.rows:
            return {}
        found = histograms.histogram_quantiles(self.histogram)
        return {**found, "q0": self.last[-1]["score"], "q1": self.best[0]["score"]}


def _best_first(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(examples, key=lambda e: (-e["score"], e["row_id"]))


@dataclass
class Tally:
    """What the driver adds up from the shards' notes as they come in."""

    counts: Counter = field(default_factory=Counter)
    shards_resumed: int = 0
    bad_files: list[str] = field(default_factory=list)
    groups: Counter = field(default_factory=Counter)
    histogram: np.ndarray = field(default_factory=lambda: histograms.histogram(np.empty(0)))
    token_histogram: np.ndarray = field(default_factory=lambda: histograms.histogram(np.empty(0)))
    length_histogram: np.ndarray = field(default_factory=lambda: histograms.length_histogram([]))
    selection: Selection = field(default_factory=Selection)  # --min-score: written by shards
    fields: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # per shard: JSONL

    def add(self, notes: dict[str, Any]) -> None:
        self.counts.update(notes["counts"])
        self.shards_resumed += notes["resumed"]
        self.bad_files += notes["bad_files"]
        self.groups.update(notes["groups"])
        self.histogram += notes["histogram"]
        self.token_histogram += notes["token_histogram"]
        self.length_histogram += notes["length_histogram"]
        if notes["selected"] is not None:
            self.selection.add(notes["selected"])


def _select(
    shared: Shared,
    sources: list[tuple[storage.Shard | str, str]],
    finished: set[str],
    seconds: dict[str, float],
) -> dict[str, Any]:
    """Score every source, cut the order where the rule says, write what it selects.
    Returns the summary's counts and statistics."""
    config, options = shared.config, shared.config.storage_options
    if config.mode == "approx-early-exit" and config.k is not None:
        shared = replace(shared, board=ThresholdBoard.remote(config.k))
    first_pass = config.rule
    if config.mode == "approx-cascade":  # the first pass shortlists the best c*K by prefilter
        first_pass = SelectionRule(k=config.cascade_factor * config.k)
    shared_ref = ray.put(shared)
    if shared.streamed:  # recorded before any shard writes its part
        suffix = config.part_suffix
        outputs.record(
            config.out, [outputs.streamed_part_name(n, suffix) for _, n in sources], options
        )
    with timed(seconds, "score"):
        tally = _process_all(sources, shared_ref, finished, shared)
    names = [name for _, name in sources]
    saved = [s if isinstance(s, str) else outputs.scores_uri(config.out, n) for s, n in sources]
    fields: dict[str, list[str]] = {}
    for name in names:  # in pool order, so the columns' order does not depend on timing
        jsonl.merge_kinds(fields, tally.fields.get(name, {}))
    if fields:
        shared = replace(shared, schema=storage.output_schema(shared.schema, fields))
        shared_ref = ray.put(shared)
    if shared.streamed:
        selection = tally.selection
        outputs.remove_stale(config.out, keep=set(selection.parts), options=options)
        boundary = cut.at_least(config.min_score)
    elif config.rule.streamed:  # --min-score on a pool with JSONL: the boundary is known
        boundary = cut.at_least(config.min_score)
        with timed(seconds, "write"):
            selection = _write(saved, boundary, shared_ref, config)
    else:
        with timed(seconds, "cut"):
            boundary = _cut(first_pass, tally.histogram, tally.token_histogram, saved, config)
        if config.mode == "approx-cascade":
            with timed(seconds, "rescore"):
                saved, histogram, pairs = _rescore(saved, names, boundary, shared_ref, config)
                tally.counts["pair_compressions"] += pairs
                boundary = _cut(config.rule, histogram, histogram * 0, saved, config)
        with timed(seconds, "write"):
            selection = _write(saved, boundary, shared_ref, config)
        if config.k is not None and selection.rows < config.k:
            log(f"warning: only {selection.rows:,} rows were scored; --k keeps them all")
    check = None
    if config.mode == "approx-early-exit":
        check = _early_exit_check(tally, names, boundary, config)
    if config.order == "score":
        with timed(seconds, "rank"):
            _write_ranked(config, sorted(selection.parts))
    elif storage.exists(storage.join(config.out, RANKED), config.storage_options):
        storage.remove(storage.join(config.out, RANKED), config.storage_options)  # stale
    return {
        "rows_read": 0,
        "rows_skipped_null": 0,
        "rows_truncated": 0,
        "rows_skipped_bad_file": 0,
        "rows_skipped_bad_line": 0,
        **tally.counts,
        "shards_total": len(sources),
        "shards_resumed": tally.shards_resumed,
        "bad_files": tally.bad_files,
        "rule": config.rule.describe(),
        "mode": config.mode,
        "score_column": score_column(config),
        "rows_selected": selection.rows,
        "tokens_selected": selection.tokens,
        "parts": sorted(selection.parts),
        "selected_score_quantiles": selection.quantiles(),
        "examples": {"best": selection.best, "last": selection.last},
        "histograms": {
            "bins": [
                float(histograms.BIN_EDGES[0]),
                float(histograms.BIN_EDGES[-1]),
                len(histograms.BIN_EDGES) - 1,
            ],
            "pool": tally.histogram.tolist(),
            "selected": selection.histogram.tolist(),
            "length_edges": histograms.LENGTH_EDGES.tolist(),
            "pool_lengths": tally.length_histogram.tolist(),
            "selected_lengths": selection.length_histogram.tolist(),
        },
        "groups": {"pool": dict(tally.groups), "selected": dict(selection.groups)}
        if config.group_column
        else None,
        "early_exit_check": check,
        "fields": fields,  # JSONL records' field kinds, for the caller (not the summary)
    }


def _process_all(
    sources: list[tuple[storage.Shard | str, str]],
    shared_ref: ray.ObjectRef,
    finished: set[str],
    shared: Shared,
) -> Tally:
    """Submit one task per source, at most max_in_flight at a time, adding up their notes.

    Shards with a checkpoint from an earlier run of the same job are loaded, not scored.
    """
    config = shared.config
    tally = Tally()
    to_score = [s for s, n in sources if isinstance(s, storage.Shard) and n not in finished]
    by_rows = all(p.num_rows for s in to_score for p in s.pieces)  # JSONL: rows unknown
    progress = (
        Progress("score", sum(s.num_rows for s in to_score), "rows")
        if by_rows
        else Progress("score", len(sources), "shards")
    )
    submitted = (
        (name, process_shard.remote(source, shared_ref, name, name in finished))
        for source, name in sources
    )
    for shards_done, (name, notes) in enumerate(_bounded(submitted, config), start=1):
        if shared.board is not None:
            shared.board.finish.remote(name)
        tally.add(notes)
        tally.fields[name] = notes["fields"]
        if by_rows:
            scored_rows = 0 if notes["resumed"] else notes["counts"].get("rows_read", 0)
            progress.advance(scored_rows, f"{shards_done}/{len(sources)} shards")
        else:
            progress.advance(1, f"{tally.counts['rows_read']:,} rows read")
    progress.close()
    return tally


def _bounded(submitted: Iterator[tuple[Any, ray.ObjectRef]], config: SelectConfig):
    """(key, result) of tasks submitted lazily, at most max_in_flight at a time, as they
    finish."""
    limit = _max_in_flight(config)  # asks the cluster for its CPUs: once, not per task
    in_flight: dict[ray.ObjectRef, Any] = {}
    for key, ref in submitted:
        in_flight[ref] = key
        if len(in_flight) >= limit:
            done, _ = ray.wait(list(in_flight), num_returns=1)
            yield in_flight.pop(done[0]), ray.get(done[0])
    while in_flight:
        done, _ = ray.wait(list(in_flight), num_returns=1)
        yield in_flight.pop(done[0]), ray.get(done[0])


def _early_exit_check(
    tally: Tally, names: list[str], boundary: cut.Boundary, config: SelectConfig
) -> dict[str, Any]:
    """How many of the dropped rows that were scored anyway the final boundary selects, and
    the number of rows early exit missed that this implies."""
    checks = [outputs.checks_uri(config.out, name) for name in names]
    found = _bounded(
        ((u, count_selected.remote(u, boundary, config.storage_options)) for u in checks), config
    )
    would_be_selected = sum(n for _, n in found)
    dropped, checked = tally.counts["rows_dropped_early"], tally.counts["rows_checked"]
    return {
        "rows_dropped": dropped,
        "rows_checked": checked,
        "checked_rows_that_would_be_selected": would_be_selected,
        "estimated_rows_missed": would_be_selected * dropped / checked if checked else None,
    }


def _cut(
    rule: SelectionRule,
    rows: np.ndarray,
    tokens: np.ndarray,
    saved: list[str],
    config: SelectConfig,
) -> cut.Boundary:
    """cut.find over the shards' saved scores: they count windows and hand over the
    boundary's neighbourhood; the driver only adds up."""
    options = config.storage_options

    def count(windows: list[cut.Window]) -> cut.Counts:
        windows_ref = ray.put(windows)
        total = None
        for _, counted in _bounded(
            ((u, count_windows.remote(u, windows_ref, options)) for u in saved), config
        ):
            total = counted if total is None else cut.add(total, counted)
        return total

    def gather(window: cut.Window) -> np.ndarray:
        found = _bounded(((u, gather_window.remote(u, window, options)) for u in saved), config)
        return order.concatenate(entries for _, entries in found)

    return cut.find(rule, rows, tokens, count, gather)


def _rescore(
    saved: list[str],
    names: list[str],
    boundary: cut.Boundary,
    shared_ref: ray.ObjectRef,
    config: SelectConfig,
) -> tuple[list[str], np.ndarray, int]:
    """approx-cascade's second pass: exact scores of every shard's shortlisted rows, saved
    per shard. Returns where, their histogram and the pair compressions spent."""
    rescored = [outputs.rescored_uri(config.out, name) for name in names]
    histogram, pairs = histograms.histogram(np.empty(0)), 0
    submitted = (
        (u, rescore_shard.remote(u, boundary, shared_ref, r)) for u, r in zip(saved, rescored)
    )
    for _, notes in _bounded(submitted, config):
        histogram += notes["histogram"]
        pairs += notes["pairs"]
    return rescored, histogram, pairs


def _write(
    saved: list[str], boundary: cut.Boundary, shared_ref: ray.ObjectRef, config: SelectConfig
) -> Selection:
    """Write the selection as parts in pool order: runs of consecutive shards holding about
    --part-rows selected rows each (a shard is never split), each part written by one task
    that reads the row groups it needs once. Drops stale parts."""
    options = config.storage_options
    counted = dict(
        _bounded(
            ((i, count_selected.remote(u, boundary, options)) for i, u in enumerate(saved)), config
        )
    )
    groups: list[list[str]] = [[]]
    rows_in_group = 0
    for i, uri in enumerate(saved):
        if not counted[i]:
            continue
        if groups[-1] and rows_in_group + counted[i] > config.part_rows:
            groups.append([])
            rows_in_group = 0
        groups[-1].append(uri)
        rows_in_group += counted[i]
    groups = [g for g in groups if g]
    names = [outputs.part_name(i, config.part_suffix) for i in range(len(groups))]
    outputs.record(config.out, names, options)  # before any task writes one
    progress = Progress("write", len(groups), "parts")
    selection = Selection()
    submitted = (
        (name, write_part.remote(storage.join(config.out, name), uris, boundary, shared_ref))
        for name, uris in zip(names, groups)
    )
    for _, written in _bounded(submitted, config):
        selection.add(written)
        progress.advance(1)
    progress.close()
    outputs.remove_stale(config.out, keep=set(names), options=options)
    return selection


def _check_order(config: SelectConfig) -> None:
    """--order score sorts with Ray Data: say so before any work if it is missing."""
    if config.order == "score":
        try:
            import ray.data  # noqa: F401
        except ImportError as exc:
            raise ZipfitError(
                "--order score: sorts with Ray Data (pip install 'zipfit-ray[data]')"
            ) from exc


def _write_ranked(config: SelectConfig, parts: list[str]) -> None:
    """A copy of the selection best first, as <out>/ranked/part-*.parquet: Ray Data sorts
    the parts by score, then pool position (the job's order). Its files hold disjoint runs
    of that order, so ordering them by their first rows gives the names."""
    import ray.data

    options = config.storage_options
    ranked = storage.join(config.out, RANKED)
    if storage.exists(ranked, options):
        storage.remove(ranked, options)
    if not parts:
        return
    fs, root = storage.arrow_filesystem(config.out, options)
    key = [score_column(config), storage.POSITION_COLUMN]
    ray.data.read_parquet([f"{root}/{p}" for p in parts], filesystem=fs).sort(
        key, descending=[True, False]
    ).write_parquet(f"{root}/{RANKED}", filesystem=fs)
    written = [storage.join(ranked, n) for n in storage.list_names(ranked, options)]
    firsts = {uri: storage.first_row(uri, key, options) for uri in written}
    for uri in [u for u, first in firsts.items() if first is None]:
        storage.remove(uri, options)
    ordered = sorted(
        (u for u in written if firsts[u]), key=lambda u: (-firsts[u][key[0]], firsts[u][key[1]])
    )
    for i, uri in enumerate(ordered):
        storage.move(uri, storage.join(ranked, f"part-{i:05d}.parquet"), options)


def auto_shard_rows(num_rows: int) -> int:
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
