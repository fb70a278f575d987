"""Target items served: which target item each row is nearest to, and the selection of
--per-target (every item's N nearest rows) and of --cover's first share.

Exact scoring has every row's NCD to every target item y_j; it saves the item nearest to
each row (NEAREST: the smallest NCD, the first on a tie), and, where the plan asks for it,
each item's own alignment 1 - NCD(x, y_j) (``item_field(j)``). Item j's order is its own
alignment descending, then row id ascending, as everywhere.

A row selected by items' cuts serves the item where it ranks best: the smallest share of
the pool's rows ahead of it in that item's order, read off the item's histogram (as named
target sets' contested rows are: mixture.rank_shares), among the items that took it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zipfit_ray.selection.cut import NOTHING, Boundary
from zipfit_ray.selection.mixture import best_ranked, rank_table

# saved: the item of smallest NCD; written (zipfit_nearest_target) by --per-target and
# --cover: the item a row serves
NEAREST = "nearest_target"


def item_field(item: int) -> str:
    """The saved field holding each row's alignment to target item ``item``."""
    return f"item_{item}"


def item_fields(names: tuple[str, ...]) -> list[str]:
    """The item fields among a record's field names, in item order."""
    found = [name for name in names if name.startswith("item_")]
    return sorted(found, key=lambda name: int(name.removeprefix("item_")))


def nearest(ncd: np.ndarray) -> np.ndarray:
    """Each row's nearest target item (rows x items NCD)."""
    return np.argmin(ncd, axis=1).astype(np.int32) if ncd.shape[1] else np.zeros(len(ncd), "i4")


@dataclass(frozen=True)
class PerItem:
    """Each item's boundary in its own order (key: its item field) and its pool histogram;
    a row is selected when some item's boundary takes it."""

    boundaries: tuple[Boundary, ...]
    pool_histograms: tuple[np.ndarray, ...]

    def taken(self, entries: np.ndarray) -> np.ndarray:
        """(items, rows): which items' boundaries take each row."""
        found = [b.selects(entries) for b in self.boundaries]
        return np.stack(found).reshape(len(self.boundaries), len(entries))

    def selects(self, entries: np.ndarray) -> np.ndarray:
        return self.taken(entries).any(axis=0)

    def read(self, entries: np.ndarray) -> np.ndarray:
        """The rows whose being there decided the selection: those it takes."""
        return self.selects(entries)

    def served(self, entries: np.ndarray, taken: np.ndarray | None = None) -> np.ndarray:
        """The item each row ranks best in, among the items that take it (all items where
        none does, or where ``taken`` is not given)."""
        scores = [entries[b.key] for b in self.boundaries]
        ranks = rank_table(scores, self.pool_histograms)
        allowed = np.ones_like(ranks, dtype=bool) if taken is None else taken | ~taken.any(axis=0)
        return best_ranked(ranks, allowed).astype(np.int32)

    def columns(self, entries: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return entries["score"], {NEAREST: self.served(entries, self.taken(entries))}


@dataclass(frozen=True)
class Covered:
    """--cover: the items' own cuts (``per_item``), then ``rest``, the cut of the rows they
    left by the mean alignment; ``over``: the items' cuts one round more, which did not fit."""

    per_item: PerItem
    rest: Boundary = NOTHING
    over: PerItem | None = None  # the items' cut one round past the share, if one was tried

    def selects(self, entries: np.ndarray) -> np.ndarray:
        return self.per_item.selects(entries) | self.rest.selects(entries)

    def read(self, entries: np.ndarray) -> np.ndarray:
        """The rows whose being there decided the selection: those it takes, and those of
        the round found too large (--dedup must know their fate: job/per_item.Refill)."""
        over = self.over.selects(entries) if self.over is not None else False
        return self.selects(entries) | over

    def columns(self, entries: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        taken = self.per_item.taken(entries)
        return entries["score"], {NEAREST: self.per_item.served(entries, taken)}


@dataclass(frozen=True)
class NotTaken:
    """The rows no item's cut took (a cut's filter: what --cover's rest is cut over)."""

    per_item: PerItem

    def __call__(self, entries: np.ndarray) -> np.ndarray:
        return ~self.per_item.selects(entries)
