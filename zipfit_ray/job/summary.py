"""summary.json, declared: typed parts, built here from what the run found, written as one
flat JSON object (``Summary.to_json``), and read by the report as the same typed parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypedDict

from zipfit_ray import modes
from zipfit_ray.analysis.target_set import Spread
from zipfit_ray.config import SelectConfig
from zipfit_ray.job.notes import Outcome, Selection, excerpt
from zipfit_ray.job.quotas import QuotaFigures
from zipfit_ray.job.target_halves import Agreement
from zipfit_ray.kernel import backends
from zipfit_ray.modes.base import SelfCheck
from zipfit_ray.selection import histograms

BAD_FILES_LISTED = 100  # summary.json names at most this many skipped files
LEAST_SERVED = 10  # target items the summary and the report list as least served


@dataclass
class Counts:
    """What happened to the pool's rows (0 where nothing did), at summary.json's top level."""

    rows_read: int = 0
    rows_skipped_null: int = 0
    rows_truncated: int = 0
    rows_skipped_bad_file: int = 0
    rows_skipped_bad_line: int = 0
    rows_contaminated: int = 0
    rows_excluded_near: int = 0  # --exclude-near
    rows_removed_duplicate: int = 0  # --dedup
    rows_dropped_early: int = 0  # approx-early-exit
    rows_checked: int = 0  # approx-early-exit: dropped rows scored exactly anyway
    rows_contested: int = 0  # named sets: rows more than one set's cut clears

    @property
    def rows_total(self) -> int:
        """Every row the pool holds: those read, and those in files or lines left out."""
        return self.rows_read + self.rows_skipped_bad_file + self.rows_skipped_bad_line


@dataclass
class Work:
    """What the job did, at summary.json's top level."""

    pair_compressions: int = 0
    pair_compressions_check: int = 0  # approx-early-exit's check
    scoring_core_seconds: float = 0.0
    target_set_rounds: int = 0
    dedup_rounds: int = 0
    duplicate_clusters: int = 0  # --dedup: selected rows near-duplicates were removed for


def counted(counters: Mapping[str, float]) -> tuple[Counts, Work]:
    """The counters tasks and steps added up, declared (a name declared nowhere is a bug)."""
    names = [{f.name for f in fields(part)} for part in (Counts, Work)]
    unknown = set(counters) - names[0] - names[1]
    if unknown:
        raise KeyError(f"counters not declared in summary.Counts or Work: {sorted(unknown)}")
    rows, work = ({n: v for n, v in counters.items() if n in declared} for declared in names)
    return Counts(**rows), Work(**work)


class Example(TypedDict):
    """A selected row as the report shows it: its score, pool position and text's start."""

    score: float
    row_id: int
    text: str


class ContaminatedRow(TypedDict):
    """A row the guard flagged, as listed: where it is, its text's start, and the item it
    holds (its set, its position there, the share of its n-grams the row holds)."""

    source: str
    row: int
    row_id: int
    text: str
    matched_set: str
    matched_item: int
    matched_share: float  # of the item's n-grams, held by the row
    matched_row_share: float  # of the row's n-grams, from the item
    matched_rule: str  # which of the guard's two rules flagged it
    matched_excerpt: str


class ExcludedRow(TypedDict):
    """A row --exclude-near dropped: where it is, and the corpus row it is near."""

    row_id: int
    source: str
    row: int
    near: str
    near_row: int


@dataclass
class Examples:
    """The best rows selected and the last (best first)."""

    best: list[Example]
    last: list[Example]


@dataclass
class GroupCounts:
    """Rows per --group-column value: in the pool (scored) and selected."""

    pool: dict[str, int]
    selected: dict[str, int]


@dataclass
class Histograms:
    """Rows per score bin (``bins``: low, high, count) and per length bin, pool and
    selection."""

    bins: list[float]
    pool: list[int]
    selected: list[int]
    length_edges: list[int]
    pool_lengths: list[int]
    selected_lengths: list[int]


@dataclass
class Section:
    """What one target set or one --group-column value took."""

    rows: int
    tokens: int
    histogram: list[int]
    length_histogram: list[int]
    score_quantiles: dict[str, float]


@dataclass
class Selected:
    """What was selected: rows, tokens, the parts, the score quantiles, the best and last
    rows, histograms, rows per group (pool and selected), and per target set and group."""

    rows_selected: int
    tokens_selected: int
    parts: list[str]
    selected_score_quantiles: dict[str, float]
    examples: Examples
    histograms: Histograms
    groups: GroupCounts | None
    sections: dict[str, dict[str, Section]]  # "target set", "group": per label


@dataclass
class SetFigures:
    """A named target set: its pool histogram of its own score, and the rows it took."""

    pool_histogram: list[int]
    rows_selected: int


@dataclass
class Pool:
    """What the driver knows of the pool and its inputs."""

    files: int
    rows_total: int
    targets: int | None = None  # select: the target texts
    scores: str | None = None  # reselect: where the scores were saved
    target_spread: Spread | None = None
    files_skipped: int = 0
    bad_files: list[str] = field(default_factory=list)


