"""What each `zipfit-ray` command does with its parsed flags: build the config, run, print."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.kernel.backends import (
    describe,
    parse_settings,
    refuse_store_only,
    resolve_joint,
    resolve_level,
)
from zipfit_ray.storage import locations, outputs


def ray_options(args: argparse.Namespace) -> dict[str, Any]:
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


def _config_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The SelectConfig flags this command's flags set (by their dests), with the storage
    options parsed and the address from $RAY_ADDRESS if not given."""
    given = {name: getattr(args, name) for name in SelectConfig.flag_names() if hasattr(args, name)}
    per_group = getattr(args, "per_group_column", None)
    if per_group:
        if given.get("group_column") not in (None, per_group):
            raise ZipfitError("--per-group: names another column than --group-column")
        given.update(group_column=per_group, per_group=True)
    return {**given, **ray_options(args)}


def config_from_args(args: argparse.Namespace) -> SelectConfig:
    return SelectConfig.from_flags(**_config_fields(args))


def select(args: argparse.Namespace) -> None:
    from zipfit_ray.job.select import run_select

    summary = run_select(config_from_args(args))
    print(f"selected {summary['rows_selected']:,} rows -> {args.out}")


def reselect(args: argparse.Namespace) -> None:
    from zipfit_ray.job.select import run_reselect

    summary = run_reselect(args.scores, _config_fields(args))
    print(f"selected {summary['rows_selected']:,} rows -> {args.out}")


def make_sample(args: argparse.Namespace) -> None:
    from zipfit_ray.demo import write_sample

    pool, targets = write_sample(args.out, rows=args.rows, targets=args.targets)
    print(f"pool: {pool}\ntargets: {targets}")


def compare(args: argparse.Namespace) -> None:
    from zipfit_ray.analysis import dataset_alignment
    from zipfit_ray.job.survey import run_compare

    if args.sample < 2:
        raise ZipfitError(f"--sample: must be at least 2, got {args.sample}")
    if len(args.targets) != 1:
        raise ZipfitError("--targets: compare-datasets takes one target file")
    args.targets = args.targets[0]
    if args.out:
        locations.check_apart(args.out, "--out", args.datasets, "--datasets")
    options = ray_options(args)
    sampling = ("sample", "seed", "text_column", "target_column", "compressor", "level", "joint")
    refuse_store_only(
        args.compressor, resolve_level(args.compressor, args.level), args.allow_store_only
    )
    given = {name: getattr(args, name) for name in sampling}
    results = run_compare(args.datasets, args.targets, **given, **options)
    print(dataset_alignment.table(results))
    if args.out:
        saved = {
            "targets": args.targets,
            "compressor": describe(
                args.compressor,
                resolve_level(args.compressor, args.level),
                resolve_joint(args.compressor, args.joint),
            ),
            "sample": args.sample,
            "seed": args.seed,
            "datasets": results,
        }
        outputs.write_owned_json(args.out, saved, "--out", options["storage_options"])


def estimate(args: argparse.Namespace) -> None:
    from zipfit_ray.analysis import cost
    from zipfit_ray.job.survey import run_estimate

    if args.sample < 2:
        raise ZipfitError(f"--sample: must be at least 2, got {args.sample}")
    if args.json:
        locations.check_apart(args.json, "--json", args.pool, "--pool")
    settings = parse_settings(args.compare_compressors, "--compare-compressors")
    config = SelectConfig.from_flags(**_config_fields(args), out="")  # nothing is written
    found = run_estimate(
        config,
        sample=args.sample,
        seed=args.seed,
        settings=settings,
        cpus=args.cpus,
        core_hour_price=args.core_hour_price,
    )
    print(cost.table(found))
    if args.json:
        outputs.write_owned_json(args.json, found, "--json", config.runtime.storage_options)
