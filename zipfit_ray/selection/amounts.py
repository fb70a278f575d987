"""What a selection rule comes to once the rows scored are counted (selection/rules/), in
the terms the cut works in: an Amount of the best rows (a count of rows, or a budget of
their tokens), whose end in the total order the distributed cut finds (cut.py), or a
Threshold, known before any row is scored. And the arithmetic of shares of an amount
(--mix, --group-quota): parse_amounts and apportion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from zipfit_ray.errors import ZipfitError, require_positive_int


@dataclass(frozen=True)
class Amount:
    """The best rows of the total order: the first ``k``, or as many as fit, in order,
    while their tokens add up to at most ``budget_tokens``. Exactly one is given."""

    k: int | None = None
    budget_tokens: int | None = None

    FLAGS: ClassVar[dict[str, str]] = {"k": "--k", "budget_tokens": "--budget-tokens"}
    streamed: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if (self.k is None) == (self.budget_tokens is None):
            raise ValueError(f"an amount is rows or tokens, not {self!r}")
        require_positive_int(self.FLAGS[self.unit], self.total)

    @property
    def unit(self) -> str:
        """ "k" (rows) or "budget_tokens"."""
        return "k" if self.k is not None else "budget_tokens"

    @property
    def total(self) -> int:
        return self.k if self.k is not None else self.budget_tokens

    def of(self, total: int) -> Amount:
        """The same unit, another total."""
        return Amount(**{self.unit: total})

    def describe(self) -> str:
        return f"{self.FLAGS[self.unit]} {self.total}"

    def resolved(self, rows: int, tokens: int) -> Amount:
        """Already what the cut takes (rules.Rule.resolved's answer for an amount)."""
        return self

    def widened(self, factor: float) -> Amount:
        """``factor`` times as many rows or tokens."""
        return self.of(math.ceil(self.total * factor))


@dataclass(frozen=True)
class Threshold:
    """Every row scoring at least ``min_score``: known before scoring, so each shard can
    write its own selected rows (streamed)."""

    min_score: float
    streamed: ClassVar[bool] = True

    def describe(self) -> str:
        return f"--min-score {self.min_score}"

    def resolved(self, rows: int, tokens: int) -> Threshold:
        return self

    def widened(self, factor: float) -> Threshold:
        return self


Cut = Amount | Threshold  # what a rule comes to


def check_share(flag: str, share: Any, zero: bool = False) -> None:
    """A share of something: in (0, 1], or [0, 1] where ``zero`` may be given."""
    number = isinstance(share, int | float)
    if not (number and (share >= 0 if zero else share > 0) and share <= 1):
        raise ZipfitError(f"{flag}: a share in {'[0' if zero else '(0'}, 1], got {share!r}")


def parse_amounts(text: str, flag: str, key: str, counts: bool) -> dict[str, float | int]:
    """``flag``'s KEY=SHARE,... as {key: share}; with ``counts``, KEY=COUNT too (a whole
    number; a share has a point). The last "=" of an item splits it."""
    found: dict[str, float | int] = {}
    for item in text.split(","):
        name, equals, value = item.strip().rpartition("=")
        try:
            amount = int(value) if counts and "." not in value else float(value)
        except ValueError:
            amount = math.nan
        valid = amount >= 1 if isinstance(amount, int) else 0 < amount <= 1
        if not (equals and name and valid):
            whole = f" or {key}=COUNT (a whole number >= 1)" if counts else ""
            raise ZipfitError(
                f"{flag}: expected {key}=SHARE (0 < SHARE <= 1{', with a point' if counts else ''})"
                f"{whole}, got {item!r}"
            )
        if name in found:
            raise ZipfitError(f"{flag}: {name!r} is given twice")
        found[name] = amount
    return found


def apportion(total: int, shares: dict[str, float]) -> dict[str, int]:
    """``total`` split by ``shares`` in whole parts adding up to the shares' sum of it (all of
    it where they add up to 1): each rounded down, then one more to each of the largest
    remainders (the first named on a tie)."""
    exact = {name: share * total for name, share in shares.items()}
    whole = sum(exact.values())
    whole = round(whole) if abs(whole - round(whole)) < 1e-6 else math.floor(whole)
    parts = {name: math.floor(value + 1e-9) for name, value in exact.items()}
    names = list(shares)
    by_remainder = sorted(names, key=lambda n: (-(exact[n] - parts[n]), names.index(n)))
    for name in by_remainder[: max(0, whole - sum(parts.values()))]:
        parts[name] += 1
    return parts
