"""Several named target sets selected from in one pass, each row for at most one of them.

Each set has its own order (its score descending, then row id) and its own rule: its share
of the job's rule with --mix (shares of --k, or of a token budget), else the whole rule.
The assignment rule: a row that two sets would both take goes to the set where it ranks
higher in the pool (the smaller share of the pool's rows ahead of it in that set's order;
on a tie, the set named first), and the other set takes its next best instead.

That is the stable assignment sets reach by proposing down their orders (deferred
acceptance). It is found with cutoffs: every set starts at the boundary its rule gives over
all rows; then, in turn, each set's boundary is cut again over only the rows it can still
keep (those no set they prefer takes), until no boundary moves. Boundaries only ever move
down, so this ends, and where it ends does not depend on the order the sets were cut in.

A row's rank share in a set is read off that set's pool histogram (histograms.BIN_EDGES:
the rows in higher bins, plus the bin's own rows in proportion to how far below the bin's
top the score lies), so every task computes it alike from a few thousand numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from zipfit_ray.errors import ZipfitError
from zipfit_ray.selection import histograms
from zipfit_ray.selection.amounts import Amount, Cut, Threshold, apportion
from zipfit_ray.selection.cut import Boundary

SHARE_TOLERANCE = 1e-6  # --mix shares must add up to 1 within this


def score_field(name: str) -> str:
    """The saved field holding each row's score for the set ``name``."""
    return f"score_{name}"


def check_shares(shares: dict[str, float], names: Sequence[str]) -> None:
    """--mix names exactly the target sets, with shares that add up to 1."""
    if not names:
        raise ZipfitError("--mix: shares of named target sets; give them as --targets NAME=URI")
    unknown = [n for n in shares if n not in names]
    if unknown:
        raise ZipfitError(
            f"--mix: no target set named {unknown[0]!r} (--targets {unknown[0]}=URI; the sets: "
            f"{', '.join(names)})"
        )
    missing = [n for n in names if n not in shares]
    if missing:
        raise ZipfitError(f"--mix: give a share for every target set (missing: {missing[0]})")
    if abs(sum(shares.values()) - 1) > SHARE_TOLERANCE:
        raise ZipfitError(f"--mix: the shares add up to {sum(shares.values()):g}, not 1")


def set_rules(rule: Cut, names: Sequence[str], shares: dict[str, float] | None) -> list[Cut]:
    """Each set's rule: what the job's rule comes to (a count, a budget or a threshold)
    split by ``shares`` in whole parts that add up to the whole (amounts.apportion); without
    shares, every set takes the whole rule."""
    if shares is None or isinstance(rule, Threshold):
        return [rule] * len(names)
    total = rule.total
    parts = apportion(total, {name: shares[name] for name in names})
    empty = [name for name in names if parts[name] == 0]
    if empty:
        raise ZipfitError(
            f"--mix: {empty[0]}'s share of {Amount.FLAGS[rule.unit]} {total:,} comes to "
            "nothing; give it a larger share or the rule a larger total"
        )
    return [rule.of(parts[name]) for name in names]


def rank_shares(scores: np.ndarray, pool_histogram: np.ndarray) -> np.ndarray:
    """The share of the pool's rows ahead of each score in a set's order, read off the set's
    histogram of rows per bin (lower is better)."""
    edges = histograms.BIN_EDGES
    clipped = np.clip(scores, edges[0], edges[-1])
    bins = np.clip(np.searchsorted(edges, clipped, side="right") - 1, 0, len(edges) - 2)
    counts = np.asarray(pool_histogram, dtype=np.float64)
    above = np.concatenate([np.cumsum(counts[::-1])[::-1][1:], [0.0]])
    within = counts[bins] * (edges[bins + 1] - clipped) / (edges[bins + 1] - edges[bins])
    return (above[bins] + within) / max(counts.sum(), 1.0)


