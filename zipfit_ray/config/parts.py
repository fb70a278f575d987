"""The parts of a selection plan. Each is a frozen dataclass of flag values (its fields are
named as their flags' dests) that checks its own values when built; what one part's values
allow of another's is decided in combinations.py, and nowhere else."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zipfit_ray import modes
from zipfit_ray.errors import ZipfitError, require_positive_int
from zipfit_ray.kernel.backends import (
    DEFAULT_COMPRESSOR,
    refuse_store_only,
    resolve_joint,
    resolve_level,
)
from zipfit_ray.modes.base import ModeSettings
from zipfit_ray.selection import quotas, rules
from zipfit_ray.selection.amounts import check_share, parse_amounts
from zipfit_ray.selection.dedup import DEFAULT_THRESHOLD as DEDUP_THRESHOLD
from zipfit_ray.selection.order import OrderKey, SoftKey
from zipfit_ray.settings import Settings
from zipfit_ray.storage.targets import parse_target_sets

ON_BAD_FILE = ("fail", "skip")
# pool: the parts hold the selection in pool order; score: also a copy sorted best first
ORDERS = ("pool", "score")
OUT_FORMATS = ("parquet", "jsonl", "jsonl.gz", "jsonl.zst")
# the contamination guard (selection/contamination.py): drop flagged rows before the cut,
# only flag them, or check nothing (the paper)
DECONTAMINATE = ("drop", "flag", "off")


def _choice(flag: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ZipfitError(f"{flag}: choose from {choices}, got {value!r}")


@dataclass(frozen=True)
class PoolReading(Settings):
    """Which rows of the pool are read, and how."""

    pool: tuple[str, ...]
    text_column: str = "text"
    max_bytes: int = 4 * 1024 * 1024  # longer texts are cut to this many bytes (and counted)
    on_bad_file: str = "fail"  # or "skip": leave unreadable files / row groups out, counted
    shard_rows: int | None = None  # None: sized from the pool and the cluster's CPUs

    def __post_init__(self) -> None:
        pool = (self.pool,) if isinstance(self.pool, str) else tuple(self.pool)
        object.__setattr__(self, "pool", pool)
        if not pool:
            raise ZipfitError("--pool: give at least one file, directory or glob")
        require_positive_int("--max-bytes", self.max_bytes)
        _choice("--on-bad-file", self.on_bad_file, ON_BAD_FILE)
        if self.shard_rows is not None:
            require_positive_int("--shard-rows", self.shard_rows)


@dataclass(frozen=True)
class Scoring(Settings):
    """How a row is scored: the targets, C(s) and the joint size, and the mode, with every
    mode's own settings (modes/; only the chosen mode's are used to select, all of them by
    estimate)."""

    targets: tuple[str, ...]  # one URI, or NAME=URI per target set (storage.targets)
    target_column: str = "text"
    compressor: str = DEFAULT_COMPRESSOR  # PAPER_COMPRESSOR (gzip, level 9) is the paper's
    level: int | None = None  # None: the compressor's default; resolved on construction
    joint: str | None = None  # concat C(x + y) or conditional C(x) + C(y | x); None: the
    # compressor's default (conditional where its library has a dictionary call)
    allow_store_only: bool = False  # a level that stores text uncompressed: NCD is length
    mode: str = modes.DEFAULT
    mode_settings: Mapping[str, ModeSettings] = field(default_factory=dict)  # per mode name

    def __post_init__(self) -> None:
        targets = (self.targets,) if isinstance(self.targets, str) else tuple(self.targets)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "level", resolve_level(self.compressor, self.level))
        object.__setattr__(self, "joint", resolve_joint(self.compressor, self.joint))
        refuse_store_only(self.compressor, self.level, self.allow_store_only)
        modes.get(self.mode)
        given = dict(self.mode_settings)
        every = {name: given.get(name) or mode.Settings() for name, mode in modes.MODES.items()}
        object.__setattr__(self, "mode_settings", every)

    @classmethod
    def flag_names(cls) -> tuple[str, ...]:
        own = [name for name in super().flag_names() if name != "mode_settings"]
        every = (name for mode in modes.MODES.values() for name in mode.Settings.flag_names())
        return tuple(dict.fromkeys([*own, *every]))

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any]) -> Scoring:
        own = {n: flags[n] for n in super().flag_names() if n in flags and n != "mode_settings"}
        settings = {name: mode.Settings.from_flags(flags) for name, mode in modes.MODES.items()}
        return cls(**own, mode_settings=settings)

    def flags(self) -> dict[str, Any]:
        found = {n: getattr(self, n) for n in super().flag_names() if n != "mode_settings"}
        for settings in self.mode_settings.values():
            found.update(settings.flags())
        return found

    @property
    def target_sets(self) -> dict[str, str] | None:
        """{name: URI} of named target sets (selection/mixture.py), or None for one
        unnamed set."""
        return parse_target_sets(self.targets)

    @property
    def settings(self) -> ModeSettings:
        """The chosen mode's own settings."""
        return self.mode_settings[self.mode]


