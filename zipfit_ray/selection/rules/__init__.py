"""Selection rules: which scored rows a job keeps. Exactly one per job.

Each rule is one module with a Rule subclass, registered in RULES below (as the modes are):
its flag (the CLI adds one per rule), how its value is checked, and what it comes to once
the rows scored and their tokens are counted (``resolved``: an amounts.Amount the cut
finds the end of, or an amounts.Threshold known before scoring). Nothing else in the job
asks which rule it has: a mode names the rules it selects with (``Mode.rules``), and
scoring counts every row's tokens where the rule says it needs them (``by_tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zipfit_ray.errors import ZipfitError
from zipfit_ray.selection.rules.base import Rule
from zipfit_ray.selection.rules.budget_fraction import BudgetFraction
from zipfit_ray.selection.rules.fraction import Fraction
from zipfit_ray.selection.rules.min_score import MinScore
from zipfit_ray.selection.rules.per_target import PerTarget
from zipfit_ray.selection.rules.token_budget import TokenBudget
from zipfit_ray.selection.rules.top_k import TopK

RULES: dict[str, type[Rule]] = {
    rule.name: rule for rule in (TopK, TokenBudget, MinScore, Fraction, BudgetFraction, PerTarget)
}


def from_flags(flags: Mapping[str, Any]) -> Rule:
    """The one rule given among ``flags`` (by its dest; None: not given)."""
    given = [name for name in RULES if flags.get(name) is not None]
    if len(given) != 1:
        raise ZipfitError(
            f"give exactly one selection rule: {', '.join(r.flag for r in RULES.values())}"
            + (f" (got {', '.join(RULES[name].flag for name in given)})" if given else "")
        )
    return RULES[given[0]](flags[given[0]])


def as_flags(rule: Rule) -> dict[str, Any]:
    """Every rule's flag: this rule's value, None for the others (from_flags' inverse)."""
    return {name: rule.value if name == rule.name else None for name in RULES}
