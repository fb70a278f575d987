"""--per-target N: every target item's N nearest rows, by that item's own alignment (ties to
the earlier pool row), each row selected once: the union (selection/coverage.py; cut by
job/per_item.py, one cut per item, all in the same passes over the shards)."""

from __future__ import annotations

from dataclasses import dataclass

from zipfit_ray.errors import require_positive_int
from zipfit_ray.selection.amounts import Amount
from zipfit_ray.selection.rules.base import Rule


@dataclass(frozen=True)
class PerTarget(Rule):
    name = "per_target"
    flag = "--per-target"
    metavar = "N"
    value_type = int
    help = "select every target item's N nearest rows (by its own alignment), each row once"
    per_item = True
    value: int

    def __post_init__(self) -> None:
        require_positive_int(self.flag, self.value)

    def resolved(self, rows: int, tokens: int) -> Amount:
        """Each item's amount (the selection is their union: at most N x items rows)."""
        return Amount(k=self.value)