@dataclass(frozen=True)
class Selecting(Settings):
    """Which scored rows are kept: the rule, named sets' shares of it, soft selection, and
    how tokens are counted for a budget."""

    rule: rules.Rule  # one of rules.RULES
    mix: dict[str, float] | None = None  # --mix: each named set's share of the rule
    temperature: float = 0.0  # > 0: Gumbel top-k on score / T (order.SoftKey); 0: the hard cut
    noise_seed: int = 0  # --temperature's noise (--seed)
    tokenizer: str | None = None  # a tokenizer.json for token counts; None: approximate
    cover: float = 0.0  # the share of the rule first given to every target item's own best

    def __post_init__(self) -> None:
        check_share("--cover", self.cover, zero=True)
        if isinstance(self.mix, str):
            object.__setattr__(self, "mix", parse_amounts(self.mix, "--mix", "NAME", False))
        if not (isinstance(self.temperature, int | float) and 0 <= self.temperature < math.inf):
            raise ZipfitError(f"--temperature: a number >= 0, got {self.temperature!r}")

    @classmethod
    def flag_names(cls) -> tuple[str, ...]:
        own = [name for name in super().flag_names() if name != "rule"]
        return (*rules.RULES, *own)

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any]) -> Selecting:
        own = {n: flags[n] for n in super().flag_names() if n in flags and n != "rule"}
        return cls(rules.from_flags(flags), **own)

    def flags(self) -> dict[str, Any]:
        own = {n: getattr(self, n) for n in super().flag_names() if n != "rule"}
        return {**rules.as_flags(self.rule), **own}

    @property
    def per_item(self) -> bool:
        """Whether rows are cut in each target item's own order too (--per-target, --cover):
        scoring then saves each row's alignment to every item."""
        return self.rule.per_item or self.cover > 0

    @property
    def threshold(self) -> float:
        """A streamed rule's score threshold (--min-score): known before scoring."""
        return self.rule.resolved(0, 0).min_score

    @property
    def order_key(self) -> OrderKey:
        """What rows are ranked by: the score, or with --temperature the soft key."""
        return SoftKey(self.temperature, self.noise_seed) if self.temperature else "score"


