"""`zipfit-ray`: flags -> SelectConfig -> job; user mistakes become one line and exit code 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from zipfit_ray.compressors import SPECS
from zipfit_ray.config import ON_BAD_FILE, SelectConfig
from zipfit_ray.errors import ZipfitError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zipfit-ray", description="ZIP-FIT data selection on Ray."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True)

    select = commands.add_parser(
        "select", help="score a Parquet pool against a target set and keep the top K rows"
    )
    select.add_argument(
        "--pool",
        nargs="+",
        required=True,
        metavar="URI",
        help="Parquet files, directories or globs (local or any fsspec URL)",
    )
    select.add_argument(
        "--targets",
        required=True,
        metavar="URI",
        help="target examples: Parquet, JSONL, a JSON list, or text, one per line",
    )
    select.add_argument("--k", type=int, required=True, help="number of rows to select")
    select.add_argument("--out", required=True, metavar="DIR", help="output directory")
    select.add_argument("--text-column", default="text", help="pool column to score")
    select.add_argument(
        "--target-column", default="text", help="target column (Parquet) or field (JSON)"
    )
    select.add_argument("--compressor", default="gzip", choices=sorted(SPECS))
    select.add_argument(
        "--level",
        type=int,
        default=None,
        help=", ".join(
            f"{s.name}: {s.min_level}..{s.max_level} (default {s.default_level})"
            for s in SPECS.values()
        ),
    )
    select.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join ('auto', 'ray://host:10001'); default: $RAY_ADDRESS if set "
        "(as under `ray job submit`), else a new local Ray",
    )
    select.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray")
    select.add_argument(
        "--storage-options",
        default="{}",
        metavar="JSON",
        help="fsspec options for every filesystem, e.g. '{\"anon\": true}'",
    )
    select.add_argument(
        "--shard-rows",
        type=int,
        default=None,
        help="rows per scoring task, cut at row groups (default: from pool size "
        "and CPUs, at most 8192)",
    )
    select.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="tasks queued at once (default: 2 x cluster CPUs)",
    )
    select.add_argument(
        "--part-rows", type=int, default=SelectConfig.part_rows, help="rows per output Parquet part"
    )
    select.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished result or another job's checkpoints in --out",
    )
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
        help="an unreadable Parquet file: stop with an error (fail) or leave it out (skip)",
    )

    sample = commands.add_parser(
        "make-sample", help="write a small pool and target set from Python's standard library"
    )
    sample.add_argument("--out", default="data/sample", metavar="DIR")
    sample.add_argument("--rows", type=int, default=10_000, help="pool rows")
    sample.add_argument("--targets", type=int, default=50, help="target examples")
    return parser


def config_from_args(args: argparse.Namespace) -> SelectConfig:
    try:
        storage_options = json.loads(args.storage_options)
    except json.JSONDecodeError as exc:
        raise ZipfitError(f"--storage-options: not valid JSON ({exc})") from exc
    return SelectConfig(
        pool=tuple(args.pool),
        targets=args.targets,
        out=args.out,
        k=args.k,
        text_column=args.text_column,
        target_column=args.target_column,
        compressor=args.compressor,
        level=args.level,
        # under `ray job submit`, RAY_ADDRESS names the cluster the job was submitted to
        address=args.address or os.environ.get("RAY_ADDRESS"),
        num_cpus=args.num_cpus,
        storage_options=storage_options,
        shard_rows=args.shard_rows,
        max_in_flight=args.max_in_flight,
        part_rows=args.part_rows,
        overwrite=args.overwrite,
        max_bytes=args.max_bytes,
        on_bad_file=args.on_bad_file,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "select":
            from zipfit_ray.job import run_select

            summary = run_select(config_from_args(args))
            print(f"selected {summary['rows_selected']:,} rows -> {args.out}")
        elif args.command == "make-sample":
            from zipfit_ray.sample import write_sample

            pool, targets = write_sample(args.out, rows=args.rows, targets=args.targets)
            print(f"pool: {pool}\ntargets: {targets}")
    except ZipfitError as exc:
        if args.debug:
            raise
        print(f"zipfit-ray: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
