"""--min-score T: every row scoring at least T, a boundary known before any row is scored."""

from __future__ import annotations

import math
from dataclasses import dataclass

from zipfit_ray.errors import ZipfitError
from zipfit_ray.selection.amounts import Threshold
from zipfit_ray.selection.rules.base import Rule


@dataclass(frozen=True)
class MinScore(Rule):
    name = "min_score"
    flag = "--min-score"
    metavar = "T"
    value_type = float
    help = "select every row scoring at least T (written in pool order)"
    streamed = True
    value: float

    def __post_init__(self) -> None:
        if not (isinstance(self.value, int | float) and math.isfinite(self.value)):
            raise ZipfitError(f"{self.flag}: must be a number, got {self.value!r}")

    def resolved(self, rows: int, tokens: int) -> Threshold:
        return Threshold(self.value)