class ServedItem(TypedDict):
    """A target item, the selected rows that serve it, and its text's start."""

    item: int
    rows: int
    text: str


@dataclass
class Coverage:
    """Which target items the selection serves: per item, the selected rows nearest to it
    (with --per-target or --cover: the rows its own cut took, each to the item it ranks
    best in), how many items have any, and the least served."""

    items: int
    items_served: int
    rows_per_item: list[int]
    least_served: list[ServedItem]


@dataclass
class Findings:
    """What the cut, the guard and the checks found besides the selection."""

    target_sets: dict[str, SetFigures] | None
    group_quotas: QuotaFigures | None
    early_exit_check: SelfCheck | None
    target_halves: Agreement | None
    rows_contaminated_by_set: dict[str, int]
    contaminated_examples: list[ContaminatedRow]
    excluded_examples: list[ExcludedRow]  # --exclude-near: the first rows dropped
    coverage: Coverage | None  # one target set, exact mode


@dataclass
class Run:
    """How the job ran: shards, the rule and mode, the flags (storage option values left
    out), the compressor and its library versions, seconds per phase."""

    shards_total: int
    shards_resumed: int
    rule: str
    mode: str
    score_column: str
    arguments: dict[str, Any]
    compressor: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Summary:
    counts: Counts
    work: Work
    run: Run
    selected: Selected
    pool: Pool
    findings: Findings

    def to_json(self) -> dict[str, Any]:
        """summary.json: every part's fields at its top level."""
        found: dict[str, Any] = {}
        parts = (self.counts, self.work, self.run, self.selected, self.findings, self.pool)
        for part in parts:
            found.update(asdict(part))
        return found


def build(
    config: SelectConfig,
    score_column: str,
    outcome: Outcome,
    pool: Pool,
    counts: tuple[Counts, Work],
    target_texts: Sequence[bytes] = (),
) -> Summary:
    """The summary (but the seconds per phase, added once the report is written).
    ``target_texts``: to quote the least-served items (reselect does not read them)."""
    tally, selection = outcome.tally, outcome.selection
    scoring = config.scoring
    run = Run(
        outcome.shards_total,
        tally.shards_resumed,
        config.selecting.rule.describe(),
        scoring.mode,
        score_column,
        config.public_dict(),
        backends.describe(scoring.compressor, scoring.level, scoring.joint),
    )
    findings = Findings(
        {
            name: SetFigures(histogram, _rows_for(selection, name))
            for name, histogram in outcome.target_sets.items()
        }
        or None,
        outcome.group_quotas,
        outcome.early_exit_check,
        outcome.target_halves,
        dict(tally.contaminated_by_set),
        tally.contaminated_examples,
        outcome.excluded,
        _coverage(selection, pool.targets, target_texts) if _has_coverage(config) else None,
    )
    return Summary(*counts, run, _selected(config, outcome), pool, findings)


def _has_coverage(config: SelectConfig) -> bool:
    """Exact mode with one target set saves each row's nearest item (exact.saved_columns)."""
    return modes.get(config.scoring.mode).exact and config.scoring.target_sets is None


def _coverage(selection: Selection, items: int | None, texts: Sequence[bytes]) -> Coverage:
    per_item = [selection.coverage.get(str(item), 0) for item in range(items or 0)]
    least = sorted(range(len(per_item)), key=lambda item: (per_item[item], item))
    listed = [
        ServedItem(item=i, rows=per_item[i], text=excerpt(texts[i]) if i < len(texts) else "")
        for i in least[:LEAST_SERVED]
    ]
    return Coverage(len(per_item), sum(n > 0 for n in per_item), per_item, listed)


def _selected(config: SelectConfig, outcome: Outcome) -> Selected:
    tally, selection = outcome.tally, outcome.selection
    bins = histograms.BIN_EDGES
    figures = Histograms(
        [float(bins[0]), float(bins[-1]), len(bins) - 1],
        tally.histogram.tolist(),
        selection.histogram.tolist(),
        histograms.LENGTH_EDGES.tolist(),
        tally.length_histogram.tolist(),
        selection.length_histogram.tolist(),
    )
    groups = None
    if config.groups.group_column:
        groups = GroupCounts(dict(tally.groups), dict(selection.groups))
    sections = {
        kind: {label: _section(found) for label, found in labelled.items()}
        for kind, labelled in selection.sections.items()
    }
    return Selected(
        selection.rows,
        selection.tokens,
        sorted(selection.parts),
        selection.quantiles(),
        Examples(selection.best, selection.last),
        figures,
        groups,
        sections,
    )


def _section(figures: dict[str, Any]) -> Section:
    quantiles = histograms.histogram_quantiles(figures["histogram"])
    return Section(**figures, score_quantiles=quantiles)


def _rows_for(selection: Selection, name: str) -> int:
    return selection.sections.get("target set", {}).get(name, {}).get("rows", 0)


def bad_files(planned: tuple[str, ...], scored: list[str]) -> tuple[int, list[str]]:
    """The files left out (unreadable when planned or scored): how many, and the first
    BAD_FILES_LISTED."""
    found = list(dict.fromkeys([*planned, *scored]))
    return len(found), found[:BAD_FILES_LISTED]
