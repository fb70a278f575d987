"""`zipfit-ray`'s commands and flags: one parser per command, flag groups shared between them;
each command's flags are SelectConfig's fields by name (see commands.config_from_args)."""

from __future__ import annotations

import argparse
from typing import Any

from zipfit_ray import modes
from zipfit_ray.cli import commands as actions
from zipfit_ray.cli import evaluate
from zipfit_ray.config import DECONTAMINATE, ON_BAD_FILE, ORDERS, OUT_FORMATS, SelectConfig
from zipfit_ray.kernel.backends import BACKENDS, DEFAULT_COMPRESSOR, JOINTS, PAPER_COMPRESSOR
from zipfit_ray.modes import prefilter
from zipfit_ray.selection.quotas import SHORTFALL


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
    _add_mode_flags(select)
    select.add_argument(
        "--decontaminate",
        choices=DECONTAMINATE,
        default=SelectConfig.decontaminate,
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
    _add_dedup_flags(select, with_threshold=True)
    _add_soft_flags(select)
    select.add_argument(
        "--all-scores",
        action="store_true",
        help="also write every row's score under OUT/scores/, for reselect",
    )
    _add_job_flags(select)
    _add_ray_flags(select)
    select.set_defaults(run=actions.select)


def _add_mode_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=tuple(modes.MODES),
        default=modes.DEFAULT,
        help="exact (the paper's ZIP-FIT, the default) or an approximation that compresses "
        "less; see docs/modes.md",
    )
    parser.add_argument(
        "--early-exit-z",
        type=float,
        default=SelectConfig.early_exit_z,
        help="approx-early-exit: the bound's width, in standard errors",
    )
    parser.add_argument(
        "--early-exit-check",
        type=float,
        default=SelectConfig.early_exit_check,
        metavar="SHARE",
        help="approx-early-exit: this share of the dropped rows is scored anyway, and "
        "summary.json says how many of them would have been selected",
    )
    parser.add_argument(
        "--cascade-factor",
        type=int,
        default=SelectConfig.cascade_factor,
        help="approx-cascade: prefilter to this many times K, then rescore",
    )
    parser.add_argument(
        "--prefilter",
        choices=prefilter.KINDS,
        default=SelectConfig.prefilter,
        help="approx-cascade / approx-prefilter: the dictionary compressor",
    )


def _reselect_parser(commands: Any) -> None:
    reselect = commands.add_parser(
        "reselect", help="apply a new selection rule to the scores a select --all-scores saved"
    )
    reselect.add_argument(
        "--scores", required=True, metavar="DIR", help="the --out of a select run with --all-scores"
    )
    _add_rule_flags(reselect)
    reselect.add_argument("--out", required=True, metavar="DIR", help="output directory")
    _add_dedup_flags(reselect, with_threshold=False)
    _add_soft_flags(reselect)
    _add_job_flags(reselect)
    _add_ray_flags(reselect)
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
    _add_target_flags(compare)
    compare.add_argument("--text-column", default="text", help="column to score")
    compare.add_argument("--sample", type=int, default=1000, help="rows sampled per dataset")
    compare.add_argument("--seed", type=int, default=0, help="which rows are sampled")
    compare.add_argument("--out", metavar="FILE", help="also save the results as JSON here")
    _add_ray_flags(compare)
    compare.set_defaults(run=actions.compare)


def _estimate_parser(commands: Any) -> None:
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
        metavar="NAME[:LEVEL[:JOINT]],...",
        help="also estimate these, e.g. gzip:9,lz4-block:0:concat (each compressor's default "
        "level and joint where none are given)",
    )
    estimate.add_argument("--cpus", type=int, help="also the wall time on this many CPUs")
    estimate.add_argument("--core-hour-price", type=float, help="also the cost, per core-hour")
    estimate.add_argument("--json", metavar="FILE", help="also save the estimate as JSON")
    _add_ray_flags(estimate)
    estimate.set_defaults(run=actions.estimate)


