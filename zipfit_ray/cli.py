"""`zipfit-ray`: flags -> SelectConfig -> job; user mistakes become one line and exit code 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from zipfit_ray.config import MODES, ON_BAD_FILE, ORDERS, OUT_FORMATS, PREFILTERS, SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.kernel.compressors import (
    BACKENDS,
    DEFAULT_COMPRESSOR,
    PAPER_COMPRESSOR,
    describe,
    resolve_level,
)
from zipfit_ray.storage import locations, outputs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zipfit-ray", description="ZIP-FIT data selection on Ray."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True)

    select = commands.add_parser(
        "select", help="score a Parquet or JSONL pool against a target set and keep the best rows"
    )
    select.add_argument(
        "--pool",
        nargs="+",
        required=True,
        metavar="URI",
        help="Parquet or JSONL (.jsonl/.ndjson/.json, plain or .gz/.zst/...) files, directories or "
        "globs, mixed as you like (local or any fsspec URL: s3://, gs://, hf://, ...)",
    )
    _add_target_flags(select)
    _add_rule_flags(select)
    select.add_argument("--out", required=True, metavar="DIR", help="output directory")
    select.add_argument("--text-column", default="text", help="pool column to score")
    select.add_argument(
        "--max-bytes",
        type=int,
        default=SelectConfig.max_bytes,
        help="longer texts are cut to this many bytes before scoring, and counted",
    )
    select.add_argument(
        "--on-bad-file",
        choices=ON_BAD_FILE,
        default="fail",
        help="an unreadable file or row group, or a bad JSONL line: stop with an error (fail) or "
        "leave it out and count it (skip)",
    )
    select.add_argument(
        "--shard-rows",
        type=int,
        default=None,
        help="rows per scoring task, cut at row groups (default: from pool "
        "size and CPUs, at most 8192)",
    )
    select.add_argument(
        "--mode",
        choices=MODES,
        default="exact",
        help="exact (the paper's ZIP-FIT, the default) or an approximation that compresses "
        "less; see README, 'Modes'",
    )
    select.add_argument(
        "--early-exit-z",
        type=float,
        default=SelectConfig.early_exit_z,
        help="approx-early-exit: the bound's width, in standard errors",
    )
    select.add_argument(
        "--early-exit-check",
        type=float,
        default=SelectConfig.early_exit_check,
        metavar="SHARE",
        help="approx-early-exit: this share of the dropped rows is scored anyway, and "
        "summary.json says how many of them would have been selected",
    )
    select.add_argument(
        "--cascade-factor",
        type=int,
        default=SelectConfig.cascade_factor,
        help="approx-cascade: prefilter to this many times K, then rescore",
    )
    select.add_argument(
        "--prefilter",
        choices=PREFILTERS,
        default=SelectConfig.prefilter,
        help="approx-cascade / approx-prefilter: the dictionary compressor",
    )
    select.add_argument(
        "--all-scores",
        action="store_true",
        help="also write every row's score under OUT/scores/, for reselect",
    )
    _add_job_flags(select)
    _add_ray_flags(select)

    reselect = commands.add_parser(
        "reselect", help="apply a new selection rule to the scores a select --all-scores saved"
    )
    reselect.add_argument(
        "--scores", required=True, metavar="DIR", help="the --out of a select run with --all-scores"
    )
    _add_rule_flags(reselect)
    reselect.add_argument("--out", required=True, metavar="DIR", help="output directory")
    _add_job_flags(reselect)
    _add_ray_flags(reselect)

    compare = commands.add_parser(
        "compare-datasets",
        help="dataset-level alignment of whole datasets to the targets, from a sample of each",
    )
    compare.add_argument(
        "--datasets",
        nargs="+",
        required=True,
        metavar="URI",
        help="one Parquet file, directory or glob per dataset (JSONL: not yet)",
    )
    _add_target_flags(compare)
    compare.add_argument("--text-column", default="text", help="column to score")
    compare.add_argument("--sample", type=int, default=1000, help="rows sampled per dataset")
    compare.add_argument("--seed", type=int, default=0, help="which rows are sampled")
    compare.add_argument("--out", metavar="FILE", help="also save the results as JSON here")
    _add_ray_flags(compare)

    estimate = commands.add_parser(
        "estimate", help="what a select would cost and where it would cut, from a sample"
    )
    estimate.add_argument("--pool", nargs="+", required=True, metavar="URI")
    _add_target_flags(estimate)
    _add_rule_flags(estimate)
    estimate.add_argument("--text-column", default="text", help="pool column to score")
    estimate.add_argument("--max-bytes", type=int, default=SelectConfig.max_bytes)
    estimate.add_argument("--shard-rows", type=int, default=None)
    estimate.add_argument("--sample", type=int, default=2000, help="rows sampled (uniformly)")
    estimate.add_argument("--seed", type=int, default=0, help="which rows are sampled")
    estimate.add_argument(
        "--compare-compressors",
        default="",
        metavar="NAME:LEVEL,...",
        help="also estimate these, e.g. gzip:9,lz4-block:0",
    )
    estimate.add_argument("--cpus", type=int, help="also the wall time on this many CPUs")
    estimate.add_argument("--core-hour-price", type=float, help="also the cost, per core-hour")
    estimate.add_argument("--json", metavar="FILE", help="also save the estimate as JSON")
    _add_ray_flags(estimate)

    sample = commands.add_parser(
        "make-sample", help="write a small pool and target set from Python's standard library"
    )
    sample.add_argument("--out", default="data/sample", metavar="DIR")
    sample.add_argument("--rows", type=int, default=10_000, help="pool rows")
    sample.add_argument("--targets", type=int, default=50, help="target examples")
    return parser


def _add_target_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--targets",
        required=True,
        metavar="URI",
        help="target examples: Parquet, JSONL, a JSON list, or text, one per line",
    )
    parser.add_argument(
        "--target-column", default="text", help="target column (Parquet) or field (JSON)"
    )
    parser.add_argument(
        "--compressor",
        default=DEFAULT_COMPRESSOR,
        metavar="NAME",
        help=f"C(s): [LIBRARY:]FORMAT[-STRATEGY], one of {', '.join(BACKENDS)} (default "
        f"{DEFAULT_COMPRESSOR}, chosen by measured selection quality; the paper's setting "
        f"is {PAPER_COMPRESSOR}, level 9)",
    )
    parser.add_argument(
        "--level",
        type=int,
        default=None,
        help="compression level; "
        + ", ".join(
            f"{b.name}: {b.min_level}..{b.max_level} (default {b.default_level})"
            for b in BACKENDS.values()
        ),
    )


def _add_rule_flags(parser: argparse.ArgumentParser) -> None:
    rule = parser.add_mutually_exclusive_group(required=True)
    rule.add_argument("--k", type=int, help="select the K best rows")
    rule.add_argument(
        "--budget-tokens",
        type=int,
        metavar="N",
        help="select the best rows, in score order, while their tokens fit in N",
    )
    rule.add_argument(
        "--min-score",
        type=float,
        metavar="T",
        help="select every row scoring at least T (written in pool order)",
    )
    parser.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="a Hugging Face tokenizer.json to count tokens with (read from "
        "this path, never downloaded); default: a built-in approximation",
    )
    parser.add_argument(
        "--group-column",
        metavar="COLUMN",
        help="count pool and selected rows per value of this column",
    )


def _add_job_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of the commands that run a selecting job (select, reselect)."""
    parser.add_argument(
        "--part-rows", type=int, default=SelectConfig.part_rows, help="rows per output part"
    )
    parser.add_argument(
        "--order",
        choices=ORDERS,
        default=SelectConfig.order,
        help="pool: parts in pool order (default); score: also a copy best first under "
        "OUT/ranked/, sorted by Ray Data (pip install 'zipfit-ray[data]')",
    )
    parser.add_argument(
        "--out-format",
        choices=OUT_FORMATS,
        default=SelectConfig.out_format,
        help="the parts' format: Parquet (default), or JSON lines, plain or compressed, each "
        "row's fields as they were plus the score",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished result or another job's checkpoints in --out",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="tasks queued at once (default: 2 x cluster CPUs)",
    )


