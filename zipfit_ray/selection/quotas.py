"""Quotas per group (--group-column): what each value of the column gets of the selection.

Every group has a floor and a cap, in the rule's unit (rows, or tokens for a budget):
- ``--group-quota VALUE=SHARE|COUNT,...``: the group's floor, a share of the rule's total
  (a number with a point: 0.3) or a count (a whole number: 1000). It gets its best rows up
  to the floor first; what the floors leave goes by score to every group;
- ``--group-max SHARE``: every group's cap, a share of the total;
- ``--per-group``: floor and cap are the rule itself applied to the group alone (the best
  10% of every source), and nothing else is selected.

A group with fewer rows (or tokens) than its floor falls short: that is reported, and what
it leaves goes by score to the other groups (``refill``, the default) or is left unselected
(``leave``).

So a group's selection is always a run of its best rows: its best rows up to its floor, then
its rows in the score order of the whole pool while the total lasts, up to its cap. The job
finds it with cuts it already has: each group's floor and cap are cuts of the group's own
order (the rows of that group), and what the floors leave is one cut of the rows between
floors and caps (``QuotaSelection``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from zipfit_ray.errors import ZipfitError
from zipfit_ray.selection.amounts import Amount, apportion
from zipfit_ray.selection.cut import EVERYTHING, NOTHING, Boundary
from zipfit_ray.selection.rules import Rule

GROUP_FIELD = "group"  # the saved field: each row's group, as group_key of its label
SHORTFALL = ("refill", "leave")


def group_keys(labels: Iterable[str]) -> np.ndarray:
    """Each group label as an int64 (its hash), to save with every row."""
    return np.array(
        [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little", signed=True)
         for s in labels],
        dtype=np.int64,
    )  # fmt: skip


@dataclass(frozen=True)
class GroupSize:
    """A group's rows and tokens among the rows scored."""

    rows: int
    tokens: int


@dataclass(frozen=True)
class Plan:
    """Each group's floor and cap in the rule's unit, and what the floors leave."""

    unit: str  # "k" (rows) or "budget_tokens"
    floors: dict[str, int]  # groups with a floor (no floor: absent or 0)
    caps: dict[str, int]  # groups with a cap (no cap: absent)
    rest: int  # what goes by score, across groups, once the floors are taken
    short: dict[str, int]  # groups that fall short of their quota: by how much
    unknown: tuple[str, ...]  # quota groups the pool does not hold

    def rule(self, amount: int) -> Amount:
        return Amount(**{self.unit: amount})


def plan(
    rule: Rule | Amount,
    sizes: dict[str, GroupSize],
    quotas: dict[str, float | int] | None,
    group_max: float | None,
    per_group: bool,
    shortfall: str = "refill",
) -> Plan:
    """Floors and caps for ``rule`` (what the job's rule comes to over the whole pool, a
    count or a budget; with ``per_group``, the rule, resolved against each group) over
    groups of ``sizes``."""
    unit = rule.resolved(1, 1).unit  # a share of rows is a count; of tokens, a budget

    def size(group: str) -> int:
        found = sizes.get(group, GroupSize(0, 0))
        return found.rows if unit == "k" else found.tokens

    if per_group:
        resolved = {g: rule.resolved(s.rows, s.tokens) for g, s in sizes.items()}
        wanted = {g: r.total for g, r in resolved.items()}
        floors = {g: min(w, size(g)) for g, w in wanted.items()}
        short = {g: w - size(g) for g, w in wanted.items() if w > size(g)}
        return Plan(unit, floors, floors, 0, short, ())
    total = rule.total

    quotas = quotas or {}
    shares = apportion(total, {g: q for g, q in quotas.items() if isinstance(q, float)})
    wanted = {g: shares[g] if isinstance(q, float) else q for g, q in quotas.items()}
    if sum(wanted.values()) > total:
        raise ZipfitError(
            f"--group-quota: the quotas add up to {sum(wanted.values()):,}, more than the "
            f"rule's {total:,}"
        )
    caps = {} if group_max is None else dict.fromkeys(sizes, math.floor(group_max * total))
    over = [g for g, w in wanted.items() if w > caps.get(g, w)]
    if over:
        raise ZipfitError(f"--group-quota: {over[0]!r}'s quota is above --group-max")
    floors = {g: min(w, size(g)) for g, w in wanted.items() if g in sizes and w}
    short = {g: w - size(g) for g, w in wanted.items() if w > size(g)}
    rest = total - sum(floors.values()) - (sum(short.values()) if shortfall == "leave" else 0)
    unknown = tuple(g for g in wanted if g not in sizes)
    return Plan(unit, floors, caps, rest, short, unknown)


@dataclass(frozen=True)
class InGroup:
    """The rows of one group (a cut's filter)."""

    key: int

    def __call__(self, entries: np.ndarray) -> np.ndarray:
        return entries[GROUP_FIELD] == self.key


@dataclass(frozen=True)
class QuotaSelection:
    """Per group (by key), the boundary of its floor and of its cap in the score order,
    and ``rest``, the cut of what the floors leave: a row is selected when its floor takes
    it, or when it lies within its cap and ``rest`` takes it."""

    floors: dict[int, Boundary]  # absent: no floor
    caps: dict[int, Boundary]  # absent: no cap
    rest: Boundary = NOTHING

    def between(self, entries: np.ndarray) -> np.ndarray:
        """The rows past their group's floor but within its cap: what ``rest`` cuts."""
        return self._floor_and_between(entries)[1]

    def selects(self, entries: np.ndarray) -> np.ndarray:
        floor, between = self._floor_and_between(entries)
        return floor | (between & self.rest.selects(entries))

    def _floor_and_between(self, entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        floor = self._by_group(entries, self.floors, NOTHING)
        return floor, ~floor & self._by_group(entries, self.caps, EVERYTHING)

    def columns(self, entries: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return entries["score"], {}

    @staticmethod
    def _by_group(
        entries: np.ndarray, boundaries: dict[int, Boundary], otherwise: Boundary
    ) -> np.ndarray:
        found = np.zeros(len(entries), dtype=bool)
        groups = entries[GROUP_FIELD]
        for key in np.unique(groups).tolist():
            mine = groups == key
            found[mine] = boundaries.get(key, otherwise).selects(entries[mine])
        return found


@dataclass(frozen=True)
class Between:
    """The rows ``rest`` is cut over (a picklable filter)."""

    selection: QuotaSelection

    def __call__(self, entries: np.ndarray) -> np.ndarray:
        return self.selection.between(entries)


def check_groups(labels: Sequence[str], limit: int) -> None:
    if len(labels) > limit:
        raise ZipfitError(
            f"--group-column: {len(labels):,} values; quotas and --per-group cut each group "
            f"on its own, so at most {limit:,} (choose a column with fewer values)"
        )
