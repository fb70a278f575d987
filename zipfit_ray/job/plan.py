"""Planning on the cluster: the pool's files listed and planned (in tasks when there are
many), and cut into shards sized for the cluster's CPUs."""

from __future__ import annotations

from dataclasses import dataclass

from zipfit_ray import modes, storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job.checkpoints import shard_name
from zipfit_ray.job.runtime import RayCluster, cluster_cpus, run_on_ray
from zipfit_ray.kernel.alignment import PreparedTargets, prepare_targets
from zipfit_ray.progress import Progress, log
from zipfit_ray.selection.tokens import TokenCounter
from zipfit_ray.storage import columns

MAX_SHARD_ROWS = 8192  # default upper bound on rows per scoring task
SHARDS_PER_CPU = 16  # default lower bound on shards per CPU, so the last wave of tasks is short
PLAN_IN_TASKS_FROM = 2000  # files: from this many, footers are read in Ray tasks
PLAN_CHUNK_FILES = 500  # files per planning task


def plan_pool(config: SelectConfig) -> storage.PoolScan:
    """List the pool and plan its files: here with threads, or, past PLAN_IN_TASKS_FROM
    files, in Ray tasks of PLAN_CHUNK_FILES files each, so that footers are fetched from
    many nodes at once (benchmarks/planning.py: ~5 ms per file from one driver)."""
    options = config.runtime.storage_options
    files = storage.list_pool_files(config.reading.pool, options)
    progress = Progress("plan", len(files), "files")
    if len(files) < PLAN_IN_TASKS_FROM:
        plans = storage.plan_files(
            files, config.reading.text_column, options, lambda: progress.advance(1)
        )
    else:
        plans = run_on_ray(
            config.runtime.address,
            config.runtime.num_cpus,
            lambda: _plan_in_tasks(files, config, progress),
        )
    progress.close()
    return storage.combine(
        files,
        plans,
        config.reading.text_column,
        skip_bad_files=config.reading.on_bad_file == "skip",
        group_column=config.groups.group_column,
        adding=added_columns(config),
    )


def added_columns(config: SelectConfig) -> tuple[str, ...]:
    """The columns this plan's parts add to the pool's (storage.columns.added)."""
    return columns.added(
        modes.get(config.scoring.mode).score_column,
        tuple(config.scoring.target_sets or ()),
        soft=bool(config.selecting.temperature),
        ranked=config.output.order == "score",
        served=config.selecting.per_item,
    )


@dataclass(frozen=True)
class Inputs:
    """What a job reads besides the pool: the targets (prepared for the kernel), the eval
    sets the guard checks for, and the tokenizer."""

    targets: PreparedTargets
    eval_sets: dict[str, list[bytes]]
    tokenizer_json: str | None


def read_inputs(config: SelectConfig) -> Inputs:
    """Read and check the job's inputs (a bad one fails here, before any task starts)."""
    scoring, options = config.scoring, config.runtime.storage_options
    texts, sets = storage.read_target_sets(
        scoring.target_sets or scoring.targets[0], scoring.target_column, options
    )
    targets = prepare_targets(texts, scoring.compressor, scoring.level, scoring.joint, sets)
    guarded = storage.read_eval_sets(config.trust.eval_sets, scoring.target_column, options)
    tokenizer_json = read_tokenizer(config.selecting.tokenizer, options)
    if config.trust.exclude_near:  # read after scoring: a missing one fails here, not then
        storage.list_pool_files(config.trust.exclude_near, options, "--exclude-near")
    return Inputs(targets, guarded, tokenizer_json)


def read_tokenizer(uri: str | None, options: dict) -> str | None:
    """--tokenizer's JSON (None: the built-in count), checked here, not in every task."""
    tokenizer_json = storage.read_bytes(uri, options).decode() if uri else None
    TokenCounter(tokenizer_json)
    return tokenizer_json


def _plan_in_tasks(
    files: list[str], config: SelectConfig, progress: Progress
) -> list[storage.FilePlan | ZipfitError]:
    cluster = RayCluster(config.runtime.max_in_flight, config.runtime.storage_options)
    column = config.reading.text_column
    return plan_in_tasks(cluster, files, column, config.runtime.storage_options, progress)


def plan_in_tasks(
    cluster: RayCluster,
    files: list[str],
    column: str,
    options: dict,
    progress: Progress | None = None,
) -> list[storage.FilePlan | ZipfitError]:
    """Each file's plan, in ``files``' order: footers in tasks of PLAN_CHUNK_FILES files;
    files without one here, from the listing just made (its entries are cached: no request
    per file, where a task would send one)."""
    footed = [f for f in files if storage.format_of(f).has_footer]
    footerless = [f for f in files if not storage.format_of(f).has_footer]
    chunks = [
        tuple(footed[i : i + PLAN_CHUNK_FILES]) for i in range(0, len(footed), PLAN_CHUNK_FILES)
    ]
    found: dict[str, storage.FilePlan | ZipfitError] = {}
    for chunk, plans in cluster.map(storage.plan_files, chunks, column, options):
        found |= zip(chunk, plans)  # tasks finish in any order: each plan by its file
        if progress is not None:
            progress.advance(len(plans))
    found |= zip(footerless, storage.plan_files(footerless, column, options))
    if progress is not None:
        progress.advance(len(footerless))
    return [found[f] for f in files]


def shards(scan: storage.PoolScan, config: SelectConfig) -> list[tuple[storage.Shard, str]]:
    """The pool's shards and their names, sized by --shard-rows or for the cluster (call on
    Ray)."""
    shard_rows = config.reading.shard_rows or auto_shard_rows(scan.num_rows)
    found = storage.cut_shards(scan, shard_rows)
    _warn_if_row_groups_limit_parallelism(found, shard_rows)
    return [(shard, shard_name(shard)) for shard in found]


def auto_shard_rows(num_rows: int) -> int:
    """Small enough for SHARDS_PER_CPU shards per CPU (balance), at most MAX_SHARD_ROWS."""
    return max(1, min(MAX_SHARD_ROWS, -(-num_rows // (SHARDS_PER_CPU * cluster_cpus()))))


def _warn_if_row_groups_limit_parallelism(shards: tuple[storage.Shard, ...], rows: int) -> None:
    """A row group is never split (each task would fetch all of it), so a pool of a few
    large row groups leaves CPUs idle; say so, and what to do."""
    cpus = cluster_cpus()
    largest = max((p.num_rows for s in shards for p in s.pieces), default=0)
    if len(shards) < cpus and largest > rows:
        log(
            f"warning: {cpus} CPUs but {len(shards)} shard(s): the pool's row groups (up to "
            f"{largest:,} rows) are larger than a shard ({rows:,} rows) and are not split; "
            f"rewrite it with smaller row groups, e.g. pyarrow.parquet.write_table(..., "
            f"row_group_size={rows})"
        )