def _add_ray_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join ('auto', 'ray://host:10001'); default: "
        "$RAY_ADDRESS if set (as under `ray job submit`), else a new local Ray",
    )
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray")
    parser.add_argument(
        "--storage-options",
        default="{}",
        metavar="JSON",
        help="fsspec options for every filesystem, e.g. '{\"anon\": true}'",
    )


def _ray_options(args: argparse.Namespace) -> dict[str, Any]:
    try:
        storage_options = json.loads(args.storage_options)
    except json.JSONDecodeError as exc:
        raise ZipfitError(f"--storage-options: not valid JSON ({exc})") from exc
    return dict(
        # under `ray job submit`, RAY_ADDRESS names the cluster the job was submitted to
        address=args.address or os.environ.get("RAY_ADDRESS"),
        num_cpus=args.num_cpus,
        storage_options=storage_options,
    )


def _selection_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options select and reselect share."""
    return dict(
        out=args.out,
        k=args.k,
        budget_tokens=args.budget_tokens,
        min_score=args.min_score,
        tokenizer=args.tokenizer,
        group_column=args.group_column,
        part_rows=args.part_rows,
        order=args.order,
        out_format=args.out_format,
        overwrite=args.overwrite,
        max_in_flight=args.max_in_flight,
        **_ray_options(args),
    )


def _scoring_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options select and estimate share: what is scored, and how."""
    return dict(
        pool=tuple(args.pool),
        targets=args.targets,
        target_column=args.target_column,
        text_column=args.text_column,
        compressor=args.compressor,
        level=args.level,
        shard_rows=args.shard_rows,
        max_bytes=args.max_bytes,
    )


