"""Where --k or --budget-tokens cuts the total order (score descending, then row id
ascending), found from what adds up across shards: no task and no driver ever holds more
than GATHER_LIMIT entries, whatever K is.

The shards' histograms say which window of the order holds the boundary: the rows above it
are all selected. If that window holds few enough rows, they are gathered and sorted to
settle the exact boundary; if not, it is split into SUB_BINS finer windows and counted
again (a distributed quickselect): first by score, and where every score in it is the same,
by row id. The boundary is an entry: a row is selected when it comes at or before it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Protocol

import numpy as np

from zipfit_ray.selection import histograms, order
from zipfit_ray.selection.amounts import Amount

Where = Callable[[np.ndarray], np.ndarray]  # which entries a cut is over (a picklable filter)
GATHER_LIMIT = 1_000_000  # boundary entries gathered in the driver at most (32 MB)
SUB_BINS = 1000
LAST_ROW = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Boundary:
    """Selected: every row at or before (score, row_id) in the total order by ``key`` (the
    score, or another order: order.OrderKey)."""

    score: float
    row_id: int
    key: order.OrderKey = "score"

    def selects(self, entries: np.ndarray) -> np.ndarray:
        values = order.key_values(entries, self.key)
        return (values > self.score) | ((values == self.score) & (entries["row_id"] <= self.row_id))

    def columns(self, entries: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Selected rows' written score, and the columns written beside it (with the soft
        order, its key). The other selectors: mixture.Mixture names each row's set,
        quotas.QuotaSelection adds nothing."""
        soft = not isinstance(self.key, str)
        return entries["score"], {"key": order.key_values(entries, self.key)} if soft else {}


