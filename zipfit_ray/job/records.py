"""The records a job saves for itself, each declared once and used by every writer and
reader: the scores a shard saves (scores/<shard>.parquet, ``scores_dtype``), and the job
record reselect reads (scores/_job.json, ``SavedJob``). summary.json is job/summary.py's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from zipfit_ray import modes, storage
from zipfit_ray.analysis.target_set import Spread
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.kernel.alignment import PreparedTargets
from zipfit_ray.selection import dedup, order, quotas
from zipfit_ray.storage import outputs

FIRST_DECLARED = 6  # the checkpoint format from which saved scores follow scores_dtype


def scores_dtype(config: SelectConfig, targets: PreparedTargets) -> np.dtype:
    """Every saved row's fields, the same for every shard of a job (one that scored no row
    included): order.ENTRY's, what the mode saves beside each score (Mode.saved_columns),
    the row's group (--group-column) and its LSH band hashes (--dedup, --exclude-near)."""
    beside = modes.get(config.scoring.mode).saved_columns(config, targets)
    fields = [*order.ENTRY.descr, *beside]
    if config.groups.group_column:
        fields.append((quotas.GROUP_FIELD, "<i8"))
    if config.trust.banded:
        bands = dedup.lsh_bands(config.trust.dedup_threshold)
        fields += [(name, "<u8") for name in bands.fields()]
    return np.dtype(fields)


@dataclass
class SavedJob:
    """scores/_job.json: the job that saved the scores (``job``: its fingerprint; its
    flags, storage option values left out), the record of each saved row, and what only
    scoring learned (the rows it counted, the guard's, the groups', the JSONL fields')."""

    job: dict[str, Any]
    arguments: dict[str, Any]
    files: list[str]
    scores_dtype: list[list[str]]  # [name, numpy dtype string] per field
    jsonl_kinds: dict[str, list[str]] = field(default_factory=dict)  # JSON kinds per field
    targets: int = 0  # target texts
    rows_total: int | None = None  # None until scoring finished
    rows_contaminated: int = 0
    rows_contaminated_by_set: dict[str, int] = field(default_factory=dict)
    target_spread: Spread | None = None
    groups: dict[str, int] = field(default_factory=dict)  # rows per --group-column value

    def __post_init__(self) -> None:
        if isinstance(self.target_spread, dict):  # as the JSON holds it
            self.target_spread = Spread(**self.target_spread)

    def write(self, out: str, options: dict[str, Any]) -> None:
        storage.write_json(self.uri(out), asdict(self), options)

    @staticmethod
    def uri(out: str) -> str:
        return storage.join(out, outputs.SCORES, outputs.SCORES_JOB)

    @classmethod
    def read(cls, out: str, options: dict[str, Any]) -> SavedJob:
        """The record under ``out`` (a select --all-scores output), or a ZipfitError naming
        what is missing."""
        uri = cls.uri(out)
        if not storage.exists(uri, options):
            raise ZipfitError(f"--scores: {out} holds no saved scores (run select --all-scores)")
        saved = json.loads(storage.read_bytes(uri, options))
        found = saved.get("job", {}).get("format", 0)
        if found < FIRST_DECLARED:
            raise ZipfitError(
                f"--scores: {out} holds scores saved by an earlier zipfit-ray (format {found}); "
                "select --all-scores again to reselect from them"
            )
        return cls(**saved)

    def plan(self) -> SelectConfig:
        """The saved job's plan (storage option values were never saved)."""
        return SelectConfig.from_flags(**{**self.arguments, "storage_options": {}})

    @property
    def dtype(self) -> np.dtype:
        return np.dtype([tuple(named) for named in self.scores_dtype])
