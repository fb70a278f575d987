"""The Ray job: plan -> broadcast targets -> score shards -> merge top-K -> materialize.

This is the only module that imports ray. The work itself (IO, the kernel, the top-K)
lives in storage, alignment and topk, which know nothing of Ray.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import ray

from zipfit_ray import checkpoints, scoring, storage, topk
from zipfit_ray.alignment import PreparedTargets, prepare_targets
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.progress import Progress, log

MERGE_FAN_IN = 16  # results merged per merge task
MAX_SHARD_ROWS = 8192  # default upper bound on rows per scoring task
SHARDS_PER_CPU = 16  # default lower bound on shards per CPU, so the last wave of tasks is short
TASK_RETRIES = 3  # Ray reruns a task whose worker or node died this often
SUCCESS = "_SUCCESS"
SUMMARY = "summary.json"
QUANTILES = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
BAD_FILES_LISTED = 100  # summary.json names at most this many skipped files


# ---------------------------------------------------------------- tasks


@ray.remote(num_returns=2, max_retries=TASK_RETRIES)
def score_shard(
    shard: storage.Shard,
    targets: PreparedTargets,
    config: SelectConfig,
    checkpoint_uri: str,
    resume: bool,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Score one shard (or load its checkpoint); returns (top-k entries, counts and notes).

    The checkpoint is written by the task itself, so finished work survives the driver.
    """
    if resume:
        result = checkpoints.load(checkpoint_uri, config.storage_options)
    else:
        result = scoring.score_shard(shard, targets, config)
        checkpoints.save(checkpoint_uri, result, config.storage_options)
    return result.entries, {
        "counts": dict(result.counts),
        "bad_files": result.bad_files,
        "resumed": resume,
    }


@ray.remote(max_retries=TASK_RETRIES)
def merge_results(k: int, *parts: np.ndarray) -> np.ndarray:
    return topk.merge(parts, k)


@ray.remote(max_retries=TASK_RETRIES)
def write_part(
    uri: str,
    selected: np.ndarray,
    files: dict[int, tuple[str, tuple[int, ...]]],
    schema: pa.Schema,
    storage_options: dict[str, Any],
) -> int:
    """Read back the selected rows (all columns), in rank order, add the score, write one part."""
    file_index, row_index = storage.unpack_row_id(selected["row_id"])
    tables, positions = [], []
    for f in np.unique(file_index):
        mine = np.flatnonzero(file_index == f)
        path, row_group_sizes = files[int(f)]
        rows = storage.read_rows(path, row_group_sizes, row_index[mine], storage_options)
        tables.append(storage.conform(rows, schema))
        positions.append(mine)
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    if positions:
        table = table.take(np.argsort(np.concatenate(positions), kind="stable"))
    table = table.append_column(storage.SCORE_COLUMN, pa.array(selected["score"], pa.float64()))
    storage.write_atomic(uri, table, storage_options)
    return len(table)


# ---------------------------------------------------------------- driver