def config_from_args(args: argparse.Namespace) -> SelectConfig:
    return SelectConfig(
        **_scoring_options(args),
        on_bad_file=args.on_bad_file,
        all_scores=args.all_scores,
        mode=args.mode,
        early_exit_z=args.early_exit_z,
        early_exit_check=args.early_exit_check,
        cascade_factor=args.cascade_factor,
        prefilter=args.prefilter,
        **_selection_options(args),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "select":
            from zipfit_ray.job.select import run_select

            summary = run_select(config_from_args(args))
            print(f"selected {summary['rows_selected']:,} rows -> {args.out}")
        elif args.command == "reselect":
            from zipfit_ray.job.select import run_reselect

            summary = run_reselect(args.scores, _selection_options(args))
            print(f"selected {summary['rows_selected']:,} rows -> {args.out}")
        elif args.command == "compare-datasets":
            _compare(args)
        elif args.command == "estimate":
            _estimate(args)
        elif args.command == "make-sample":
            from zipfit_ray.demo import write_sample

            pool, targets = write_sample(args.out, rows=args.rows, targets=args.targets)
            print(f"pool: {pool}\ntargets: {targets}")
    except ZipfitError as exc:
        if args.debug:
            raise
        print(f"zipfit-ray: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _compare(args: argparse.Namespace) -> None:
    from zipfit_ray.analysis import dataset_alignment
    from zipfit_ray.job.survey import run_compare

    if args.sample < 2:
        raise ZipfitError(f"--sample: must be at least 2, got {args.sample}")
    if args.out:
        locations.check_apart(args.out, "--out", args.datasets, "--datasets")
    options = _ray_options(args)
    results = run_compare(
        args.datasets,
        args.targets,
        sample=args.sample,
        seed=args.seed,
        text_column=args.text_column,
        target_column=args.target_column,
        compressor=args.compressor,
        level=args.level,
        storage_options=options["storage_options"],
        address=options["address"],
        num_cpus=options["num_cpus"],
    )
    print(dataset_alignment.table(results))
    if args.out:
        saved = {
            "targets": args.targets,
            "compressor": describe(args.compressor, resolve_level(args.compressor, args.level)),
            "sample": args.sample,
            "seed": args.seed,
            "datasets": results,
        }
        outputs.write_owned_json(args.out, saved, "--out", options["storage_options"])


def _estimate(args: argparse.Namespace) -> None:
    from zipfit_ray.job.survey import run_estimate

    if args.sample < 2:
        raise ZipfitError(f"--sample: must be at least 2, got {args.sample}")
    if args.json:
        locations.check_apart(args.json, "--json", args.pool, "--pool")
    settings = []
    for item in filter(None, args.compare_compressors.split(",")):
        name, _, level = item.partition(":")
        if level and not level.lstrip("-").isdigit():
            raise ZipfitError(f"--compare-compressors: {item!r} is not NAME or NAME:LEVEL")
        settings.append((name, resolve_level(name, int(level) if level else None)))
    config = SelectConfig(
        **_scoring_options(args),
        out="",  # nothing is written
        k=args.k,
        budget_tokens=args.budget_tokens,
        min_score=args.min_score,
        tokenizer=args.tokenizer,
        **_ray_options(args),
    )
    found = run_estimate(
        config,
        sample=args.sample,
        seed=args.seed,
        settings=settings,
        cpus=args.cpus,
        core_hour_price=args.core_hour_price,
    )
    print(estimate_table(found))
    if args.json:
        outputs.write_owned_json(args.json, found, "--json", config.storage_options)


def estimate_table(found: dict[str, Any]) -> str:
    pool = found["pool"]
    lines = [
        f"pool: {pool['rows']:,} rows in {pool['files']:,} files ({pool['row_groups']:,} row "
        f"groups), text column {pool['text_column_bytes'] / 1e6:,.1f} MB; sample: "
        f"{found['sample']['scored']:,} rows scored; {found['rule']}; "
        f"{found['cluster_cpus']} CPUs, shards of {found['shard_rows']:,} rows",
        "",
        f"{'compressor':<20} {'mode':<18} {'pair compressions (95%)':>34} {'us/pair':>8} "
        f"{'core-h':>9} {'wall':>9} {'threshold (95%)':>28} {'selected':>9}",
    ]
    for e in found["estimates"]:
        pairs, cut = e["pair_compressions"], e["threshold"]
        where = f"{cut['estimate']:>10.5f} [{cut['low']:.5f}, {cut['high']:.5f}]" if cut else "-"
        extra = ""
        if "wall_seconds_on_cpus" in e:
            extra += f"  on --cpus: {_duration(e['wall_seconds_on_cpus'])}"
        if "cost" in e:
            extra += f"  cost {e['cost']:,.2f}"
        lines.append(
            f"{e['compressor'] + ':' + str(e['level']):<20} {e['mode']:<18} "
            f"{pairs['estimate']:>12,.0f} [{pairs['low']:,.0f}, {pairs['high']:,.0f}]".ljust(75)
            + f"{e['seconds_per_pair'] * 1e6:>8.2f} {e['core_hours']:>9.3f} "
            f"{_duration(e['wall_seconds']):>9} {where:>28} "
            f"{e['share_selected']['estimate']:>8.2%}{extra}"
        )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


if __name__ == "__main__":
    sys.exit(main())
