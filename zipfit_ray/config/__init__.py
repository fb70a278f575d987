"""SelectConfig: the plan of a selection job, in typed parts, validated once, then passed down.

The CLI, the Python API, estimate and reselect all build it the same way: from flag values
by name (``SelectConfig.from_flags``), each part taking the flags it owns (parts.py) and
checking them, then combinations.py deciding what the parts allow of each other. The
resume fingerprint is derived from it (``shard_flags``): every flag is in it unless
SHARD_NEUTRAL says why it cannot change what a shard saves.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any

from zipfit_ray.config import combinations
from zipfit_ray.config.parts import (
    DECONTAMINATE,
    ON_BAD_FILE,
    ORDERS,
    OUT_FORMATS,
    Groups,
    Output,
    PoolReading,
    Runtime,
    Scoring,
    Selecting,
    Trust,
)
from zipfit_ray.errors import ZipfitError
from zipfit_ray.settings import Settings
from zipfit_ray.storage import locations

__all__ = [
    "DECONTAMINATE",
    "ON_BAD_FILE",
    "ORDERS",
    "OUT_FORMATS",
    "SCORED_PARTS",
    "SHARD_NEUTRAL",
    "Groups",
    "Output",
    "PoolReading",
    "Runtime",
    "Scoring",
    "SelectConfig",
    "Selecting",
    "Trust",
]

# Flags that cannot change what a shard saves (its scores, notes, streamed part), each with
# its reason. Every other flag is in the resume fingerprint (job/checkpoints.py).
SHARD_NEUTRAL: dict[str, str] = {
    "target_column": "the targets are fingerprinted by their texts, not by where they are read",
    "allow_store_only": "it only permits a level; the level itself is fingerprinted",
    "shard_rows": "a shard's name says which row groups it holds; another size, other names",
    "mix": "shares are applied at the cut, to the saved scores",
    "temperature": "the soft key is computed at the cut from the saved score and row id",
    "noise_seed": "the soft key is computed at the cut from the saved score and row id",
    "group_quota": "floors are cut from the saved scores and groups",
    "group_max": "caps are cut from the saved scores and groups",
    "per_group": "each group's cut is made from the saved scores and groups",
    "quota_shortfall": "applied at the cut",
    "exclude_near": "the corpora are read after every shard is scored (bands: see fingerprint)",
    "exclude_near_column": "the corpora are read after every shard is scored",
    "out": "where the job writes (its checkpoints live there)",
    "part_rows": "parts are cut after every shard is scored",
    "overwrite": "how --out is taken, not what is computed",
    "address": "where the job runs",
    "num_cpus": "how many CPUs a local Ray has",
    "max_in_flight": "how many tasks are queued at once",
    "storage_options": "how storage is reached; files are fingerprinted by their content",
}
# Flags that name inputs: fingerprinted by what they hold (pool footers, texts), not by name
BY_CONTENT = ("pool", "targets", "eval_sets", "tokenizer")
# What reselect keeps of the job that saved the scores: what decided them
SCORED_PARTS = ("reading", "scoring", "trust")


@dataclass(frozen=True)
class SelectConfig:
    """A selection job: what is read, how it is scored, what is kept, what is kept out,
    what is written, and where it runs."""

    reading: PoolReading
    scoring: Scoring
    selecting: Selecting
    groups: Groups
    trust: Trust
    output: Output
    runtime: Runtime

    def __post_init__(self) -> None:
        if self.output.out:  # estimate writes nothing: out ""
            locations.check_apart(self.output.out, "--out", self.reading.pool, "--pool")
        combinations.check(self)

    @classmethod
    def parts(cls) -> dict[str, type[Settings]]:
        return {
            "reading": PoolReading,
            "scoring": Scoring,
            "selecting": Selecting,
            "groups": Groups,
            "trust": Trust,
            "output": Output,
            "runtime": Runtime,
        }

    @classmethod
    def required(cls) -> tuple[str, ...]:
        """The flags with no default: the pool, the targets, the output directory."""
        return tuple(
            f.name
            for part in cls.parts().values()
            for f in fields(part)
            if f.default is MISSING
            and f.default_factory is MISSING
            and f.name in part.flag_names()  # the rule is its own flags' (rules.from_flags)
        )

    @classmethod
    def flag_names(cls) -> tuple[str, ...]:
        """Every flag a job takes, by its dest name."""
        return tuple(name for part in cls.parts().values() for name in part.flag_names())

    @classmethod
    def from_flags(cls, **flags: Any) -> SelectConfig:
        """The plan from flag values by name (a flag not given takes its default)."""
        unknown = sorted(set(flags) - set(cls.flag_names()))
        if unknown:
            raise ZipfitError(f"no such setting: {', '.join(unknown)}")
        missing = [name for name in cls.required() if flags.get(name) is None]
        if missing:
            raise ZipfitError(f"missing setting: {', '.join(missing)} (--{missing[0]})")
        return cls(**{name: part.from_flags(flags) for name, part in cls.parts().items()})

    def flags(self) -> dict[str, Any]:
        """Every flag's value by name: from_flags(**config.flags()) is the same plan."""
        found: dict[str, Any] = {}
        for name in self.parts():
            found.update(getattr(self, name).flags())
        return found

    def flags_of(self, *parts: str) -> dict[str, Any]:
        """The flags of the named parts."""
        found: dict[str, Any] = {}
        for name in parts:
            found.update(getattr(self, name).flags())
        return found

    def public_dict(self) -> dict[str, Any]:
        """The flags as summary.json records them: storage option values (credentials)
        are left out, only their names kept; tuples as lists."""
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in self.flags().items()}
        values["storage_options"] = sorted(self.runtime.storage_options)
        return values

    def shard_flags(self) -> dict[str, Any]:
        """The flags that can change what a shard saves, by value; those of BY_CONTENT are
        left to the caller, who fingerprints what they name."""
        return {
            name: value
            for name, value in self.public_dict().items()
            if name not in SHARD_NEUTRAL and name not in BY_CONTENT
        }