class MergeTree:
    """Merges shard results as they arrive, MERGE_FAN_IN at a time per level.

    A tree rather than one driver loop: merges run as tasks in parallel with scoring, and
    the object store never holds more than a fan-in's worth of unmerged results per level.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self.levels: list[list[ray.ObjectRef]] = []

    def add(self, result: ray.ObjectRef, level: int = 0) -> None:
        if level == len(self.levels):
            self.levels.append([])
        self.levels[level].append(result)
        if len(self.levels[level]) == MERGE_FAN_IN:
            merged = merge_results.remote(self.k, *self.levels[level])
            self.levels[level] = []
            self.add(merged, level + 1)

    def result(self) -> np.ndarray:
        remaining = [ref for level in self.levels for ref in level]
        return ray.get(merge_results.remote(self.k, *remaining))


@contextmanager
def timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    seconds[phase] = round(time.monotonic() - start, 3)


def run_select(config: SelectConfig) -> dict[str, Any]:
    """Run a selection job end to end; returns the summary also written to summary.json.

    Inputs are checked before Ray starts, so bad input fails fast. Then the job joins the
    Ray already initialized in this process, else the one at ``config.address``, else
    starts a local one.
    """
    options = config.storage_options
    seconds: dict[str, float] = {}
    success = storage.join(config.out, SUCCESS)
    if storage.exists(success, options):
        if not config.overwrite:
            raise ZipfitError(f"--out: {config.out} already holds a finished result (--overwrite)")
        storage.remove(success, options)  # the old result stops being complete right away
    storage.make_dirs(config.out, options)

    with timed(seconds, "plan"):
        files = storage.list_pool_files(config.pool, options)
        progress = Progress("plan", len(files), "footers")
        scan = storage.scan_pool(
            files,
            config.text_column,
            options,
            skip_bad_files=config.on_bad_file == "skip",
            on_footer=lambda: progress.advance(1),
        )
        progress.close()
    with timed(seconds, "targets"):
        targets = prepare_targets(
            storage.read_targets(config.targets, config.target_column, options),
            config.compressor,
            config.level,
        )
    finished = checkpoints.open_for_job(
        config.out, checkpoints.fingerprint(config, scan, targets), config.overwrite, options
    )
    log(
        f"pool: {len(scan.files)} files, {scan.num_rows:,} rows; targets: {len(targets.texts)} "
        f"texts; {config.compressor} level {config.level}"
    )
    for uri in scan.skipped_files:
        log(f"warning: skipped {uri}: not a readable Parquet file")

    started_ray = not ray.is_initialized()
    if started_ray:
        # "local" starts a new Ray even where `ray start` left one running on this machine
        ray.init(address=config.address or "local", num_cpus=config.num_cpus)
    try:
        summary = _select_on_ray(config, scan, targets, finished, seconds)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, ZipfitError):  # a user error met inside a task
            raise ZipfitError(str(exc.cause)) from None
        raise
    finally:
        if started_ray:
            ray.shutdown()
    storage.write_json(storage.join(config.out, SUMMARY), summary, options)
    storage.write_atomic(success, b"", options)
    checkpoints.remove_all(config.out, options)
    log(
        f"selected {summary['rows_selected']:,} of {summary['rows_read']:,} rows into "
        f"{config.out} in {sum(seconds.values()):.1f}s"
    )
    return summary


def _select_on_ray(
    config: SelectConfig,
    scan: storage.PoolScan,
    targets: PreparedTargets,
    finished: set[str],
    seconds: dict[str, float],
) -> dict[str, Any]:
    shards = storage.cut_shards(scan, config.shard_rows or _auto_shard_rows(scan.num_rows))
    with timed(seconds, "score"):
        merge_tree, tally = _score_pool(shards, ray.put(targets), finished, config)
    with timed(seconds, "reduce"):
        selected = merge_tree.result()
    if len(selected) < config.k:
        log(f"warning: only {len(selected):,} rows were scored; --k {config.k:,} keeps them all")
    with timed(seconds, "materialize"):
        parts = _materialize(selected, scan, config)
    bad_files = list(dict.fromkeys([*scan.skipped_files, *tally.pop("bad_files")]))
    return {
        "arguments": config.public_dict(),
        "files": len(scan.files) + len(scan.skipped_files),
        "files_skipped": len(bad_files),
        "bad_files": bad_files[:BAD_FILES_LISTED],
        "rows_total": scan.num_rows,
        **tally,
        "rows_selected": len(selected),
        "targets": len(targets.texts),
        "shards_total": len(shards),
        "parts": parts,
        "seconds": seconds,
        "selected_score_quantiles": _quantiles(selected["score"]),
    }


def _score_pool(
    shards: tuple[storage.Shard, ...],
    targets_ref: ray.ObjectRef,
    finished: set[str],
    config: SelectConfig,
) -> tuple[MergeTree, dict[str, Any]]:
    """Submit one task per shard, at most max_in_flight at a time, merging as they finish.

    Shards with a checkpoint from an earlier run of the same job are loaded, not scored.
    """
    merge_tree = MergeTree(config.k)
    tally: dict[str, Any] = dict.fromkeys(scoring.COUNT_KEYS, 0)
    tally.update(shards_resumed=0, bad_files=[])
    names = [checkpoints.shard_name(shard) for shard in shards]
    rows_to_score = sum(s.num_rows for s, n in zip(shards, names) if n not in finished)
    progress = Progress("score", rows_to_score, "rows")
    shards_done = 0
    queue = iter(zip(shards, names))
    in_flight: dict[ray.ObjectRef, ray.ObjectRef] = {}  # notes ref -> top-k ref

    def submit_next() -> None:
        shard, name = next(queue, (None, None))
        if shard is not None:
            uri = storage.join(config.out, checkpoints.DIRECTORY, name)
            best, notes = score_shard.remote(shard, targets_ref, config, uri, name in finished)
            in_flight[notes] = best

    for _ in range(_max_in_flight(config)):
        submit_next()
    while in_flight:
        done, _ = ray.wait(list(in_flight), num_returns=1)
        for notes_ref in done:
            merge_tree.add(in_flight.pop(notes_ref))
            notes = ray.get(notes_ref)
            for key, value in notes["counts"].items():
                tally[key] += value
            tally["bad_files"] += notes["bad_files"]
            tally["shards_resumed"] += notes["resumed"]
            shards_done += 1
            scored_rows = 0 if notes["resumed"] else notes["counts"].get("rows_read", 0)
            progress.advance(scored_rows, f"{shards_done}/{len(shards)} shards")
            submit_next()
    progress.close()
    return merge_tree, tally


def _materialize(selected: np.ndarray, scan: storage.PoolScan, config: SelectConfig) -> list[str]:
    """Write the selection as part-NNNNN.parquet files, best rows first; drop stale parts."""
    chunks = [selected[i : i + config.part_rows] for i in range(0, len(selected), config.part_rows)]
    chunks = chunks or [selected]  # an empty selection still gets one (empty) part
    names = [f"part-{i:05d}.parquet" for i in range(len(chunks))]
    file_indices = np.unique(storage.unpack_row_id(selected["row_id"])[0])
    files_ref = ray.put({int(f): (scan.files[f], scan.row_groups[f]) for f in file_indices})
    progress = Progress("write", len(chunks), "parts")
    in_flight: list[ray.ObjectRef] = []
    for name, chunk in zip(names, chunks):
        if len(in_flight) >= _max_in_flight(config):
            done, in_flight = ray.wait(in_flight, num_returns=1)
            ray.get(done)  # raises if the part failed
            progress.advance(len(done))
        uri = storage.join(config.out, name)
        in_flight.append(
            write_part.remote(uri, chunk, files_ref, scan.schema, config.storage_options)
        )
    ray.get(in_flight)
    progress.advance(len(in_flight))
    progress.close()
    _remove_outputs(config.out, keep=set(names), options=config.storage_options)
    return names


def _auto_shard_rows(num_rows: int) -> int:
    """Small enough for SHARDS_PER_CPU shards per CPU (balance), at most MAX_SHARD_ROWS."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(MAX_SHARD_ROWS, -(-num_rows // (SHARDS_PER_CPU * cpus))))


def _max_in_flight(config: SelectConfig) -> int:
    """Tasks queued at once: enough to keep every CPU busy, few enough to bound memory."""
    return config.max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))


def _remove_outputs(out: str, keep: set[str], options: dict[str, Any]) -> None:
    """Remove result files of an earlier run (parts, summary, marker) not in ``keep``."""
    for name in storage.list_names(out, options):
        if name not in keep and (name.startswith("part-") or name in (SUMMARY, SUCCESS)):
            storage.remove(storage.join(out, name), options)


def _quantiles(scores: np.ndarray) -> dict[str, float]:
    if len(scores) == 0:
        return {}
    return {f"q{q:g}": float(np.quantile(scores, q)) for q in QUANTILES}
