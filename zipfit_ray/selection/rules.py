"""Selection rules: which scored rows a job keeps. Exactly one per job.

--min-score is a boundary known before scoring; --k and --budget-tokens cut the total order
at a place found after it (cut.py); --fraction and --budget-fraction become one of those
once the rows scored (and their tokens) are counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from zipfit_ray.errors import ZipfitError, require_positive_int


@dataclass(frozen=True)
class SelectionRule:
    k: int | None = None  # the k best rows
    budget_tokens: int | None = None  # the best rows, in order, while their tokens fit
    min_score: float | None = None  # every row scoring at least this
    fraction: float | None = None  # the best share of the rows scored
    budget_fraction: float | None = None  # the best rows, in order, within a share of tokens

    FLAGS: ClassVar[dict[str, str]] = {
        "k": "--k",
        "budget_tokens": "--budget-tokens",
        "min_score": "--min-score",
        "fraction": "--fraction",
        "budget_fraction": "--budget-fraction",
    }

    def __post_init__(self) -> None:
        given = [f for f in self.FLAGS if getattr(self, f) is not None]
        if len(given) != 1:
            raise ZipfitError(
                f"give exactly one selection rule: {', '.join(self.FLAGS.values())}"
                + (f" (got {', '.join(self.FLAGS[f] for f in given)})" if given else "")
            )
        if self.kind in ("k", "budget_tokens"):
            require_positive_int(self.FLAGS[self.kind], getattr(self, self.kind))
        if self.min_score is not None and not (
            isinstance(self.min_score, int | float) and math.isfinite(self.min_score)
        ):
            raise ZipfitError(f"--min-score: must be a number, got {self.min_score!r}")
        if self.kind in ("fraction", "budget_fraction"):
            share = getattr(self, self.kind)
            if not (isinstance(share, int | float) and 0 < share <= 1):
                raise ZipfitError(f"{self.FLAGS[self.kind]}: a share in (0, 1], got {share!r}")

    @property
    def kind(self) -> str:
        """Which rule this is: "k", "budget_tokens" or "min_score"."""
        return next(f for f in self.FLAGS if getattr(self, f) is not None)

    @property
    def streamed(self) -> bool:
        """A threshold needs no global ranking: each shard writes its rows out directly."""
        return self.min_score is not None

    def describe(self) -> str:
        return f"{self.FLAGS[self.kind]} {getattr(self, self.kind)}"

    def resolved(self, rows: int, tokens: int) -> SelectionRule:
        """A share as the count it comes to, of ``rows`` scored rows holding ``tokens``
        tokens (rounded down; at least one row or token); any other rule as it is."""
        if self.fraction is not None:
            return SelectionRule(k=max(1, math.floor(self.fraction * rows)))
        if self.budget_fraction is not None:
            return SelectionRule(budget_tokens=max(1, math.floor(self.budget_fraction * tokens)))
        return self

    def widened(self, factor: float) -> SelectionRule:
        """The same kind of rule, taking ``factor`` times as many rows or tokens (a score
        threshold is left as it is)."""
        if self.kind == "min_score":
            return self
        return SelectionRule(**{self.kind: math.ceil(getattr(self, self.kind) * factor)})


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