def _add_target_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--targets",
        required=True,
        nargs="+",
        action="extend",
        metavar="[NAME=]URI",
        help="target examples: Parquet, JSONL, a JSON list, or text, one per line; several "
        "named sets as NAME=URI (repeatable; all scored in one pass, each row selected for at "
        "most one set). An argument is NAME=URI when the text before its first '=' is a name "
        "(letters, digits, _ and -); else it is all a path: ./lang=en/x.jsonl",
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
        "--allow-store-only",
        action="store_true",
        help="allow a level that stores text uncompressed (gzip, zlib, deflate, libdeflate at "
        "0): NCD then measures length alone",
    )
    parser.add_argument(
        "--joint",
        choices=JOINTS,
        default=None,
        help="the joint size in NCD: concat, C(x + y) (the paper's), or conditional, "
        "C(x) + C(y | x): each target compressed with the candidate as its dictionary "
        "(default: conditional where the compressor has a dictionary call, else concat)",
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
    rule.add_argument(
        "--fraction",
        type=float,
        metavar="F",
        help="select the best share F of the rows scored (0.1: the top 10%%; exact mode)",
    )
    rule.add_argument(
        "--budget-fraction",
        type=float,
        metavar="F",
        help="select the best rows, in score order, while their tokens fit in the share F of "
        "the tokens of all rows scored (exact mode)",
    )
    parser.add_argument(
        "--mix",
        metavar="NAME=SHARE,...",
        help="named target sets' shares of the rule (of --k or --fraction's rows, of a token "
        "budget's tokens), adding up to 1; without it, each set takes the whole rule",
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
    parser.add_argument(
        "--group-quota",
        metavar="VALUE=SHARE|COUNT,...",
        help="--group-column values' floors: a share of the rule's total (with a point: 0.3) "
        "or a count (1000); each takes its best rows up to its floor, the rest goes by score",
    )
    parser.add_argument(
        "--group-max",
        type=float,
        metavar="SHARE",
        help="no --group-column value takes more than this share of the rule's total",
    )
    parser.add_argument(
        "--per-group",
        dest="per_group_column",
        metavar="COLUMN",
        help="apply the rule to every value of COLUMN alone (--fraction 0.1 --per-group "
        "source: the best 10%% of every source)",
    )
    parser.add_argument(
        "--quota-shortfall",
        choices=SHORTFALL,
        default=SelectConfig.quota_shortfall,
        help="what a group with fewer rows than its quota leaves: given to the other groups "
        "by score (refill, the default), or left unselected (leave)",
    )


def _add_soft_flags(parser: argparse.ArgumentParser) -> None:
    """--temperature and its --seed (select, reselect: estimate's --seed is its sample's)."""
    parser.add_argument(
        "--temperature",
        type=float,
        default=SelectConfig.temperature,
        metavar="T",
        help="sample instead of cutting: Gumbel top-k on score / T, the noise from --seed and "
        "each row's pool position (0, the default: the K best; exact mode)",
    )
    parser.add_argument(
        "--seed",
        dest="noise_seed",
        type=int,
        default=SelectConfig.noise_seed,
        help="--temperature's noise (default 0)",
    )


def _add_dedup_flags(parser: argparse.ArgumentParser, with_threshold: bool) -> None:
    """--dedup; reselect takes the threshold its scores' signatures were banded for."""
    parser.add_argument(
        "--dedup",
        action="store_true",
        help="drop each selected row that a better-scoring row is a near-duplicate of "
        "(MinHash/LSH on word 5-grams) and refill from below the cut"
        + ("" if with_threshold else "; the scores must be saved by select --all-scores --dedup"),
    )
    if with_threshold:
        parser.add_argument(
            "--dedup-threshold",
            type=float,
            default=SelectConfig.dedup_threshold,
            metavar="J",
            help="--dedup: the Jaccard similarity of word 5-grams at which rows count as "
            f"near-duplicates (default {SelectConfig.dedup_threshold})",
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
