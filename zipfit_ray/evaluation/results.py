"""The runs gathered per entry: bits per byte over the seeds (mean, each seed, spread, the
difference from the random baseline), what the entry trained on, and its curves; the
table the command prints."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from zipfit_ray.evaluation.corpus import Corpus
from zipfit_ray.evaluation.settings import BASELINE


@dataclass(frozen=True)
class RunResult:
    """What one run (an entry, a seed) gives back."""

    name: str
    seed: int
    bits_per_byte: float  # on the test texts, after the last step
    curve: list[tuple[int, float]]  # (step, test bits per byte) at each evaluation
    training_curve: list[tuple[int, float]]  # (step, mean training bits per byte since the last)
    seconds: float


def entry(name: str, corpus: Corpus, runs: list[RunResult]) -> dict[str, Any]:
    """One entry's record in evaluation.json (its runs in seed order)."""
    runs = sorted(runs, key=lambda r: r.seed)
    seeds = [r.bits_per_byte for r in runs]
    return {
        "name": name,
        "bits_per_byte": statistics.fmean(seeds),
        "bits_per_byte_seeds": seeds,
        "bits_per_byte_std": statistics.stdev(seeds) if len(seeds) > 1 else 0.0,
        "seeds": [r.seed for r in runs],
        "rows": corpus.rows,
        "tokens": corpus.tokens,
        "bytes": corpus.bytes,
        "available_tokens": corpus.available_tokens,
        "short_of_budget": corpus.short,
        "curves": [  # as JSON keeps them: [step, bits per byte] pairs
            {
                "seed": r.seed,
                "test": [list(point) for point in r.curve],
                "training": [list(point) for point in r.training_curve],
            }
            for r in runs
        ],
        "train_seconds": sum(r.seconds for r in runs),
    }


def entries(corpora: dict[str, Corpus], runs: list[RunResult]) -> list[dict[str, Any]]:
    """Every entry, in the order given (the random baseline last), each with its mean and
    per-seed difference from the baseline (same seed: same initial weights)."""
    found = [entry(n, c, [r for r in runs if r.name == n]) for n, c in corpora.items()]
    baseline = next(e for e in found if e["name"] == BASELINE)
    for e in found:
        differences = [
            mine - theirs
            for mine, theirs in zip(e["bits_per_byte_seeds"], baseline["bits_per_byte_seeds"])
        ]
        e["minus_random"] = statistics.fmean(differences)
        e["seeds_better_than_random"] = sum(d < 0 for d in differences)
    return found


def table(results: list[dict[str, Any]]) -> str:
    """The entries as an aligned text table, in bits per byte (lower is better)."""
    width = max(12, *(len(r["name"]) for r in results))
    header = (
        f"{'entry':<{width}} {'bits/byte':>9} {'sd':>6} {'- random':>9} {'rows':>9} "
        f"{'tokens':>11} {'bytes':>12}  per seed"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        seeds = " ".join(f"{b:.3f}" for b in r["bits_per_byte_seeds"])
        short = "  (short of the budget)" if r["short_of_budget"] else ""
        lines.append(
            f"{r['name']:<{width}} {r['bits_per_byte']:>9.3f} {r['bits_per_byte_std']:>6.3f} "
            f"{r['minus_random']:>+9.3f} {r['rows']:>9,} {r['tokens']:>11,} {r['bytes']:>12,}"
            f"  {seeds}{short}"
        )
    return "\n".join(lines)
