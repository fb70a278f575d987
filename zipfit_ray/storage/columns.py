"""The columns a selection's parts add to the pool's, named here once. A pool column (or a
JSONL field) with any name the plan adds would be overwritten, so planning refuses it
(``check_no_clash``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from zipfit_ray.errors import ZipfitError

PREFIX = "zipfit_"  # a selector's columns (cut.Selector.columns) are named PREFIX + its name
SCORE = "zipfit_score"  # the alignment (a mode whose scores are not ZIP-FIT's names its own)
KEY = PREFIX + "key"  # --temperature: what the selection was ranked by, beside the score
TARGET = PREFIX + "target"  # named target sets: the set a row was selected for
NEAREST_TARGET = PREFIX + "nearest_target"  # --per-target, --cover: the item a row serves
POSITION = "zipfit_position"  # --order score: file index << ROW_BITS | row in file
CONTAMINATED = "zipfit_contaminated"  # zipfit_ray.data: the set a flagged row's item is of


def set_score(name: str) -> str:
    """Named target sets: each row's score for the set ``name``."""
    return f"{PREFIX}score_{name}"


def added(
    score_column: str,
    sets: Sequence[str] = (),
    soft: bool = False,
    ranked: bool = False,
    served: bool = False,
) -> tuple[str, ...]:
    """Every column a job's parts add, in the order they are written: the score, the soft
    key (``soft``), the item each row serves (``served``), each row's set and every set's
    score (``sets``), the pool position (the Parquet parts, for ``ranked``: --order
    score)."""
    found = [score_column, *([KEY] if soft else []), *([NEAREST_TARGET] if served else [])]
    if sets:
        found += [TARGET, *(set_score(name) for name in sets)]
    return (*found, *([POSITION] if ranked else []))


def check_no_clash(names: Iterable[str], adding: Iterable[str], found_in: str) -> None:
    """Refuse columns ``names`` (``found_in`` says whose: "x.parquet has a column") if the
    selection adds one of them."""
    clash = [name for name in adding if name in set(names)]
    if clash:
        raise ZipfitError(
            f"{found_in} {clash[0]!r}, which the selection adds to its output; rename it first"
        )
