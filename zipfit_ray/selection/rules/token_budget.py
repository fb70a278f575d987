"""--budget-tokens N: the best rows, in score order, while their tokens fit in N."""

from __future__ import annotations

from dataclasses import dataclass

from zipfit_ray.errors import require_positive_int
from zipfit_ray.selection.amounts import Amount
from zipfit_ray.selection.rules.base import Rule


@dataclass(frozen=True)
class TokenBudget(Rule):
    name = "budget_tokens"
    flag = "--budget-tokens"
    metavar = "N"
    value_type = int
    help = "select the best rows, in score order, while their tokens fit in N"
    by_tokens = True
    value: int

    def __post_init__(self) -> None:
        require_positive_int(self.flag, self.value)

    def resolved(self, rows: int, tokens: int) -> Amount:
        return Amount(budget_tokens=self.value)
