"""What one entry trains on: rows in the order their source ranks them, cut to the token
budget by select --budget-tokens' rule (the best rows while their tokens fit, stopping at
the first that does not), and what that holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zipfit_ray.errors import ZipfitError


@dataclass(frozen=True)
class Corpus:
    texts: list[bytes]  # in their source's order, best first
    tokens: int  # counted as select counts them (--tokenizer, or the approximation)
    available_tokens: int  # what the source holds in all
    budget_tokens: int

    @property
    def rows(self) -> int:
        return len(self.texts)

    @property
    def bytes(self) -> int:
        return sum(len(t) for t in self.texts)

    @property
    def short(self) -> bool:
        """The source held less than the budget: all of it is used."""
        return self.available_tokens < self.budget_tokens


def within_budget(tokens: np.ndarray, budget: int, source: str) -> int:
    """How many of the rows, in order, fit in ``budget`` tokens; at least one, or an error
    naming ``source``."""
    if len(tokens) == 0:
        raise ZipfitError(f"{source}: holds no rows with text")
    fitting = int(np.searchsorted(np.cumsum(tokens), budget, side="right"))
    if fitting == 0:
        raise ZipfitError(
            f"--budget-tokens {budget:,}: the first row of {source} alone holds "
            f"{int(tokens[0]):,} tokens"
        )
    return fitting
