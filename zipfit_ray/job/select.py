"""The select and reselect drivers: plan -> broadcast -> score shards -> cut -> write the
selection -> report. Inputs are checked before Ray starts, so bad input fails fast."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np

from zipfit_ray import modes, report, storage
from zipfit_ray.analysis import target_set
from zipfit_ray.config import SCORED_PARTS, SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import (
    checkpoints,
    cuts,
    notes,
    phases,
    plan,
    records,
    summary,
    target_halves,
)
from zipfit_ray.job.runtime import RayCluster, run_on_ray
from zipfit_ray.job.worker import Shared
from zipfit_ray.kernel.alignment import PreparedTargets
from zipfit_ray.progress import log, timed
from zipfit_ray.selection import coverage, cut
from zipfit_ray.selection.amounts import Amount
from zipfit_ray.selection.contamination import ContaminationIndex
from zipfit_ray.storage import columns, jsonl, locations, outputs


def run_select(config: SelectConfig) -> dict[str, Any]:
    """Score a pool and select from it; returns the summary also written to summary.json.

    Joins the Ray already initialized in this process, else the one at the plan's
    ``runtime.address``, else starts a local one.
    """
    out, options = config.output.out, config.runtime.storage_options
    seconds: dict[str, float] = {}
    phases.check_rank_possible(config)
    outputs.claim(out, config.output.overwrite, options)
    with timed(seconds, "plan"):
        scan = plan.plan_pool(config)
    with timed(seconds, "targets"):
        inputs = plan.read_inputs(config)
    targets = inputs.targets
    # one set's spread (named sets: their union's would mean nothing)
    spread = None if targets.sets else target_set.spread(targets)
    guard = None
    if config.trust.decontaminate != "off":
        guard = ContaminationIndex({"targets": targets.texts, **inputs.eval_sets})
    job = checkpoints.fingerprint(config, scan, targets, inputs.tokenizer_json, inputs.eval_sets)
    finished = checkpoints.open_for_job(out, job, config.output.overwrite, options, scan)
    contaminated = storage.join(out, outputs.CONTAMINATED)
    if not finished and storage.exists(contaminated, options):
        storage.remove(contaminated, options)  # an earlier job's: this one starts afresh
    excluded = storage.join(out, outputs.EXCLUDED)
    if storage.exists(excluded, options):  # --exclude-near lists its rows anew every run
        storage.remove(excluded, options)
    record = records.scores_dtype(config, targets)
    saved_job = records.SavedJob(
        job, config.public_dict(), list(scan.files), record.descr, targets=len(targets.texts)
    )
    if config.output.all_scores:
        saved_job.write(out, options)
    _log_start(config, scan, targets)

    def work() -> tuple[notes.Outcome, dict[str, list[str]]]:
        cluster = RayCluster(config.runtime.max_in_flight, options)
        shared = _shared(cluster, config, targets, inputs.tokenizer_json, scan, record, guard)
        return _select(cluster, shared, plan.shards(scan, config), finished, seconds)

    outcome, kinds = run_on_ray(config.runtime.address, config.runtime.num_cpus, work)
    tally = outcome.tally
    counts, effort = summary.counted(tally.counts)
    skipped, listed = summary.bad_files(scan.skipped_files, tally.bad_files)
    files = len(scan.files) + len(scan.skipped_files)
    pool = summary.Pool(files, counts.rows_total, len(targets.texts), None, spread, skipped, listed)
    if config.output.all_scores:  # what reselect needs that only scoring learns
        saved_job.jsonl_kinds, saved_job.rows_total = kinds, counts.rows_total
        saved_job.rows_contaminated = counts.rows_contaminated
        saved_job.rows_contaminated_by_set = dict(tally.contaminated_by_set)
        saved_job.target_spread, saved_job.groups = spread, dict(tally.groups)
        saved_job.write(out, options)
    written = _publish(config, outcome, pool, (counts, effort), seconds, targets.texts)
    checkpoints.remove_all(out, options)
    leftovers = [] if config.output.all_scores else [outputs.SCORES]
    for leftover in [*leftovers, outputs.RESCORED, outputs.CHECKS]:
        if storage.exists(storage.join(out, leftover), options):
            storage.remove(storage.join(out, leftover), options)
    return written


def run_reselect(scores: str, options: dict[str, Any]) -> dict[str, Any]:
    """Apply a new selection rule to the scores a job saved with --all-scores under
    ``scores`` (its output directory), without scoring again. ``options`` are SelectConfig
    flags (the rule, out, ...); what decided the scores (config.SCORED_PARTS: the pool's
    reading, the scoring, the guard) is the saved job's. Whether near-duplicates are
    dropped is this selection's own choice (the saved --dedup only says that signatures
    were saved). The pool must be unchanged since it was scored."""
    locations.check_apart(options["out"], "--out", [scores], "--scores")
    storage_options = options.get("storage_options", {})
    saved = records.SavedJob.read(scores, storage_options)
    scored_with = saved.plan()
    kept = scored_with.flags_of(*SCORED_PARTS)
    config = SelectConfig.from_flags(**{**kept, "dedup": False, **options})
    _check_saved(config, scored_with, scores)
    if config.selecting.per_item and not coverage.item_fields(saved.dtype.names):
        raise ZipfitError(
            f"--per-target, --cover: the scores under {scores} were saved without each target "
            "item's own score (select --all-scores with --per-target or --cover saves them)"
        )
    same_groups = config.groups.group_column == scored_with.groups.group_column
    seconds: dict[str, float] = {}
    phases.check_rank_possible(config)
    outputs.claim(config.output.out, config.output.overwrite, storage_options)
    with timed(seconds, "plan"):
        scan = plan.plan_pool(config)
    if saved.job["pool"] != checkpoints.pool_digest(scan):
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
    adding = plan.added_columns(config)
    scan = replace(scan, schema=storage.output_schema(scan.schema, saved.jsonl_kinds, adding))

    def work() -> tuple[notes.Outcome, dict[str, list[str]]]:
        cluster = RayCluster(config.runtime.max_in_flight, storage_options)
        shared = _shared(cluster, config, None, None, scan, saved.dtype)
        groups = saved.groups if same_groups else {}
        return _select(cluster, shared, sources, set(), seconds, groups)

    outcome, _ = run_on_ray(config.runtime.address, config.runtime.num_cpus, work)
    pool = summary.Pool(
        len(scan.files), saved.rows_total, saved.targets, scores, saved.target_spread
    )
    # the guard ran when the scores were saved: its counts, not this run's
    counts, work = summary.counted(outcome.tally.counts)
    counts.rows_contaminated = saved.rows_contaminated
    outcome.tally.contaminated_by_set = Counter(saved.rows_contaminated_by_set)
    return _publish(config, outcome, pool, (counts, work), seconds)


def _check_saved(config: SelectConfig, saved: SelectConfig, scores: str) -> None:
    """What reselect asks of the saved scores that they may not hold: near-duplicate
    signatures (banded for the threshold they were saved with), and each row's group."""
    if config.trust.dedup and not saved.trust.banded:
        raise ZipfitError(
            f"--dedup: the scores under {scores} were saved without near-duplicate "
            "signatures (select --all-scores --dedup saves them)"
        )
    if config.groups.grouped and config.groups.group_column != saved.groups.group_column:
        raise ZipfitError(
            f"--group-column: the scores under {scores} were saved without the groups of "
            f"{config.groups.group_column!r} (select --all-scores --group-column COL saves them)"
        )
    if config.trust.dedup and config.trust.dedup_threshold != saved.trust.dedup_threshold:
        raise ZipfitError(
            f"--dedup-threshold: the scores under {scores} hold signatures banded for "
            f"{saved.trust.dedup_threshold}; score again for another threshold"
        )


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
    record: np.dtype,
    guard: ContaminationIndex | None = None,
) -> Shared:
    """What every task is handed, with the job's mode started. --min-score streams (shards
    write their own rows) unless the pool has JSONL files, whose columns are known only
    once all are read, or --dedup needs every shard's rows first."""
    files = {i: (path, groups) for i, (path, groups) in enumerate(zip(scan.files, scan.row_groups))}
    streamed = (
        config.selecting.rule.streamed
        and not scan.footerless_files
        and not config.trust.banded  # --dedup, --exclude-near: every shard's rows first
        and not config.scoring.target_sets  # which set takes a row is known once all are scored
    )
    mode = modes.create(config)
    mode.start(cluster)
    return Shared(
        config, mode, targets, tokenizer_json, files, scan.schema, record, streamed, guard
    )


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
    out, options = config.output.out, config.runtime.storage_options
    shared_ref = cluster.put(shared)
    if shared.streamed:  # recorded before any shard writes its part
        suffix = config.output.part_suffix
        outputs.record(out, [outputs.streamed_part_name(n, suffix) for _, n in sources], options)
    with timed(seconds, "score"):
        tally = phases.score(cluster, sources, finished, shared, shared_ref)
    tally.groups.update(saved_groups or {})
    names = [name for _, name in sources]
    saved = [s if isinstance(s, str) else outputs.scores_uri(out, n) for s, n in sources]
    kinds: dict[str, list[str]] = {}
    for name in names:  # in pool order, so the columns' order does not depend on timing
        jsonl.merge_kinds(kinds, tally.jsonl_kinds.get(name, {}))
    if kinds:
        schema = storage.output_schema(shared.schema, kinds, plan.added_columns(config))
        shared = replace(shared, schema=schema)
        shared_ref = cluster.put(shared)
    if shared.streamed:
        selection = tally.selection
        found = cuts.Found(saved, cut.at_least(config.selecting.threshold))
        outputs.remove_stale(out, keep=set(selection.parts), options=options)
    else:
        histograms = tally.histogram, tally.token_histogram
        files = tuple(path for path, _ in shared.files.values())
        scores = cuts.Scores(
            cluster, mode, saved, names, shared_ref, *histograms, tally.groups, seconds,
            shared.record, files,
        )  # fmt: skip
        found = cuts.find(scores)
        tally.counts.update(found.counts)
        with timed(seconds, "write"):
            selection = phases.write(cluster, found.saved, found.selector, shared_ref, config)
        wanted = config.selecting.rule.resolved(*scores.scored)
        if isinstance(wanted, Amount) and (wanted.k or 0) > scores.scored[0]:
            rule = config.selecting.rule.flag
            log(f"warning: only {scores.scored[0]:,} rows were scored; {rule} keeps them all")
    check = mode.self_check(cluster, names, found.selector, tally.counts)
    halves = None
    if mode.exact:  # the scorer that has every NCD scores the halves; the others do not
        with timed(seconds, "target halves"):
            halves = target_halves.agreement(
                cluster, found.saved, selection.rows, shared.record, options
            )
    _rank_and_tidy(config, mode.score_column, selection, seconds)
    outcome = notes.Outcome(
        tally,
        selection,
        len(sources),
        check,
        halves,
        found.target_sets,
        found.group_quotas,
        found.excluded,
    )
    return outcome, kinds