def rank_table(scores: Sequence[np.ndarray], pool_histograms: Sequence[np.ndarray]) -> np.ndarray:
    """(orders, rows): each row's rank share in each order (its scores in that order, and
    that order's pool histogram)."""
    rows = len(scores[0]) if len(scores) else 0
    found = [rank_shares(s, h) for s, h in zip(scores, pool_histograms)]
    return np.stack(found).reshape(len(found), rows)


def best_ranked(ranks: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Per row, the order it ranks best in among the ``allowed`` ones (the first on a tie)."""
    return np.argmin(np.where(allowed, ranks, np.inf), axis=0)


@dataclass(frozen=True)
class Mixture:
    """The selection of several sets: ``boundaries[s]`` cuts set s's order (its key is the
    set's score field); a row goes to the set it prefers of those whose boundary it clears."""

    names: tuple[str, ...]
    boundaries: tuple[Boundary, ...]
    pool_histograms: tuple[np.ndarray, ...]  # rows per bin of each set's score, every row

    def ranks(self, entries: np.ndarray) -> np.ndarray:
        """(sets, rows): each row's rank share in each set."""
        return rank_table([entries[score_field(n)] for n in self.names], self.pool_histograms)

    def cleared(self, entries: np.ndarray) -> np.ndarray:
        """(sets, rows): whether each set's boundary takes each row."""
        if len(entries) == 0:
            return np.zeros((len(self.names), 0), dtype=bool)
        found = [b.selects(entries) for b in self.boundaries]
        return np.stack(found).reshape(len(self.names), len(entries))

    def contested(self, entries: np.ndarray) -> np.ndarray:
        """The rows more than one set would take."""
        return self.cleared(entries).sum(axis=0) > 1

    def assign(self, entries: np.ndarray, always: int | None = None) -> np.ndarray:
        """The index of the set each row is selected for: the best ranked of those whose
        boundary it clears (and set ``always``, as if it did), the first on ties; -1 where
        none."""
        if len(entries) == 0:
            return np.zeros(0, dtype=np.int64)
        ranks, cleared = self.ranks(entries), self.cleared(entries)
        if always is not None:
            cleared[always] = True
        return np.where(cleared.any(axis=0), best_ranked(ranks, cleared), -1)

    def selects(self, entries: np.ndarray) -> np.ndarray:
        return self.assign(entries) >= 0

    def columns(self, entries: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Selected rows' written score (the score for their set) and added columns: the
        set, and the score for every set."""
        chosen = self.assign(entries)
        scores = np.stack([entries[score_field(n)] for n in self.names])
        written = scores[chosen, np.arange(len(entries))]
        named = np.array(self.names, dtype=object)[chosen]
        every = {score_field(n): s for n, s in zip(self.names, scores)}
        return written, {"target": named, **every}


@dataclass(frozen=True)
class Keepable:
    """The rows set ``index`` can still keep: no set a row prefers takes it."""

    mixture: Mixture
    index: int

    def __call__(self, entries: np.ndarray) -> np.ndarray:
        return self.mixture.assign(entries, always=self.index) == self.index


def settle(
    names: Sequence[str],
    pool_histograms: Sequence[np.ndarray],
    cut_set: Callable[[int, Keepable | None], Boundary],
    on_round: Callable[[int, list[str]], None] = lambda rounds, moved: None,
) -> tuple[Mixture, int]:
    """The mixture's boundaries, and the rounds of cuts it took. ``cut_set(s, keepable)``
    cuts set s's order by its rule over the rows ``keepable`` lets through (all rows where
    None); ``on_round(rounds, moved)`` hears of each round, and which sets' boundaries it
    moved."""
    boundaries = [cut_set(s, None) for s in range(len(names))]
    rounds, moved = 1, list(names[1:])  # one set alone: nothing to settle
    while moved:
        moved = []
        for s in range(len(names)):
            mixture = Mixture(tuple(names), tuple(boundaries), tuple(pool_histograms))
            found = cut_set(s, Keepable(mixture, s))
            if found != boundaries[s]:
                moved.append(names[s])
            boundaries[s] = found
        rounds += 1
        on_round(rounds, moved)
    return Mixture(tuple(names), tuple(boundaries), tuple(pool_histograms)), rounds
