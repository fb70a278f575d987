"""Selection rules: which scored rows a job keeps. Exactly one per job.

--min-score is a boundary known before scoring; --k and --budget-tokens cut the total order
at a place found after it (cut.py).
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

    FLAGS: ClassVar[dict[str, str]] = {
        "k": "--k",
        "budget_tokens": "--budget-tokens",
        "min_score": "--min-score",
    }

    def __post_init__(self) -> None:
        given = [f for f in self.FLAGS if getattr(self, f) is not None]
        if len(given) != 1:
            raise ZipfitError(
                "give exactly one selection rule: --k, --budget-tokens or --min-score"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.kind in ("k", "budget_tokens"):
            require_positive_int(self.FLAGS[self.kind], getattr(self, self.kind))
        if self.min_score is not None and not (
            isinstance(self.min_score, int | float) and math.isfinite(self.min_score)
        ):
            raise ZipfitError(f"--min-score: must be a number, got {self.min_score!r}")

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

    def widened(self, factor: float) -> SelectionRule:
        """The same kind of rule, taking ``factor`` times as many rows or tokens (a score
        threshold is left as it is)."""
        if self.kind == "min_score":
            return self
        return SelectionRule(**{self.kind: math.ceil(getattr(self, self.kind) * factor)})
