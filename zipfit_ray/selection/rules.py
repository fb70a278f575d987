"""Selection rules: which scored rows a job keeps. Exactly one per job.

--min-score is a boundary known before scoring; --k and --budget-tokens cut the total order
at a place found after it (cut.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from zipfit_ray.errors import ZipfitError


@dataclass(frozen=True)
class SelectionRule:
    k: int | None = None  # the k best rows
    budget_tokens: int | None = None  # the best rows, in order, while their tokens fit
    min_score: float | None = None  # every row scoring at least this

    def __post_init__(self) -> None:
        given = [f for f in ("k", "budget_tokens", "min_score") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ZipfitError(
                "give exactly one selection rule: --k, --budget-tokens or --min-score"
                + (f" (got {', '.join(given)})" if given else "")
            )
        for flag, value in (("--k", self.k), ("--budget-tokens", self.budget_tokens)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ZipfitError(f"{flag}: must be a positive integer, got {value!r}")
        if self.min_score is not None and not (
            isinstance(self.min_score, int | float) and math.isfinite(self.min_score)
        ):
            raise ZipfitError(f"--min-score: must be a number, got {self.min_score!r}")

    @property
    def streamed(self) -> bool:
        """A threshold needs no global ranking: each shard writes its rows out directly."""
        return self.min_score is not None

    def describe(self) -> str:
        if self.k is not None:
            return f"--k {self.k}"
        if self.budget_tokens is not None:
            return f"--budget-tokens {self.budget_tokens}"
        return f"--min-score {self.min_score}"
