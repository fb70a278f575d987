"""SelectConfig: every choice a selection job makes, validated once, then passed down."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from zipfit_ray import modes
from zipfit_ray.errors import ZipfitError, require_positive_int
from zipfit_ray.kernel.backends import (
    DEFAULT_COMPRESSOR,
    refuse_store_only,
    resolve_joint,
    resolve_level,
)
from zipfit_ray.modes import cascade, early_exit, prefilter
from zipfit_ray.selection import mixture, quotas
from zipfit_ray.selection.dedup import DEFAULT_THRESHOLD as DEDUP_THRESHOLD
from zipfit_ray.selection.order import OrderKey, SoftKey
from zipfit_ray.selection.rules import SelectionRule, parse_amounts
from zipfit_ray.storage import locations
from zipfit_ray.storage.targets import parse_target_sets

ON_BAD_FILE = ("fail", "skip")
# pool: the parts hold the selection in pool order; score: also a copy sorted best first
ORDERS = ("pool", "score")
OUT_FORMATS = ("parquet", "jsonl", "jsonl.gz", "jsonl.zst")
# the contamination guard (selection/contamination.py): drop flagged rows before the cut,
# only flag them, or check nothing (the paper)
DECONTAMINATE = ("drop", "flag", "off")


@dataclass(frozen=True)
class SelectConfig:
    pool: tuple[str, ...]
    targets: tuple[str, ...]  # one URI, or NAME=URI per target set (storage.targets)
    out: str
    k: int | None = None  # the selection rule: exactly one of k, budget_tokens, min_score,
    budget_tokens: int | None = None  # fraction, budget_fraction (SelectionRule)
    min_score: float | None = None
    fraction: float | None = None
    budget_fraction: float | None = None
    temperature: float = 0.0  # > 0: Gumbel top-k on score / T (order.SoftKey); 0: the hard cut
    noise_seed: int = 0  # --temperature's noise (--seed)
    mix: dict[str, float] | None = None  # --mix: each named set's share of the rule
    tokenizer: str | None = None  # a tokenizer.json for token counts; None: approximate
    group_column: str | None = None  # count pool and selected rows per value of this column
    group_quota: dict[str, float | int] | None = None  # floors per group (selection/quotas.py)
    group_max: float | None = None  # every group's cap, a share of the rule's total
    per_group: bool = False  # the rule applied to every group alone
    quota_shortfall: str = "refill"  # what a group short of its quota leaves: see SHORTFALL
    all_scores: bool = False  # also write every row's score under <out>/scores/
    text_column: str = "text"
    target_column: str = "text"
    compressor: str = DEFAULT_COMPRESSOR  # PAPER_COMPRESSOR (gzip, level 9) is the paper's
    level: int | None = None  # None: the compressor's default; resolved on construction
    joint: str | None = None  # concat C(x + y) or conditional C(x) + C(y | x); None: the
    # compressor's default (conditional where its library has a dictionary call)
    address: str | None = None  # None: start a local Ray (or join the one already running)
    num_cpus: int | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)
    decontaminate: str = "drop"  # see DECONTAMINATE
    eval_sets: tuple[str, ...] = ()  # benchmark files checked for besides the targets
    allow_store_only: bool = False  # a level that stores text uncompressed: NCD is length
    dedup: bool = False  # drop near-duplicates of better rows from the selection, refilled
    dedup_threshold: float = DEDUP_THRESHOLD  # Jaccard of word n-grams (LSH's step)
    shard_rows: int | None = None  # None: sized from the pool and the cluster's CPUs
    max_in_flight: int | None = None  # None: twice the cluster's CPUs
    part_rows: int = 100_000
    order: str = "pool"  # see ORDERS
    out_format: str = "parquet"  # see OUT_FORMATS: the parts' format (and compression)
    overwrite: bool = False
    max_bytes: int = 4 * 1024 * 1024  # longer texts are cut to this many bytes (and counted)
    on_bad_file: str = "fail"  # or "skip": leave unreadable files / row groups out, counted
    mode: str = modes.DEFAULT  # see modes.MODES
    early_exit_z: float = early_exit.DEFAULT_Z  # approx-early-exit: width in standard errors
    early_exit_check: float = early_exit.DEFAULT_CHECK  # approx-early-exit: share checked
    cascade_factor: int = cascade.DEFAULT_FACTOR  # approx-cascade: shortlist this times K
    prefilter: str = prefilter.DEFAULT_KIND  # approx-cascade / -prefilter: the dictionary

    def __post_init__(self) -> None:
        if isinstance(self.pool, str):
            object.__setattr__(self, "pool", (self.pool,))
        object.__setattr__(self, "pool", tuple(self.pool))
        if isinstance(self.targets, str):
            object.__setattr__(self, "targets", (self.targets,))
        object.__setattr__(self, "targets", tuple(self.targets))
        if isinstance(self.mix, str):
            object.__setattr__(self, "mix", parse_amounts(self.mix, "--mix", "NAME", False))
        if self.mix is not None:
            mixture.check_shares(self.mix, list(self.target_sets or ()))
            if self.min_score is not None:
                raise ZipfitError("--mix: shares of --k or a token budget; not with --min-score")
        if not self.pool:
            raise ZipfitError("--pool: give at least one file, directory or glob")
        if self.out:  # estimate writes nothing: out ""
            locations.check_apart(self.out, "--out", self.pool, "--pool")
        object.__setattr__(self, "level", resolve_level(self.compressor, self.level))
        object.__setattr__(self, "joint", resolve_joint(self.compressor, self.joint))
        refuse_store_only(self.compressor, self.level, self.allow_store_only)
        if self.decontaminate not in DECONTAMINATE:
            raise ZipfitError(
                f"--decontaminate: choose from {DECONTAMINATE}, got {self.decontaminate!r}"
            )
        object.__setattr__(self, "eval_sets", tuple(self.eval_sets))
        if not (isinstance(self.dedup_threshold, int | float) and 0 < self.dedup_threshold <= 1):
            raise ZipfitError(
                f"--dedup-threshold: a Jaccard similarity in (0, 1], got {self.dedup_threshold!r}"
            )
        _ = self.rule  # raises if not exactly one, or a bad value
        if not (isinstance(self.temperature, int | float) and 0 <= self.temperature < math.inf):
            raise ZipfitError(f"--temperature: a number >= 0, got {self.temperature!r}")
        if self.target_sets and (self.temperature or self.dedup):
            raise ZipfitError(
                "--targets NAME=URI: named target sets select by a cut of each set's scores; "
                "not with " + ("--temperature" if self.temperature else "--dedup")
            )
        self._check_groups()
        if self.temperature and (self.rule.streamed or self.dedup):
            raise ZipfitError(
                "--temperature: samples a number of rows (--k, --fraction, a token budget); "
                "not with " + ("--min-score" if self.rule.streamed else "--dedup")
            )
        if self.shard_rows is not None:
            require_positive_int("--shard-rows", self.shard_rows)
        require_positive_int("--part-rows", self.part_rows)
        if self.num_cpus is not None:
            require_positive_int("--num-cpus", self.num_cpus)
            if self.address is not None:
                raise ZipfitError("--num-cpus: only applies to a local Ray, not with --address")
        require_positive_int("--max-bytes", self.max_bytes)
        if self.order not in ORDERS:
            raise ZipfitError(f"--order: choose from {ORDERS}, got {self.order!r}")
        if self.out_format not in OUT_FORMATS:
            raise ZipfitError(f"--out-format: choose from {OUT_FORMATS}, got {self.out_format!r}")
        if self.order == "score" and self.out_format != "parquet":
            raise ZipfitError(
                "--order score: sorts Parquet parts; use it with --out-format parquet"
            )
        if self.on_bad_file not in ON_BAD_FILE:
            raise ZipfitError(f"--on-bad-file: choose from {ON_BAD_FILE}, got {self.on_bad_file!r}")
        modes.check(self)
        if self.max_in_flight is not None:
            require_positive_int("--max-in-flight", self.max_in_flight)
        if not isinstance(self.storage_options, dict):
            raise ZipfitError("--storage-options: must be a JSON object")

    def _check_groups(self) -> None:
        if isinstance(self.group_quota, str):
            quota = parse_amounts(self.group_quota, "--group-quota", "VALUE", True)
            object.__setattr__(self, "group_quota", quota)
        given = [
            flag
            for flag, on in (
                ("--per-group", self.per_group),
                ("--group-quota", bool(self.group_quota)),
                ("--group-max", self.group_max is not None),
            )
            if on
        ]
        if self.quota_shortfall not in quotas.SHORTFALL:
            raise ZipfitError(
                f"--quota-shortfall: choose from {quotas.SHORTFALL}, got {self.quota_shortfall!r}"
            )
        if not given:
            return
        flag = given[0]
        if self.group_max is not None and not (
            isinstance(self.group_max, int | float) and 0 < self.group_max <= 1
        ):
            raise ZipfitError(f"--group-max: a share in (0, 1], got {self.group_max!r}")
        if not self.group_column:
            raise ZipfitError(f"{flag}: name the groups' column with --group-column")
        if self.per_group and (self.group_quota or self.group_max is not None):
            raise ZipfitError(
                "--per-group: every group takes the rule alone; not with --group-quota or "
                "--group-max"
            )
        refused = (
            "--min-score" if self.rule.streamed
            else "--targets NAME=URI" if self.target_sets
            else "--dedup" if self.dedup
            else "--temperature" if self.temperature
            else None
        )  # fmt: skip
        if refused:
            raise ZipfitError(f"{flag}: cuts each group's order by the rule; not with {refused}")

    @property
    def grouped(self) -> bool:
        """Whether groups have floors or caps: --group-quota, --group-max or --per-group."""
        return bool(self.group_quota) or self.group_max is not None or self.per_group

    @property
    def part_suffix(self) -> str:
        """What the output parts' names end with."""
        return "." + self.out_format

    @property
    def order_key(self) -> OrderKey:
        """What rows are ranked by: the score, or with --temperature the soft key."""
        return SoftKey(self.temperature, self.noise_seed) if self.temperature else "score"

    @property
    def target_sets(self) -> dict[str, str] | None:
        """{name: URI} of named target sets (selection/mixture.py), or None for one
        unnamed set."""
        return parse_target_sets(self.targets)

    @property
    def rule(self) -> SelectionRule:
        return SelectionRule(
            self.k, self.budget_tokens, self.min_score, self.fraction, self.budget_fraction
        )

    def public_dict(self) -> dict[str, Any]:
        """The arguments as summary.json records them: storage option values (credentials)
        are left out, only their names kept."""
        values = asdict(self)
        values["pool"] = list(self.pool)
        values["targets"] = list(self.targets)
        values["eval_sets"] = list(self.eval_sets)
        values["storage_options"] = sorted(self.storage_options)
        return values
