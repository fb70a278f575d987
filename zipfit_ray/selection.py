"""Selection rules: which scored rows a job keeps. Exactly one per job.

Each rule's `keep` can be applied to any piece of the pool and again to the union of the
kept pieces, giving what it gives on the whole pool; that is what lets shards reduce their
rows locally and a tree of merges finish the job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from zipfit_ray import topk
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

    def keep(self, items: np.ndarray) -> np.ndarray:
        """The rows of ``items`` this rule selects, best first."""
        if self.k is not None:
            return topk.top_k(items, self.k)
        if self.budget_tokens is not None:
            # the rows that fit, and the first that does not: where the selection stops
            # depends on it, so a piece must pass it on to the merge (finish drops it)
            ordered = topk.best_first(items)
            return ordered[: self._fitting(ordered) + 1]
        return topk.best_first(items[items["score"] >= self.min_score])

    def merge(self, parts: Iterable[np.ndarray]) -> np.ndarray:
        return self.keep(topk.concatenate(parts))

    def finish(self, kept: np.ndarray) -> np.ndarray:
        """The selection, from what keep or merge kept of the whole pool."""
        return kept[: self._fitting(kept)] if self.budget_tokens is not None else kept

    def _fitting(self, ordered: np.ndarray) -> int:
        return int(np.searchsorted(np.cumsum(ordered["tokens"]), self.budget_tokens, "right"))
