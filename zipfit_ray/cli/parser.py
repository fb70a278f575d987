"""`zipfit-ray`'s commands and flags: one parser per command, flag groups shared between them;
each command's flags are the plan's flags by their dests (see commands.config_from_args)."""

from __future__ import annotations

import argparse
from typing import Any

from zipfit_ray.cli import commands as actions
from zipfit_ray.cli import evaluate, flags
from zipfit_ray.config import (
    DECONTAMINATE,
    ON_BAD_FILE,
    PoolReading,
    Trust,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zipfit-ray", description="ZIP-FIT data selection on Ray."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_select_parser, _reselect_parser, _compare_parser, _estimate_parser):
        add(commands)
    evaluate.add_parser(commands)
    sample = commands.add_parser(
        "make-sample", help="write a small pool and target set from Python's standard library"
    )
    sample.add_argument("--out", default="data/sample", metavar="DIR")
    sample.add_argument("--rows", type=int, default=10_000, help="pool rows")
    sample.add_argument("--targets", type=int, default=50, help="target examples")
    sample.set_defaults(run=actions.make_sample)
    return parser


def _select_parser(commands: Any) -> None:
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
    flags.target_flags(select)
    flags.rule_flags(select)
    select.add_argument("--out", required=True, metavar="DIR", help="output directory")
    select.add_argument("--text-column", default="text", help="pool column to score")
    select.add_argument(
        "--max-bytes",
        type=int,
        default=PoolReading.max_bytes,
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
    flags.mode_flags(select)
    select.add_argument(
        "--decontaminate",
        choices=DECONTAMINATE,
        default=Trust.decontaminate,
        help="rows holding a target or --eval-sets item (13-word n-grams): drop them before "
        "the cut (default), only flag them, or check nothing (off: the paper)",
    )
    select.add_argument(
        "--eval-sets",
        nargs="+",
        default=(),
        metavar="URI",
        help="benchmark files to keep out of the selection besides the targets (the targets' "
        "formats; --target-column names their field)",
    )
    select.add_argument(
        "--exclude-near",
        nargs="+",
        default=(),
        metavar="URI",
        help="corpora you already have (Parquet or JSONL files, directories or globs): scored "
        "rows that are near-duplicates of any of their rows (--dedup's rule and threshold) "
        "are dropped before the cut, and listed under OUT/excluded/",
    )
    select.add_argument(
        "--exclude-near-column",
        metavar="COLUMN",
        help="--exclude-near: the corpora's text column or field (default: --text-column)",
    )
    flags.dedup_flags(select, with_threshold=True)
    flags.soft_flags(select)
    select.add_argument(
        "--all-scores",
        action="store_true",
        help="also write every row's score under OUT/scores/, for reselect",
    )
    flags.job_flags(select)
    flags.ray_flags(select)
    select.set_defaults(run=actions.select)


def _reselect_parser(commands: Any) -> None:
    reselect = commands.add_parser(
        "reselect", help="apply a new selection rule to the scores a select --all-scores saved"
    )
    reselect.add_argument(
        "--scores", required=True, metavar="DIR", help="the --out of a select run with --all-scores"
    )
    flags.rule_flags(reselect)
    reselect.add_argument("--out", required=True, metavar="DIR", help="output directory")
    flags.dedup_flags(reselect, with_threshold=False)
    flags.soft_flags(reselect)
    flags.job_flags(reselect)
    flags.ray_flags(reselect)
    reselect.set_defaults(run=actions.reselect)


def _compare_parser(commands: Any) -> None:
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
    flags.target_flags(compare)
    compare.add_argument("--text-column", default="text", help="column to score")
    compare.add_argument("--sample", type=int, default=1000, help="rows sampled per dataset")
    compare.add_argument("--seed", type=int, default=0, help="which rows are sampled")
    compare.add_argument("--out", metavar="FILE", help="also save the results as JSON here")
    flags.ray_flags(compare)
    compare.set_defaults(run=actions.compare)


def _estimate_parser(commands: Any) -> None:
    estimate = commands.add_parser(
        "estimate", help="what a select would cost and where it would cut, from a sample"
    )
    estimate.add_argument("--pool", nargs="+", required=True, metavar="URI")
    flags.target_flags(estimate)
    flags.rule_flags(estimate)
    estimate.add_argument("--text-column", default="text", help="pool column to score")
    estimate.add_argument("--max-bytes", type=int, default=PoolReading.max_bytes)
    estimate.add_argument("--shard-rows", type=int, default=None)
    estimate.add_argument("--sample", type=int, default=2000, help="rows sampled (uniformly)")
    estimate.add_argument("--seed", type=int, default=0, help="which rows are sampled")
    estimate.add_argument(
        "--compare-compressors",
        default="",
        metavar="NAME[:LEVEL[:JOINT]],...",
        help="also estimate these, e.g. gzip:9,lz4-block:0:concat (each compressor's default "
        "level and joint where none are given)",
    )
    estimate.add_argument("--cpus", type=int, help="also the wall time on this many CPUs")
    estimate.add_argument("--core-hour-price", type=float, help="also the cost, per core-hour")
    estimate.add_argument("--json", metavar="FILE", help="also save the estimate as JSON")
    flags.ray_flags(estimate)
    estimate.set_defaults(run=actions.estimate)
