"""The flag groups several `zipfit-ray` commands share; each flag's dest is the plan's flag
name (config.SelectConfig.from_flags)."""

from __future__ import annotations

import argparse

from zipfit_ray import modes
from zipfit_ray.config import ORDERS, OUT_FORMATS, Groups, Output, Selecting, Trust
from zipfit_ray.kernel.backends import BACKENDS, DEFAULT_COMPRESSOR, JOINTS, PAPER_COMPRESSOR
from zipfit_ray.modes import prefilter
from zipfit_ray.modes.cascade import CascadeSettings
from zipfit_ray.modes.early_exit import EarlyExitSettings
from zipfit_ray.selection import rules
from zipfit_ray.selection.quotas import SHORTFALL


def mode_flags(parser: argparse.ArgumentParser) -> None:
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
        default=EarlyExitSettings.early_exit_z,
        help="approx-early-exit: the bound's width, in standard errors",
    )
    parser.add_argument(
        "--early-exit-check",
        type=float,
        default=EarlyExitSettings.early_exit_check,
        metavar="SHARE",
        help="approx-early-exit: this share of the dropped rows is scored anyway, and "
        "summary.json says how many of them would have been selected",
    )
    parser.add_argument(
        "--cascade-factor",
        type=int,
        default=CascadeSettings.cascade_factor,
        help="approx-cascade: prefilter to this many times K, then rescore",
    )
    parser.add_argument(
        "--prefilter",
        choices=prefilter.KINDS,
        default=CascadeSettings.prefilter,
        help="approx-cascade / approx-prefilter: the dictionary compressor",
    )


def target_flags(parser: argparse.ArgumentParser) -> None:
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


def rule_flags(parser: argparse.ArgumentParser) -> None:
    rule = parser.add_mutually_exclusive_group(required=True)
    for each in rules.RULES.values():  # one flag per rule (selection/rules/)
        rule.add_argument(each.flag, type=each.value_type, metavar=each.metavar, help=each.help)
    parser.add_argument(
        "--cover",
        type=float,
        default=Selecting.cover,
        metavar="F",
        help="first give every target item its best rows, until the share F of the rule is "
        "used, then the rest by mean alignment (0, the default: by mean alignment alone)",
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
        default=Groups.quota_shortfall,
        help="what a group with fewer rows than its quota leaves: given to the other groups "
        "by score (refill, the default), or left unselected (leave)",
    )


def soft_flags(parser: argparse.ArgumentParser) -> None:
    """--temperature and its --seed (select, reselect: estimate's --seed is its sample's)."""
    parser.add_argument(
        "--temperature",
        type=float,
        default=Selecting.temperature,
        metavar="T",
        help="sample instead of cutting: Gumbel top-k on score / T, the noise from --seed and "
        "each row's pool position (0, the default: the K best; exact mode)",
    )
    parser.add_argument(
        "--seed",
        dest="noise_seed",
        type=int,
        default=Selecting.noise_seed,
        help="--temperature's noise (default 0)",
    )


def dedup_flags(parser: argparse.ArgumentParser, with_threshold: bool) -> None:
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
            default=Trust.dedup_threshold,
            metavar="J",
            help="--dedup: the Jaccard similarity of word 5-grams at which rows count as "
            f"near-duplicates (default {Trust.dedup_threshold})",
        )


def job_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of the commands that run a selecting job (select, reselect)."""
    parser.add_argument(
        "--part-rows", type=int, default=Output.part_rows, help="rows per output part"
    )
    parser.add_argument(
        "--order",
        choices=ORDERS,
        default=Output.order,
        help="pool: parts in pool order (default); score: also a copy best first under "
        "OUT/ranked/, sorted by Ray Data (pip install 'zipfit-ray[data]')",
    )
    parser.add_argument(
        "--out-format",
        choices=OUT_FORMATS,
        default=Output.out_format,
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


def ray_flags(parser: argparse.ArgumentParser) -> None:
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