class Selector(Protocol):
    """What the write step selects by: a Boundary, mixture.Mixture (named target sets) or
    quotas.QuotaSelection (floors and caps per group)."""

    def selects(self, entries: np.ndarray) -> np.ndarray: ...

    def columns(self, entries: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...


EVERYTHING = Boundary(-np.inf, LAST_ROW)
NOTHING = Boundary(np.inf, -1)


def at_least(score: float) -> Boundary:
    """--min-score's boundary, known before any row is scored."""
    return Boundary(score, LAST_ROW)


@dataclass(frozen=True)
class Window:
    """A run of the total order: scores in [low, high]; where low == high (a tie), only the
    rows with ids in [row_low, row_high]."""

    low: float
    high: float
    row_low: int = 0
    row_high: int = LAST_ROW

    def holds(self, entries: np.ndarray) -> np.ndarray:
        score, row = entries["score"], entries["row_id"]
        inside = (score >= self.low) & (score <= self.high)
        return inside & (row >= self.row_low) & (row <= self.row_high) if self.tied else inside

    @property
    def tied(self) -> bool:
        return self.low == self.high

    def before(self) -> Boundary:
        """The boundary that selects everything ahead of this window, nothing of it."""
        return Boundary(self.high, self.row_low - 1) if self.tied else Boundary(self.high, -1)

    def split(self, low: float, high: float, row_low: int, row_high: int) -> list[Window]:
        """SUB_BINS windows covering what this one holds, from its entries' actual extent
        (lowest/highest score; the lowest/highest row id where the scores are tied); best
        last, like histogram bins."""
        if low < high:
            return _windows(np.unique(np.linspace(low, high, SUB_BINS + 1))[:-1], high)
        span = row_high + 1 - row_low  # row ids pass 2**53: integer arithmetic, not floats
        edges = sorted({row_low + span * i // SUB_BINS for i in range(SUB_BINS + 1)})
        # a tie is ordered by row id ascending, so the lowest ids come first (best last)
        return [Window(low, low, a, b - 1) for a, b in pairwise(edges)][::-1]


def fixed_windows() -> list[Window]:
    """The windows of histograms.histogram's bins (its end bins hold the clipped outliers)."""
    return _windows([-np.inf, *histograms.BIN_EDGES[1:-1]], np.inf)


def _windows(lows: Sequence[float], top: float) -> list[Window]:
    """Closed windows from ascending lower edges: each ends just below the next edge, the
    last at ``top``."""
    highs = [np.nextafter(b, -np.inf) for b in lows[1:]] + [top]
    return [Window(float(a), float(b)) for a, b in zip(lows, highs)]


@dataclass
class Counts:
    """What the shards report for a list of windows, added up."""

    rows: np.ndarray  # per window
    tokens: np.ndarray
    scores: np.ndarray  # per window: lowest and highest score (float64)
    row_ids: np.ndarray  # per window: lowest and highest row id (int64)

    def extent(self, i: int) -> tuple[float, float, int, int]:
        return (*map(float, self.scores[i]), *map(int, self.row_ids[i]))


def count(entries: np.ndarray, windows: list[Window]) -> Counts:
    """One shard's entries counted per window (a shard task runs this)."""
    n = len(windows)
    scores = np.tile([np.inf, -np.inf], (n, 1))
    row_ids = np.tile(np.array([LAST_ROW, -1], dtype=np.int64), (n, 1))
    rows, tokens = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for i, window in enumerate(windows):
        inside = entries[window.holds(entries)]
        rows[i], tokens[i] = len(inside), int(inside["tokens"].sum())
        if len(inside):
            scores[i] = inside["score"].min(), inside["score"].max()
            row_ids[i] = inside["row_id"].min(), inside["row_id"].max()
    return Counts(rows, tokens, scores, row_ids)


def add(a: Counts, b: Counts) -> Counts:
    """Two shards' counts as one."""
    scores = np.column_stack(
        [np.minimum(a.scores[:, 0], b.scores[:, 0]), np.maximum(a.scores[:, 1], b.scores[:, 1])]
    )
    row_ids = np.column_stack(
        [np.minimum(a.row_ids[:, 0], b.row_ids[:, 0]), np.maximum(a.row_ids[:, 1], b.row_ids[:, 1])]
    )
    return Counts(a.rows + b.rows, a.tokens + b.tokens, scores, row_ids)


@dataclass(frozen=True)
class CountRequest:
    """A search asks the shards for their rows counted per window."""

    windows: list[Window]


@dataclass(frozen=True)
class GatherRequest:
    """A search asks the shards for their rows inside a window (``rows`` of them)."""

    window: Window
    rows: int


Search = Generator[CountRequest | GatherRequest, "Counts | np.ndarray", Boundary]


def search(rule: Amount, rows: np.ndarray, tokens: np.ndarray) -> Search:
    """The exact boundary of ``rule`` (--k or --budget-tokens), from the score phase's
    histogram (``rows``, ``tokens`` per stats bin), as a generator: it yields what it needs
    of the shards (counts per window, or the entries of one window) and is sent the answer;
    its return value is the boundary. ``find`` drives one, ``find_each`` many at once."""
    windows = fixed_windows()
    above_rows = above_tokens = 0
    while True:
        for i in range(len(windows) - 1, -1, -1):  # best window first
            if rows[i] == 0:
                continue
            if (rule.k is not None and above_rows + rows[i] >= rule.k) or (
                rule.budget_tokens is not None and above_tokens + tokens[i] > rule.budget_tokens
            ):
                break
            above_rows += int(rows[i])
            above_tokens += int(tokens[i])
        else:
            return EVERYTHING  # the whole pool fits the rule
        window = windows[i]
        if rows[i] <= GATHER_LIMIT:
            entries = yield GatherRequest(window, int(rows[i]))
            return _settle(rule, window, order.best_first(entries), above_rows, above_tokens)
        extent = (yield CountRequest([window])).extent(0)
        windows = window.split(*extent)
        counted = yield CountRequest(windows)
        rows, tokens = counted.rows, counted.tokens


def find(
    rule: Amount,
    rows: np.ndarray,
    tokens: np.ndarray,
    count_windows: Callable[[list[Window]], Counts],
    gather: Callable[[Window], np.ndarray],
) -> Boundary:
    """One search (see ``search``); ``count_windows`` and ``gather`` ask the shards."""
    found = find_each(
        {None: search(rule, rows, tokens)},
        lambda asked: {key: count_windows(windows) for key, windows in asked.items()},
        lambda asked: {key: gather(window) for key, window in asked.items()},
    )
    return found[None]


def find_each(
    searches: dict[Hashable, Search],
    count_windows: Callable[[dict[Hashable, list[Window]]], dict[Hashable, Counts]],
    gather: Callable[[dict[Hashable, Window]], dict[Hashable, np.ndarray]],
) -> dict[Hashable, Boundary]:
    """Many searches (one per key: a target item's order, say) in lockstep: each round asks
    the shards once for what every unfinished search needs, so the passes over the shards
    are as many as the longest search's, not their sum; but the windows gathered in one
    round hold at most GATHER_LIMIT rows in all (or one window), the others wait a round."""
    found: dict[Hashable, Boundary] = {}
    asking: dict[Hashable, CountRequest | GatherRequest] = {}

    def step(key: Hashable, answer: Any) -> None:
        try:
            asking[key] = searches[key].send(answer)
        except StopIteration as done:
            found[key] = done.value
            asking.pop(key, None)

    for key in searches:
        step(key, None)
    while asking:
        counts = {k: r.windows for k, r in asking.items() if isinstance(r, CountRequest)}
        gathers, room = {}, GATHER_LIMIT
        for key, request in asking.items():
            if isinstance(request, GatherRequest) and (not gathers or request.rows <= room):
                gathers[key], room = request.window, room - request.rows
        answers = count_windows(counts) if counts else {}
        answers.update(gather(gathers) if gathers else {})
        for key in answers:
            step(key, answers[key])
    return found


def _settle(
    rule: Amount, window: Window, ordered: np.ndarray, above_rows: int, above_tokens: int
) -> Boundary:
    """The boundary inside ``window``, from its entries sorted best first."""
    if rule.k is not None:
        last = ordered[rule.k - above_rows - 1]
    else:
        fitting = np.searchsorted(
            above_tokens + np.cumsum(ordered["tokens"]), rule.budget_tokens, "right"
        )
        if fitting == 0:
            return window.before()
        last = ordered[fitting - 1]
    return Boundary(float(last["score"]), int(last["row_id"]))
