"""--budget-fraction F: the best rows, in score order, while their tokens fit in the share F
of the tokens of every row scored (rounded down; at least one token)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from zipfit_ray.selection.amounts import Amount, check_share
from zipfit_ray.selection.rules.base import Rule


@dataclass(frozen=True)
class BudgetFraction(Rule):
    name = "budget_fraction"
    flag = "--budget-fraction"
    metavar = "F"
    value_type = float
    help = (
        "select the best rows, in score order, while their tokens fit in the share F of "
        "the tokens of all rows scored (exact mode)"
    )
    by_tokens = True
    value: float

    def __post_init__(self) -> None:
        check_share(self.flag, self.value)

    def resolved(self, rows: int, tokens: int) -> Amount:
        return Amount(budget_tokens=max(1, math.floor(self.value * tokens)))
