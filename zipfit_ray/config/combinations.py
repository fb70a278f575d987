"""Which features of a selection combine: every refusal in one place, checked once when a
plan is built (a part checks only its own values).

- REFUSED: pairs of features that do not go together, each with what the first does that
  the second cannot go with;
- EXACT_ONLY: features only exact scoring supports (an approximation scores only some rows,
  or not by ZIP-FIT's formula);
- a mode selects only with the rules it names (``Mode.rules``);
- --mix names exactly the named target sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zipfit_ray import modes
from zipfit_ray.errors import ZipfitError
from zipfit_ray.selection import mixture
from zipfit_ray.selection.rules import RULES

if TYPE_CHECKING:
    from zipfit_ray.config import SelectConfig


@dataclass(frozen=True)
class Feature:
    """A feature as the user turns it on: its flag, and whether a plan has it on."""

    flag: str | Callable[[SelectConfig], str]
    on: Callable[[SelectConfig], bool]

    def named(self, config: SelectConfig) -> str:
        return self.flag if isinstance(self.flag, str) else self.flag(config)


MIN_SCORE = Feature("--min-score", lambda c: c.selecting.rule.streamed)
NAMED_SETS = Feature("--targets NAME=URI", lambda c: c.scoring.target_sets is not None)
MIX = Feature("--mix", lambda c: c.selecting.mix is not None)
SOFT = Feature("--temperature", lambda c: bool(c.selecting.temperature))
QUOTAS = Feature(lambda c: c.groups.flag, lambda c: c.groups.grouped)
DEDUP = Feature("--dedup", lambda c: c.trust.dedup)
EXCLUDE_NEAR = Feature("--exclude-near", lambda c: bool(c.trust.exclude_near))
PER_TARGET = Feature("--per-target", lambda c: c.selecting.rule.per_item)
COVER = Feature("--cover", lambda c: c.selecting.cover > 0)
ALL_SCORES = Feature("--all-scores", lambda c: c.output.all_scores)


@dataclass(frozen=True)
class Refusal:
    """``feature`` does what ``why`` says, which does not go with ``other``."""

    feature: Feature
    other: Feature
    why: str

    def message(self, config: SelectConfig) -> str:
        return f"{self.feature.named(config)}: {self.why}; not with {self.other.named(config)}"


SETS_CUT = "named target sets select by a cut of each set's scores"
SAMPLES = "samples a number of rows (--k, --fraction, a token budget)"
GROUPS_CUT = "cuts each group's order by the rule"
ITEMS_CUT = "cuts every item of one target set in its own order"
REFUSED = (
    Refusal(MIX, MIN_SCORE, "shares of --k or a token budget"),
    Refusal(NAMED_SETS, SOFT, SETS_CUT),
    Refusal(NAMED_SETS, DEDUP, SETS_CUT),
    Refusal(QUOTAS, MIN_SCORE, GROUPS_CUT),
    Refusal(QUOTAS, NAMED_SETS, GROUPS_CUT),
    Refusal(QUOTAS, DEDUP, GROUPS_CUT),
    Refusal(QUOTAS, SOFT, GROUPS_CUT),
    Refusal(SOFT, MIN_SCORE, SAMPLES),
    Refusal(SOFT, DEDUP, SAMPLES),
    *(Refusal(PER_TARGET, other, ITEMS_CUT) for other in (NAMED_SETS, QUOTAS, SOFT, COVER)),
    *(Refusal(COVER, other, ITEMS_CUT) for other in (MIN_SCORE, NAMED_SETS, QUOTAS, SOFT)),
)
EXACT_ONLY = (ALL_SCORES, NAMED_SETS, QUOTAS, SOFT, EXCLUDE_NEAR, COVER)


def check(config: SelectConfig) -> None:
    """Raise ZipfitError for the first combination the plan may not have."""
    if config.selecting.mix is not None:
        mixture.check_shares(config.selecting.mix, list(config.scoring.target_sets or ()))
    for refusal in REFUSED:
        if refusal.feature.on(config) and refusal.other.on(config):
            raise ZipfitError(refusal.message(config))
    mode = modes.get(config.scoring.mode)
    if not mode.exact:
        for feature in EXACT_ONLY:
            if feature.on(config):
                raise ZipfitError(
                    f"{feature.named(config)}: only with --mode exact (not {mode.name})"
                )
    if not mode.selects_with(config.selecting.rule.name):
        flags = " or ".join(RULES[name].flag for name in mode.rules)
        raise ZipfitError(f"--mode {mode.name}: select with {flags}")
