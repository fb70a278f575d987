"""The Ray drivers that read a sample of a pool, not all of it: compare-datasets (the
alignment of whole datasets, with an interval) and estimate (what a select would cost and
where it would cut). They share the job's planning and its Ray start-up."""

from __future__ import annotations

from typing import Any

import numpy as np
import ray

from zipfit_ray import storage
from zipfit_ray.analysis import cost, dataset_alignment
from zipfit_ray.config import SelectConfig
from zipfit_ray.job.select import auto_shard_rows, plan_pool, run_on_ray
from zipfit_ray.job.tasks import read_sample, score_sample, time_scoring
from zipfit_ray.kernel import compressors
from zipfit_ray.kernel.alignment import prepare_targets
from zipfit_ray.kernel.compressors import DEFAULT_COMPRESSOR
from zipfit_ray.selection.tokens import TokenCounter

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
        dataset: dataset_alignment.plan_sample(
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
                **dataset_alignment.estimate(np.concatenate([np.empty(0), *ray.get(refs)])),
            }
            for dataset, refs in pending.items()
        ]

    return run_on_ray(address, num_cpus, work)


def _batches(reads: list[dataset_alignment.SampleRead]) -> list[list[dataset_alignment.SampleRead]]:
    """Group a sample's reads into tasks of about SAMPLE_ROWS_PER_TASK rows."""
    batches: list[list[dataset_alignment.SampleRead]] = [[]]
    rows = 0
    for read in reads:
        if rows >= SAMPLE_ROWS_PER_TASK:
            batches.append([])
            rows = 0
        batches[-1].append(read)
        rows += len(read.rows)
    return [b for b in batches if b]


# ---------------------------------------------------------------- estimate


def run_estimate(
    config: SelectConfig,
    *,
    sample: int,
    seed: int = 0,
    settings: list[tuple[str, int | None]] = (),
    cpus: int | None = None,
    core_hour_price: float | None = None,
) -> dict[str, Any]:
    """What ``config``'s selection would cost, for its compressor and ``settings``, in exact
    mode and with early exit: from a uniform sample of the pool scored (and timed) on the
    cluster's own workers. Nothing is written."""
    options = config.storage_options
    scan = plan_pool(config, {})
    target_texts = storage.read_targets(config.targets, config.target_column, options)
    tokenizer_json = (
        storage.read_bytes(config.tokenizer, options).decode() if config.tokenizer else None
    )
    chosen = (config.compressor, config.level)
    settings = [chosen, *[s for s in settings if (s[0], compressors.resolve_level(*s)) != chosen]]
    reads = dataset_alignment.plan_sample(scan, sample, seed)
    sampled = sum(len(read.rows) for read in reads)
    rule = config.rule

    def work() -> dict[str, Any]:
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        refs = [
            read_sample.remote(b, config.text_column, config.max_bytes, options)
            for b in _batches(reads)
        ]
        texts = [t for batch in ray.get(refs) for t in batch]
        tokens = TokenCounter(tokenizer_json).count(texts)
        present = cost.share_interval(len(texts), sampled)
        rows = scan.num_rows * present.estimate
        chunks = [
            texts[i : i + SAMPLE_ROWS_PER_TASK] for i in range(0, len(texts), SAMPLE_ROWS_PER_TASK)
        ]
        shard_rows = config.shard_rows or auto_shard_rows(scan.num_rows)
        results = []
        for name, level in settings:
            targets = prepare_targets(target_texts, name, level)
            targets_ref, m = ray.put(targets), len(targets.texts)
            timed_chunks = ray.get(
                [time_scoring.remote(c, targets_ref, None, config.early_exit_z) for c in chunks]
            )
            scores = np.concatenate([t["scores"] for t in timed_chunks])
            per_pair = sum(t["seconds"] for t in timed_chunks) / sum(
                t["pairs"] for t in timed_chunks
            )
            share = cost.selected_share(rule, scores, tokens, scan.num_rows)
            if rule.min_score is None:
                cut_at = cost.threshold(scores, share)
                selected = cost.Interval(share, share, share)
            else:
                cut_at = cost.Interval(rule.min_score, rule.min_score, rule.min_score)
                selected = cost.share_interval(int((scores >= rule.min_score).sum()), len(scores))
            # per mode: pair compressions per row, and other work in seconds per row
            modes = {"exact": (cost.Interval(m, m, m), 0.0)}
            if rule.budget_tokens is None:  # early exit selects by --k or --min-score
                early = ray.get(
                    [
                        time_scoring.remote(c, targets_ref, cut_at.estimate, config.early_exit_z)
                        for c in chunks
                    ]
                )
                pairs_per_row = np.array([e["pairs"] / len(c) for e, c in zip(early, chunks)])
                modes["approx-early-exit"] = (cost.mean_interval(pairs_per_row), 0.0)
            if rule.k is not None:  # the prefilter's pass, then (cascade) c*K rows exactly
                timed_pass = ray.get(
                    [time_scoring.remote(c, targets_ref, None, 0, config.prefilter) for c in chunks]
                )
                pass_per_row = sum(t["seconds"] for t in timed_pass) / len(texts)
                shortlisted = min(1.0, config.cascade_factor * rule.k / scan.num_rows) * m
                shortlist = cost.Interval(shortlisted, shortlisted, shortlisted)
                modes["approx-cascade"] = (shortlist, pass_per_row)
                modes["approx-prefilter"] = (cost.Interval(0, 0, 0), pass_per_row)
            for mode, (pairs_per_row, other_per_row) in modes.items():
                pairs = rows * pairs_per_row.estimate
                per_row = pairs_per_row.estimate * per_pair + other_per_row
                record = {
                    "compressor": name,
                    "level": targets.level,
                    "mode": mode,
                    "pair_compressions": {
                        "estimate": pairs,
                        "low": scan.num_rows * present.low * pairs_per_row.low,
                        "high": scan.num_rows * present.high * pairs_per_row.high,
                    },
                    "seconds_per_pair": per_pair,
                    "core_hours": rows * per_row / 3600,
                    "wall_seconds": cost.wall_seconds(
                        round(rows), shard_rows, per_row, cluster_cpus
                    ),
                    # the prefilter's scores are not ZIP-FIT's: no threshold on their scale
                    "threshold": None if mode == "approx-prefilter" else vars(cut_at),
                    "share_selected": vars(selected),
                }
                if cpus:
                    record["wall_seconds_on_cpus"] = cost.wall_seconds(
                        round(rows), shard_rows, per_row, cpus
                    )
                if core_hour_price is not None:
                    record["cost"] = rows * per_row / 3600 * core_hour_price
                results.append(record)
        return {
            "pool": {
                "rows": scan.num_rows,
                "files": len(scan.files),
                "row_groups": sum(len(g) for g in scan.row_groups),
                "text_column_bytes": scan.text_bytes,
                "rows_with_text": vars(present),
            },
            "sample": {"rows": sampled, "seed": seed, "scored": len(texts)},
            "cluster_cpus": cluster_cpus,
            "shard_rows": shard_rows,
            "rule": rule.describe(),
            "estimates": results,
        }

    return run_on_ray(config.address, config.num_cpus, work)
