"""The Ray drivers that read a sample of a pool, not all of it: compare-datasets (the
alignment of whole datasets, with an interval) and estimate (what a select would cost and
where it would cut). They share the job's planning and its Ray start-up."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from zipfit_ray import modes, storage
from zipfit_ray.analysis import cost, dataset_alignment
from zipfit_ray.analysis.dataset_alignment import SampleRead
from zipfit_ray.config import PoolReading, SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import plan
from zipfit_ray.job.runtime import RayCluster, cluster_cpus, run_on_ray
from zipfit_ray.kernel.alignment import PreparedTargets, prepare_targets, score
from zipfit_ray.kernel.backends import DEFAULT_COMPRESSOR
from zipfit_ray.selection.tokens import TokenCounter
from zipfit_ray.storage import columns

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
    joint: str | None = None,
    max_bytes: int = PoolReading.max_bytes,
    storage_options: dict[str, Any] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
) -> list[dict[str, Any]]:
    """Dataset-level alignment of each dataset (a file, directory or glob) to the targets,
    from ``sample`` rows of each, with a 95% confidence interval."""
    options = storage_options or {}
    targets = prepare_targets(
        storage.read_targets(targets_uri, target_column, options), compressor, level, joint
    )
    plans = {
        dataset: dataset_alignment.plan_sample(
            storage.scan_pool(storage.list_pool_files([dataset], options), text_column, options),
            sample,
            seed,
        )
        for dataset in datasets
    }
    batches = [
        (dataset, batch) for dataset, reads in plans.items() for batch in sample_batches(reads)
    ]

    def work() -> list[dict[str, Any]]:
        cluster = RayCluster(None, options)
        found = cluster.map_in_order(
            _sample_scores, [b for _, b in batches], targets, text_column, max_bytes, options
        )
        scores: dict[str, list[np.ndarray]] = {dataset: [np.empty(0)] for dataset in plans}
        for (dataset, _), batch_scores in zip(batches, found):
            scores[dataset].append(batch_scores)
        return [
            {
                "dataset": dataset,
                "rows_sampled": int(sum(len(read.rows) for read in reads)),
                **dataset_alignment.interval(np.concatenate(scores[dataset])),
            }
            for dataset, reads in plans.items()
        ]

    return run_on_ray(address, num_cpus, work)


def sample_batches(reads: list[SampleRead]) -> list[list[SampleRead]]:
    """Group a sample's reads into tasks of about SAMPLE_ROWS_PER_TASK rows."""
    batches: list[list[SampleRead]] = [[]]
    rows = 0
    for read in reads:
        if rows >= SAMPLE_ROWS_PER_TASK:
            batches.append([])
            rows = 0
        batches[-1].append(read)
        rows += len(read.rows)
    return [b for b in batches if b]


def _sample_texts(
    reads: list[SampleRead], text_column: str, max_bytes: int, options: dict[str, Any]
) -> list[bytes]:
    """The sampled rows' texts (nulls skipped, long texts cut as in select)."""
    texts: list[bytes] = []
    for read in reads:
        texts += storage.read_texts(
            read.path, read.row_group_sizes, read.rows, text_column, max_bytes, options
        )
    return texts


def _sample_scores(
    reads: list[SampleRead],
    targets: PreparedTargets,
    text_column: str,
    max_bytes: int,
    options: dict[str, Any],
) -> np.ndarray:
    return score(_sample_texts(reads, text_column, max_bytes, options), targets)


def _timed_scores(texts: list[bytes], targets: PreparedTargets) -> tuple[np.ndarray, float]:
    """Exact scores of texts on a worker, and the seconds they took."""
    start = time.perf_counter()
    return score(texts, targets), time.perf_counter() - start


# ---------------------------------------------------------------- estimate


