"""What tasks tell the driver, typed: the notes of a scored shard and of a written part
(small: counts, histograms, a few example rows; never rows), and their running totals
(summary.json is built from them in job/summary.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from zipfit_ray.selection import histograms
from zipfit_ray.selection.order import best_first_examples

if TYPE_CHECKING:
    from zipfit_ray.job.quotas import QuotaFigures
    from zipfit_ray.job.target_halves import Agreement
    from zipfit_ray.modes.base import SelfCheck

EXAMPLES = 5  # best and last selected rows kept for the report
CONTAMINATED_LISTED = 20  # contaminated rows summary.json and the report name
EXAMPLE_CHARS = 600  # of each, as text


@dataclass
class PartNotes:
    """A written part of the selection: its name (None: nothing selected, nothing written),
    rows, tokens, groups, histograms, its best and last rows (best first), and the same
    figures per target set and per group (``sections``, see section_stats)."""

    part: str | None = None
    rows: int = 0
    tokens: int = 0
    groups: dict[str, int] = field(default_factory=dict)
    histogram: list[int] = field(default_factory=list)
    length_histogram: list[int] = field(default_factory=list)
    best: list[dict[str, Any]] = field(default_factory=list)
    last: list[dict[str, Any]] = field(default_factory=list)
    sections: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    coverage: dict[str, int] = field(default_factory=dict)  # rows per target item served


SECTION_FIGURES = ("rows", "tokens", "histogram", "length_histogram")


def section_stats(
    labels: Sequence[str], scores: np.ndarray, lengths: np.ndarray, tokens: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Selected rows' figures per label (a target set, a group): rows, tokens, histograms of
    scores and lengths; they add up across parts (add_sections)."""
    labels = np.asarray(labels, dtype=object)
    found = {}
    for label in sorted(set(labels.tolist())):
        mine = labels == label
        found[label] = {
            "rows": int(mine.sum()),
            "tokens": int(tokens[mine].sum()),
            "histogram": histograms.histogram(scores[mine]).tolist(),
            "length_histogram": histograms.length_histogram(lengths[mine]).tolist(),
        }
    return found


def add_sections(total: dict[str, dict[str, dict]], more: dict[str, dict[str, dict]]) -> None:
    """Add a part's sections into ``total`` (lists of counts added elementwise)."""
    for kind, labelled in more.items():
        into = total.setdefault(kind, {})
        for label, figures in labelled.items():
            if label not in into:
                into[label] = {name: figures[name] for name in SECTION_FIGURES}
                continue
            for name in SECTION_FIGURES:
                into[label][name] = (np.asarray(into[label][name]) + figures[name]).tolist()


@dataclass
class ShardNotes:
    """A scored shard (also what its checkpoint holds): counts, the files it could not
    read, rows per --group-column value, histograms of its scores, tokens and lengths, the
    part it wrote itself (--min-score), and the JSONL fields it saw, with their kinds."""

    ARRAYS: ClassVar[tuple[str, ...]] = ("histogram", "token_histogram", "length_histogram")

    counts: dict[str, float]
    bad_files: list[str]
    groups: dict[str, int]
    histogram: np.ndarray
    token_histogram: np.ndarray
    length_histogram: np.ndarray
    selected: PartNotes | None = None
    jsonl_kinds: dict[str, list[str]] = field(default_factory=dict)
    contaminated_by_set: dict[str, int] = field(default_factory=dict)  # rows flagged, per set
    contaminated_examples: list[dict[str, Any]] = field(default_factory=list)  # the first few
    resumed: bool = False  # loaded from its checkpoint, not scored in this run

    def __post_init__(self) -> None:
        if isinstance(self.selected, dict):  # as a checkpoint's JSON holds it
            self.selected = PartNotes(**self.selected)


@dataclass
class Selection:
    """The written parts' notes, added up."""

    parts: list[str] = field(default_factory=list)
    rows: int = 0
    tokens: int = 0
    histogram: np.ndarray = field(default_factory=lambda: histograms.histogram(np.empty(0)))
    length_histogram: np.ndarray = field(default_factory=lambda: histograms.length_histogram([]))
    groups: Counter = field(default_factory=Counter)
    best: list[dict[str, Any]] = field(default_factory=list)  # the best rows, best first
    last: list[dict[str, Any]] = field(default_factory=list)  # the last rows selected
    sections: dict[str, dict[str, dict]] = field(default_factory=dict)  # see section_stats
    coverage: Counter = field(default_factory=Counter)  # rows per target item served

    def add(self, written: PartNotes) -> None:
        if written.part is None:
            return
        add_sections(self.sections, written.sections)
        self.parts.append(written.part)
        self.rows += written.rows
        self.tokens += written.tokens
        self.histogram += np.asarray(written.histogram)
        self.length_histogram += np.asarray(written.length_histogram)
        self.groups.update(written.groups)
        self.coverage.update(written.coverage)
        self.best = best_first_examples(self.best + written.best)[:EXAMPLES]
        self.last = best_first_examples(self.last + written.last)[-EXAMPLES:]

    def quantiles(self) -> dict[str, float]:
        """Read off the histogram, but the lowest and highest exactly."""
        if not self.rows:
            return {}
        found = histograms.histogram_quantiles(self.histogram)
        return {**found, "q0": self.last[-1]["score"], "q1": self.best[0]["score"]}


@dataclass
class Tally:
    """The shards' notes, added up as they come in."""

    counts: Counter = field(default_factory=Counter)
    shards_resumed: int = 0
    bad_files: list[str] = field(default_factory=list)
    groups: Counter = field(default_factory=Counter)
    histogram: np.ndarray = field(default_factory=lambda: histograms.histogram(np.empty(0)))
    token_histogram: np.ndarray = field(default_factory=lambda: histograms.histogram(np.empty(0)))
    length_histogram: np.ndarray = field(default_factory=lambda: histograms.length_histogram([]))
    selection: Selection = field(default_factory=Selection)  # --min-score: written by shards
    jsonl_kinds: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # per shard
    contaminated_by_set: Counter = field(default_factory=Counter)
    contaminated_examples: list[dict[str, Any]] = field(default_factory=list)  # first by row

    def add(self, shard: str, notes: ShardNotes) -> None:
        self.counts.update(notes.counts)
        self.shards_resumed += notes.resumed
        self.bad_files += notes.bad_files
        self.groups.update(notes.groups)
        self.histogram += notes.histogram
        self.token_histogram += notes.token_histogram
        self.length_histogram += notes.length_histogram
        self.jsonl_kinds[shard] = notes.jsonl_kinds
        self.contaminated_by_set.update(notes.contaminated_by_set)
        found = self.contaminated_examples + notes.contaminated_examples
        self.contaminated_examples = sorted(found, key=lambda e: e["row_id"])[:CONTAMINATED_LISTED]
        if notes.selected is not None:
            self.selection.add(notes.selected)


@dataclass
class Outcome:
    """What a selection run found, for its summary."""

    tally: Tally
    selection: Selection
    shards_total: int
    early_exit_check: SelfCheck | None
    target_halves: Agreement | None = None  # job/target_halves.py
    target_sets: dict[str, list[int]] = field(default_factory=dict)  # per set: pool histogram
    group_quotas: QuotaFigures | None = None  # job/quotas.py: floors, caps, shortfalls
    excluded: list[dict[str, Any]] = field(default_factory=list)  # --exclude-near's first


def excerpt(value: str | bytes | None) -> str:
    """The start of a text, as the report shows it."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    value = value or ""
    return value if len(value) <= EXAMPLE_CHARS else value[:EXAMPLE_CHARS] + " […]"
