"""--k N: the N best rows."""

from __future__ import annotations

from dataclasses import dataclass

from zipfit_ray.errors import require_positive_int
from zipfit_ray.selection.amounts import Amount
from zipfit_ray.selection.rules.base import Rule


@dataclass(frozen=True)
class TopK(Rule):
    name = "k"
    flag = "--k"
    metavar = "K"
    value_type = int
    help = "select the K best rows"
    value: int

    def __post_init__(self) -> None:
        require_positive_int(self.flag, self.value)

    def resolved(self, rows: int, tokens: int) -> Amount:
        return Amount(k=self.value)