def _rank_and_tidy(
    config: SelectConfig, score_column: str, selection: notes.Selection, seconds: dict
) -> None:
    """With --order score, the copy best first (a stale one removed otherwise); --dedup's
    and --exclude-near's working files removed."""
    out, options = config.output.out, config.runtime.storage_options
    ranked = [] if config.output.order == "score" else [outputs.RANKED]
    for leftover in (outputs.DEDUP, outputs.EXCLUDE, *ranked):
        if storage.exists(storage.join(out, leftover), options):
            storage.remove(storage.join(out, leftover), options)
    if config.output.order == "score":
        with timed(seconds, "rank"):
            rank_by = score_column if config.selecting.order_key == "score" else columns.KEY
            phases.rank(config, sorted(selection.parts), rank_by)


def _publish(
    config: SelectConfig,
    outcome: notes.Outcome,
    pool: summary.Pool,
    counts: tuple[summary.Counts, summary.Work],
    seconds: dict[str, float],
    target_texts: tuple[bytes, ...] = (),
) -> dict[str, Any]:
    """The report, then summary.json, then _SUCCESS: the result is complete only now."""
    out, options = config.output.out, config.runtime.storage_options
    score_column = modes.get(config.scoring.mode).score_column
    found = summary.build(config, score_column, outcome, pool, counts, target_texts)
    with timed(seconds, "report"):
        report.write_report(out, found, config, options)
    found.run.seconds = seconds
    written = found.to_json()
    storage.write_json(storage.join(out, outputs.SUMMARY), written, options)
    storage.write_atomic(storage.join(out, outputs.SUCCESS), b"", options)
    selected = found.selected
    log(
        f"selected {selected.rows_selected:,} of {found.counts.rows_read:,} rows "
        f"({selected.tokens_selected:,} tokens) into {out} in {sum(seconds.values()):.1f}s"
    )
    return written