@dataclass(frozen=True)
class Groups(Settings):
    """--group-column: rows counted per value, and each value's floor and cap (quotas)."""

    group_column: str | None = None
    group_quota: dict[str, float | int] | None = None  # floors (selection/quotas.py)
    group_max: float | None = None  # every group's cap, a share of the rule's total
    per_group: bool = False  # the rule applied to every group alone
    quota_shortfall: str = "refill"  # what a group short of its quota leaves: SHORTFALL

    def __post_init__(self) -> None:
        if isinstance(self.group_quota, str):
            quota = parse_amounts(self.group_quota, "--group-quota", "VALUE", True)
            object.__setattr__(self, "group_quota", quota)
        _choice("--quota-shortfall", self.quota_shortfall, quotas.SHORTFALL)
        if not self.grouped:
            return
        if self.group_max is not None and not (
            isinstance(self.group_max, int | float) and 0 < self.group_max <= 1
        ):
            raise ZipfitError(f"--group-max: a share in (0, 1], got {self.group_max!r}")
        if not self.group_column:
            raise ZipfitError(f"{self.flag}: name the groups' column with --group-column")
        if self.per_group and (self.group_quota or self.group_max is not None):
            raise ZipfitError(
                "--per-group: every group takes the rule alone; not with --group-quota or "
                "--group-max"
            )

    @property
    def grouped(self) -> bool:
        """Whether groups have floors or caps: --group-quota, --group-max or --per-group."""
        return bool(self.group_quota) or self.group_max is not None or self.per_group

    @property
    def flag(self) -> str:
        """The first of the quota flags given, to name in an error."""
        given = (
            ("--per-group", self.per_group),
            ("--group-quota", bool(self.group_quota)),
            ("--group-max", self.group_max is not None),
        )
        return next(flag for flag, on in given if on)


@dataclass(frozen=True)
class Trust(Settings):
    """What is kept out of a selection: benchmark items (the guard) and near-duplicates."""

    decontaminate: str = "drop"  # see DECONTAMINATE
    eval_sets: tuple[str, ...] = ()  # benchmark files checked for besides the targets
    dedup: bool = False  # drop near-duplicates of better rows from the selection, refilled
    dedup_threshold: float = DEDUP_THRESHOLD  # Jaccard of word n-grams (LSH's step)
    exclude_near: tuple[str, ...] = ()  # corpora whose near-duplicates are dropped (job/exclude)
    exclude_near_column: str | None = None  # their text column; None: --text-column

    def __post_init__(self) -> None:
        _choice("--decontaminate", self.decontaminate, DECONTAMINATE)
        object.__setattr__(self, "eval_sets", tuple(self.eval_sets))
        object.__setattr__(self, "exclude_near", tuple(self.exclude_near))
        if not (isinstance(self.dedup_threshold, int | float) and 0 < self.dedup_threshold <= 1):
            raise ZipfitError(
                f"--dedup-threshold: a Jaccard similarity in (0, 1], got {self.dedup_threshold!r}"
            )

    @property
    def banded(self) -> bool:
        """Whether scoring saves each row's LSH band hashes (--dedup, --exclude-near)."""
        return self.dedup or bool(self.exclude_near)


@dataclass(frozen=True)
class Output(Settings):
    """What is written under --out, and how."""

    out: str  # "" for a command that writes nothing (estimate)
    order: str = "pool"  # see ORDERS
    out_format: str = "parquet"  # see OUT_FORMATS: the parts' format (and compression)
    part_rows: int = 100_000
    overwrite: bool = False
    all_scores: bool = False  # also write every row's score under <out>/scores/

    def __post_init__(self) -> None:
        require_positive_int("--part-rows", self.part_rows)
        _choice("--order", self.order, ORDERS)
        _choice("--out-format", self.out_format, OUT_FORMATS)
        if self.order == "score" and self.out_format != "parquet":
            raise ZipfitError(
                "--order score: sorts Parquet parts; use it with --out-format parquet"
            )

    @property
    def part_suffix(self) -> str:
        """What the output parts' names end with."""
        return "." + self.out_format


@dataclass(frozen=True)
class Runtime(Settings):
    """Where the job runs and how it reaches storage: nothing here changes its result."""

    address: str | None = None  # None: start a local Ray (or join the one already running)
    num_cpus: int | None = None
    max_in_flight: int | None = None  # None: twice the cluster's CPUs
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.num_cpus is not None:
            require_positive_int("--num-cpus", self.num_cpus)
            if self.address is not None:
                raise ZipfitError("--num-cpus: only applies to a local Ray, not with --address")
        if self.max_in_flight is not None:
            require_positive_int("--max-in-flight", self.max_in_flight)
        if not isinstance(self.storage_options, dict):
            raise ZipfitError("--storage-options: must be a JSON object")