def run_estimate(
    config: SelectConfig,
    *,
    sample: int,
    seed: int = 0,
    settings: list[tuple[str, int, str]] = (),
    cpus: int | None = None,
    core_hour_price: float | None = None,
) -> dict[str, Any]:
    """What ``config``'s selection would cost, for its compressor (and level and joint) and
    for each of ``settings`` (name, level, joint), in every
    mode its rule allows: from a uniform sample of the pool scored (and timed) on the
    cluster's own workers. Nothing is written."""
    if config.selecting.rule.per_item:
        raise ZipfitError(
            "estimate: --per-target selects the union of every target item's rows, which a "
            "sample cannot size; estimate with --k (its cost is exact mode's)"
        )
    options = config.runtime.storage_options
    scan = plan.plan_pool(config)
    inputs = plan.read_inputs(config)
    target_texts, sets = inputs.targets.texts, inputs.targets.sets
    chosen = (config.scoring.compressor, config.scoring.level, config.scoring.joint)
    settings = [chosen, *[s for s in settings if s != chosen]]
    reads = dataset_alignment.plan_sample(scan, sample, seed)
    sampled = sum(len(read.rows) for read in reads)

    def work() -> dict[str, Any]:
        cluster = RayCluster(config.runtime.max_in_flight, options)
        found = cluster.map_in_order(
            _sample_texts,
            sample_batches(reads),
            config.reading.text_column,
            config.reading.max_bytes,
            options,
        )
        texts = [t for batch in found for t in batch]
        sample_facts = _Sample(
            texts=texts,
            chunks=[
                texts[i : i + SAMPLE_ROWS_PER_TASK]
                for i in range(0, len(texts), SAMPLE_ROWS_PER_TASK)
            ],
            tokens=TokenCounter(inputs.tokenizer_json).count(texts),
            present=cost.share_interval(len(texts), sampled),
            pool_rows=scan.num_rows,
            shard_rows=config.reading.shard_rows or plan.auto_shard_rows(scan.num_rows),
            cluster_cpus=cluster_cpus(),
        )
        estimates = []
        for name, level, joint in settings:
            targets = prepare_targets(target_texts, name, level, joint, sets)
            estimates += _estimates(cluster, config, targets, sample_facts, cpus, core_hour_price)
        return {
            "pool": {
                "rows": scan.num_rows,
                "files": len(scan.files),
                "row_groups": sum(len(g) for g in scan.row_groups),
                "text_column_bytes": scan.text_bytes,
                "rows_with_text": vars(sample_facts.present),
            },
            "sample": {"rows": sampled, "seed": seed, "scored": len(texts)},
            "cluster_cpus": sample_facts.cluster_cpus,
            "shard_rows": sample_facts.shard_rows,
            "rule": config.selecting.rule.describe(),
            "estimates": estimates,
        }

    return run_on_ray(config.runtime.address, config.runtime.num_cpus, work)


@dataclass(frozen=True)
class _Sample:
    """The sample's texts and what every estimate shares of it and of the pool."""

    texts: list[bytes]
    chunks: list[list[bytes]]  # the texts, as the timed tasks take them
    tokens: np.ndarray
    present: cost.Interval  # the share of the pool's rows that hold a text
    pool_rows: int
    shard_rows: int
    cluster_cpus: int


def _estimates(
    cluster: RayCluster,
    config: SelectConfig,
    targets: PreparedTargets,
    sample: _Sample,
    cpus: int | None,
    core_hour_price: float | None,
) -> list[dict[str, Any]]:
    """One compressor's estimates, a record per mode the rule allows."""
    timed = cluster.map_in_order(_timed_scores, sample.chunks, targets)
    scores = np.concatenate([s for s, _ in timed])
    per_pair = sum(t for _, t in timed) / (len(sample.texts) * len(targets.texts))
    rule = config.selecting.rule
    share = cost.selected_share(rule, scores, sample.tokens, sample.pool_rows)
    if not rule.streamed:
        cut_at = cost.threshold(scores, share)
        selected = cost.Interval(share, share, share)
    else:
        at = config.selecting.threshold
        cut_at = cost.Interval(at, at, at)
        selected = cost.share_interval(int((scores >= at).sum()), len(scores))
    rows = sample.pool_rows * sample.present.estimate
    records = []
    for mode in modes.MODES.values():
        if not mode.selects_with(rule.name) or (targets.sets and not mode.exact):
            continue
        pairs_per_row, other_per_row = mode(config).estimate(
            cluster, sample.chunks, targets, cut_at.estimate, sample.pool_rows
        )
        per_row = pairs_per_row.estimate * per_pair + other_per_row
        record = {
            "compressor": targets.compressor,
            "level": targets.level,
            "joint": targets.joint,
            "mode": mode.name,
            "pair_compressions": {
                "estimate": rows * pairs_per_row.estimate,
                "low": sample.pool_rows * sample.present.low * pairs_per_row.low,
                "high": sample.pool_rows * sample.present.high * pairs_per_row.high,
            },
            "seconds_per_pair": per_pair,
            "core_hours": rows * per_row / 3600,
            "wall_seconds": cost.wall_seconds(
                round(rows), sample.shard_rows, per_row, sample.cluster_cpus
            ),
            # a mode whose scores are not ZIP-FIT's has no threshold on ZIP-FIT's scale, nor
            # has a mixture of named sets (each set's is its own)
            "threshold": vars(cut_at)
            if mode.score_column == columns.SCORE and not targets.sets
            else None,
            "share_selected": vars(selected),
        }
        if cpus:
            record["wall_seconds_on_cpus"] = cost.wall_seconds(
                round(rows), sample.shard_rows, per_row, cpus
            )
        if core_hour_price is not None:
            record["cost"] = rows * per_row / 3600 * core_hour_price
        records.append(record)
    return records
