"""The interface every mode plugs into: one subclass of Mode per module, registered in
``modes/__init__.py``.

A mode says how a shard's rows are scored (``scorer``), how much the first cut takes
(``first_pass``), what happens between that cut and the writing
(``after_cut``), and what it reports of itself (``self_check``). Exact ZIP-FIT is the base
behaviour; an approximation overrides what it does differently. The hooks run in the
driver or in a scoring task, as each says; what needs the cluster goes through the small
``Cluster`` interface the Ray layer hands them, so no mode imports Ray.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

import numpy as np

from zipfit_ray.analysis.cost import Interval
from zipfit_ray.kernel.alignment import PreparedTargets
from zipfit_ray.selection.amounts import Amount
from zipfit_ray.selection.cut import Boundary, Where
from zipfit_ray.selection.order import OrderKey
from zipfit_ray.settings import Settings
from zipfit_ray.storage import columns

if TYPE_CHECKING:
    from zipfit_ray.config import SelectConfig

BATCH_ROWS = 1024  # rows per scorer call


class Scored(NamedTuple):
    """What a scorer says of a batch of rows."""

    scores: np.ndarray  # float64, NaN where the row was dropped unscored
    counts: Counter  # pair_compressions, ..., added to the job's
    columns: dict[str, np.ndarray] | None = None  # Mode.saved_columns' values, per row


Scorer = Callable[[Sequence[bytes], np.ndarray], Scored]  # (texts, their row ids) -> Scored


class Handle(Protocol):
    """An object the driver and every task share (on Ray, an actor)."""

    def call(self, method: str, *args: Any) -> Any: ...

    def send(self, method: str, *args: Any) -> None: ...


class Cluster(Protocol):
    """What the Ray layer offers a mode's driver-side steps."""

    def map(
        self, function: Callable[..., Any], items: Iterable[Any], *common: Any
    ) -> Iterator[tuple[Any, Any]]:
        """(item, function(item, *common)) for every item, run as tasks, in the order they
        finish (add them up as they come: one per shard would not fit the driver)."""

    def map_in_order(
        self, function: Callable[..., Any], items: Sequence[Any], *common: Any
    ) -> list:
        """[function(item, *common) for item in items], run as tasks: for a few results
        whose order matters (a float sum's last bits do)."""

    def shared(self, cls: type, *args: Any) -> Handle:
        """cls(*args), reachable from every task."""

    def cut(
        self,
        rule: Amount,
        rows: np.ndarray,
        tokens: np.ndarray,
        saved: list[str],
        key: OrderKey = "score",
        where: Where | None = None,
    ) -> Boundary:
        """Where ``rule`` cuts the scores saved at ``saved`` (those ``where`` lets through)
        ordered by ``key`` (a field of theirs, or order.SoftKey), whose histogram of rows
        (and of tokens) per histograms bin is given; the boundary orders by ``key`` too."""


@dataclass(frozen=True)
class SelfCheck:
    """What an approximate mode measured of its own agreement with exact selection: of the
    rows it dropped, a share was scored exactly anyway; how many of those the final cut
    selects, and the number of rows missed that this implies (summary.json's
    early_exit_check)."""

    rows_dropped: int
    rows_checked: int
    checked_rows_that_would_be_selected: int
    estimated_rows_missed: float | None


@dataclass(frozen=True)
class ModeSettings(Settings):
    """A mode's own flags, named as their dests, checked when built (exact has none)."""


class Mode:
    """Exact ZIP-FIT's way of doing each step; a subclass overrides what its mode changes."""

    name: ClassVar[str]
    Settings: ClassVar[type[ModeSettings]] = ModeSettings  # its own flags
    exact: ClassVar[bool] = False  # every score it writes is ZIP-FIT's, for every row
    score_column: ClassVar[str] = columns.SCORE  # what its scores are called in the output
    rules: ClassVar[tuple[str, ...] | None] = ("k",)  # what it selects with; None: any rule
    batch_rows: ClassVar[int] = BATCH_ROWS
    after_cut_phase: ClassVar[str | None] = None  # the name its after_cut is timed under

    @classmethod
    def selects_with(cls, rule: str) -> bool:
        """Whether the rule named ``rule`` (rules.RULES) can select this mode's scores."""
        return cls.rules is None or rule in cls.rules

    def __init__(self, config: SelectConfig) -> None:
        self.config = config
        self.settings = config.scoring.mode_settings[self.name]

    def start(self, cluster: Cluster) -> None:
        """Driver, before any shard is scored."""

    @classmethod
    def saved_columns(cls, config: SelectConfig, targets: PreparedTargets) -> list[tuple[str, str]]:
        """The per-row values its scorer returns beside each score, saved with it
        (``Scored.columns``): (field, numpy dtype) pairs."""
        return []

    def scorer(self, targets: PreparedTargets, shard: str) -> Scorer:
        """Scoring task: how the rows of ``shard`` are scored."""
        raise NotImplementedError

    def finish_shard(self, scorer: Scorer, shard: str) -> None:
        """Scoring task, once every row of ``shard`` went through ``scorer``."""

    def shard_finished(self, shard: str) -> None:
        """Driver, as each shard's task returns."""

    def first_pass(self, amount: Amount) -> Amount:
        """What the first cut of the scored rows takes, for a rule that comes to ``amount``."""
        return amount

    def after_cut(
        self,
        cluster: Cluster,
        amount: Amount,
        saved: list[str],
        shards: list[str],
        boundary: Boundary,
        shared: Any,
    ) -> tuple[list[str], Boundary, Counter]:
        """Driver, between the first cut and the writing: where the scores to select from
        are saved, the final boundary (of the rule's ``amount``), and the work it added
        (counts). ``shared`` is what every task was handed."""
        return saved, boundary, Counter()

    def self_check(
        self, cluster: Cluster, shards: list[str], boundary: Boundary, counts: Counter
    ) -> SelfCheck | None:
        """Driver, after the cut: what this run measured of its own agreement with exact
        selection, or None."""
        return None

    def estimate(
        self,
        cluster: Cluster,
        chunks: list[list[bytes]],
        targets: PreparedTargets,
        threshold: float,
        pool_rows: int,
    ) -> tuple[Interval, float]:
        """estimate: (pair compressions per row, seconds per row of any other work), from a
        sample's texts in ``chunks`` and the threshold predicted for the rule."""
        m = len(targets.texts)
        return Interval(m, m, m), 0.0
