"""--fraction F: the best share F of the rows scored (rounded down; at least one row)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from zipfit_ray.selection.amounts import Amount, check_share
from zipfit_ray.selection.rules.base import Rule


@dataclass(frozen=True)
class Fraction(Rule):
    name = "fraction"
    flag = "--fraction"
    metavar = "F"
    value_type = float
    help = "select the best share F of the rows scored (0.1: the top 10%%; exact mode)"
    value: float

    def __post_init__(self) -> None:
        check_share(self.flag, self.value)

    def resolved(self, rows: int, tokens: int) -> Amount:
        return Amount(k=max(1, math.floor(self.value * rows)))
