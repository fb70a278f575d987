"""The select and reselect drivers: plan -> broadcast -> score shards -> cut -> write the
selection -> report. Inputs are checked before Ray starts, so bad input fails fast."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pyarrow as pa

from zipfit_ray import modes, report, storage
from zipfit_ray.analysis import target_set
from zipfit_ray.config import SelectConfig, scored_flags
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import checkpoints, cuts, notes, phases, plan, target_halves
from zipfit_ray.job.runtime import RayCluster, run_on_ray
from zipfit_ray.job.worker import Shared
from zipfit_ray.kernel.alignment import PreparedTargets
from zipfit_ray.progress import log, timed
from zipfit_ray.selection import cut
from zipfit_ray.selection.amounts import Amount
from zipfit_ray.selection.contamination import ContaminationIndex
from zipfit_ray.storage import jsonl, locations, outputs


def run_select(config: SelectConfig) -> dict[str, Any]:
    """Score a pool and select from it; returns the summary also written to summary.json.

    Joins the Ray already initialized in this process, else the one at the plan's
    ``runtime.address``, else starts a local one.
    """
    options = config.runtime.storage_options
    seconds: dict[str, float] = {}
    phases.check_rank_possible(config)
    outputs.claim(config.output.out, config.output.overwrite, options)
    with timed(seconds, "plan"):
        scan = plan.plan_pool(config)
    with timed(seconds, "targets"):
        inputs = plan.read_inputs(config)
    targets, spread = inputs.targets, None
    if not targets.sets:  # one set's spread (named sets: their union's would mean nothing)
        mean_ncd, counted = target_set.spread(targets)
        spread = {"mean_ncd": mean_ncd, "targets": counted}
    guard = None
    if config.trust.decontaminate != "off":
        guard = ContaminationIndex({"targets": targets.texts, **inputs.eval_sets})
    tokenizer_json = inputs.tokenizer_json
    job = checkpoints.fingerprint(config, scan, targets, tokenizer_json, inputs.eval_sets)
    finished = checkpoints.open_for_job(
        config.output.out, job, config.output.overwrite, options, scan
    )
    contaminated = storage.join(config.output.out, outputs.CONTAMINATED)
    if not finished and storage.exists(contaminated, options):
        storage.remove(contaminated, options)  # an earlier job's: this one starts afresh
    saved_job = {"job": job, "arguments": config.public_dict(), "files": list(scan.files)}
    saved_job_uri = storage.join(config.output.out, outputs.SCORES, outputs.SCORES_JOB)
    if config.output.all_scores:
        storage.write_json(saved_job_uri, saved_job, options)
    _log_start(config, scan, targets)

    def work() -> tuple[notes.Outcome, dict[str, list[str]]]:
        cluster = RayCluster(config.runtime.max_in_flight, options)
        shared = _shared(cluster, config, targets, tokenizer_json, scan, scan.schema, guard)
        return _select(cluster, shared, plan.shards(scan, config), finished, seconds)

    outcome, fields = run_on_ray(config.runtime.address, config.runtime.num_cpus, work)
    rows_total = notes.rows_total(outcome.tally.counts)
    pool = {
        "files": len(scan.files) + len(scan.skipped_files),
        "rows_total": rows_total,
        "targets": len(targets.texts),
        "target_spread": spread,
        **notes.bad_files(scan.skipped_files, outcome.tally.bad_files),
    }
    if config.output.all_scores:  # what reselect needs that only scoring learns
        contaminated_rows = outcome.tally.counts["rows_contaminated"]
        by_set = dict(outcome.tally.contaminated_by_set)
        saved_job.update(
            fields=fields,
            rows_total=rows_total,
            rows_contaminated=contaminated_rows,
            rows_contaminated_by_set=by_set,
            target_spread=pool["target_spread"],
            groups=dict(outcome.tally.groups),
        )
        storage.write_json(saved_job_uri, saved_job, options)
    summary = _publish(config, outcome, pool, seconds)
    checkpoints.remove_all(config.output.out, options)
    leftovers = [] if config.output.all_scores else [outputs.SCORES]
    for leftover in [*leftovers, outputs.RESCORED, outputs.CHECKS]:
        if storage.exists(storage.join(config.output.out, leftover), options):
            storage.remove(storage.join(config.output.out, leftover), options)
    return summary


def run_reselect(scores: str, options: dict[str, Any]) -> dict[str, Any]:
    """Apply a new selection rule to the scores a job saved with --all-scores under
    ``scores`` (its output directory), without scoring again. ``options`` are SelectConfig
    flags (the rule, out, ...); what decided the scores (config.SCORED_PARTS: the pool's
    reading, the scoring, the guard) is the saved job's. Whether near-duplicates are
    dropped is this selection's own choice (the saved --dedup only says that signatures
    were saved). The pool must be unchanged since it was scored."""
    locations.check_apart(options["out"], "--out", [scores], "--scores")
    storage_options = options.get("storage_options", {})
    saved_job_uri = storage.join(scores, outputs.SCORES, outputs.SCORES_JOB)
    if not storage.exists(saved_job_uri, storage_options):
        raise ZipfitError(f"--scores: {scores} holds no saved scores (run select --all-scores)")
    saved = json.loads(storage.read_bytes(saved_job_uri, storage_options))
    scored_with = scored_flags(saved["arguments"])  # a flag added since: its default
    config = SelectConfig.from_flags(**{**scored_with, "dedup": False, **options})
    if config.trust.dedup and not saved["arguments"].get("dedup"):
        raise ZipfitError(
            f"--dedup: the scores under {scores} were saved without near-duplicate "
            "signatures (select --all-scores --dedup saves them)"
        )
    same_groups = config.groups.group_column == saved["arguments"].get("group_column")
    groups = saved.get("groups", {}) if same_groups else {}
    if config.groups.grouped and not (
        same_groups and saved["job"]["format"] >= checkpoints.GROUPS_SAVED
    ):
        raise ZipfitError(
            f"--group-column: the scores under {scores} were saved without the groups of "
            f"{config.groups.group_column!r} (select --all-scores --group-column COL saves them)"
        )
    if config.trust.dedup and config.trust.dedup_threshold != saved["arguments"]["dedup_threshold"]:
        raise ZipfitError(
            f"--dedup-threshold: the scores under {scores} hold signatures banded for "
            f"{saved['arguments']['dedup_threshold']}; score again for another threshold"
        )
    seconds: dict[str, float] = {}
    phases.check_rank_possible(config)
    outputs.claim(config.output.out, config.output.overwrite, storage_options)
    with timed(seconds, "plan"):
        scan = plan.plan_pool(config)
    if saved["job"]["pool"] != checkpoints.pool_digest(scan):
        raise ZipfitError(
            f"--scores: the pool {list(config.reading.pool)} changed since it was scored"
        )
    listed = storage.list_names(storage.join(scores, outputs.SCORES), storage_options)
    score_files = [name for name in listed if name.endswith(".parquet")]
    log(f"re-selecting {config.selecting.rule.describe()} from {len(score_files)} score files")
    sources = [
        (storage.join(scores, outputs.SCORES, name), name.removesuffix(".parquet"))
        for name in score_files
    ]
    schema = storage.output_schema(scan.schema, saved.get("fields", {}))

    def work() -> tuple[notes.Outcome, dict[str, list[str]]]:
        cluster = RayCluster(config.runtime.max_in_flight, storage_options)
        shared = _shared(cluster, config, None, None, scan, schema)
        return _select(cluster, shared, sources, set(), seconds, groups)

    outcome, _ = run_on_ray(config.runtime.address, config.runtime.num_cpus, work)
    pool = {
        "files": len(scan.files),
        "rows_total": saved.get("rows_total", scan.num_rows),
        "scores": scores,
        # the guard ran when the scores were saved: its counts, not this run's
        "rows_contaminated": saved.get("rows_contaminated", 0),
        "rows_contaminated_by_set": saved.get("rows_contaminated_by_set", {}),
        "target_spread": saved.get("target_spread"),
    }
    return _publish(config, outcome, pool, seconds)


def _log_start(config: SelectConfig, scan: storage.PoolScan, targets: PreparedTargets) -> None:
    rows = f"{scan.num_rows:,} rows"
    if scan.footerless_files:
        rows += f" in Parquet + {scan.footerless_files} JSONL files (their rows counted as read)"
    sets = ", ".join(f"{name} {size}" for name, size in targets.sets)
    scoring = config.scoring
    log(
        f"pool: {len(scan.files)} files, {rows}; targets: {len(targets.texts)} "
        f"texts{f' ({sets})' if sets else ''}; {scoring.compressor} level {scoring.level}, "
        f"{scoring.joint} joint; {config.selecting.rule.describe()}"
    )
    for uri in scan.skipped_files:
        log(f"warning: skipped {uri}: it cannot be read")


def _shared(
    cluster: RayCluster,
    config: SelectConfig,
    targets: PreparedTargets | None,
    tokenizer_json: str | None,
    scan: storage.PoolScan,
    schema: pa.Schema,
    guard: ContaminationIndex | None = None,
) -> Shared:
    """What every task is handed, with the job's mode started. --min-score streams (shards
    write their own rows) unless the pool has JSONL files, whose columns are known only
    once all are read, or --dedup needs every shard's rows first."""
    files = {i: (path, groups) for i, (path, groups) in enumerate(zip(scan.files, scan.row_groups))}
    streamed = (
        config.selecting.rule.streamed
        and not scan.footerless_files
        and not config.trust.dedup
        and not config.scoring.target_sets  # which set takes a row is known once all are scored
    )
    mode = modes.create(config)
    mode.start(cluster)
    return Shared(config, mode, targets, tokenizer_json, files, schema, streamed, guard)


def _select(
    cluster: RayCluster,
    shared: Shared,
    sources: list[tuple[phases.Source, str]],
    finished: set[str],
    seconds: dict[str, float],
    saved_groups: dict[str, int] | None = None,
) -> tuple[notes.Outcome, dict[str, list[str]]]:
    """Score every source, cut the order where the rule says, write what it selects.
    Returns what was found, and the JSONL records' field kinds (for reselect).
    ``saved_groups``: rows per group, where the sources are saved scores (reselect)."""
    config, mode = shared.config, shared.mode
    shared_ref = cluster.put(shared)
    if shared.streamed:  # recorded before any shard writes its part
        streamed = [
            outputs.streamed_part_name(name, config.output.part_suffix) for _, name in sources
        ]
        outputs.record(config.output.out, streamed, config.runtime.storage_options)
    with timed(seconds, "score"):
        tally = phases.score(cluster, sources, finished, shared, shared_ref)
    tally.groups.update(saved_groups or {})
    names = [name for _, name in sources]
    saved = [
        s if isinstance(s, str) else outputs.scores_uri(config.output.out, n) for s, n in sources
    ]
    fields: dict[str, list[str]] = {}
    for name in names:  # in pool order, so the columns' order does not depend on timing
        jsonl.merge_kinds(fields, tally.fields.get(name, {}))
    if fields:
        shared = replace(shared, schema=storage.output_schema(shared.schema, fields))
        shared_ref = cluster.put(shared)
    if shared.streamed:
        selection = tally.selection
        found = cuts.Found(saved, cut.at_least(config.selecting.threshold))
        outputs.remove_stale(
            config.output.out, keep=set(selection.parts), options=config.runtime.storage_options
        )
    else:
        histograms = tally.histogram, tally.token_histogram
        scores = cuts.Scores(
            cluster, mode, saved, names, shared_ref, *histograms, tally.groups, seconds
        )
        found = cuts.find(scores)
        tally.counts.update(found.counts)
        saved = found.saved
        with timed(seconds, "write"):
            selection = phases.write(cluster, saved, found.selector, shared_ref, config)
        wanted = config.selecting.rule.resolved(*scores.scored)
        if isinstance(wanted, Amount) and (wanted.k or 0) > scores.scored[0]:
            rule = config.selecting.rule.flag
            log(f"warning: only {scores.scored[0]:,} rows were scored; {rule} keeps them all")
    boundary = found.selector
    check = mode.self_check(cluster, names, boundary, tally.counts)
    halves = None
    if mode.exact:  # the scorer that has every NCD scores the halves; the others do not
        with timed(seconds, "target halves"):
            halves = target_halves.agreement(
                cluster, saved, selection.rows, config.runtime.storage_options
            )
    if storage.exists(
        storage.join(config.output.out, outputs.DEDUP), config.runtime.storage_options
    ):
        storage.remove(
            storage.join(config.output.out, outputs.DEDUP), config.runtime.storage_options
        )
    if config.output.order == "score":
        with timed(seconds, "rank"):
            rank_by = (
                mode.score_column if config.selecting.order_key == "score" else storage.KEY_COLUMN
            )
            phases.rank(config, sorted(selection.parts), rank_by)
    elif storage.exists(
        storage.join(config.output.out, outputs.RANKED), config.runtime.storage_options
    ):
        storage.remove(
            storage.join(config.output.out, outputs.RANKED), config.runtime.storage_options
        )  # stale
    outcome = notes.Outcome(
        tally, selection, len(sources), check, halves, found.target_sets, found.group_quotas
    )
    return outcome, fields


def _publish(
    config: SelectConfig, outcome: notes.Outcome, pool: dict[str, Any], seconds: dict
) -> dict[str, Any]:
    """The report, then summary.json, then _SUCCESS: the result is complete only now."""
    options = config.runtime.storage_options
    summary = notes.summary(config, modes.get(config.scoring.mode).score_column, outcome, pool)
    with timed(seconds, "report"):
        report.write_report(config.output.out, summary, options)
    summary["seconds"] = seconds
    storage.write_json(storage.join(config.output.out, outputs.SUMMARY), summary, options)
    storage.write_atomic(storage.join(config.output.out, outputs.SUCCESS), b"", options)
    log(
        f"selected {summary['rows_selected']:,} of {summary['rows_read']:,} rows "
        f"({summary['tokens_selected']:,} tokens) into {config.output.out} "
        f"in {sum(seconds.values()):.1f}s"
    )
    return summary
