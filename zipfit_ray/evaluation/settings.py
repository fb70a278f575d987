"""EvaluateConfig: every choice `zipfit-ray evaluate` makes, validated once, then passed down.
Imports neither torch nor Ray, so the CLI and the selection code can build it freely."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from zipfit_ray.errors import ZipfitError, require_positive_int
from zipfit_ray.storage import locations
from zipfit_ray.storage.targets import SET_NAME

BASELINE = "random"  # the entry trained on a seeded random sample of --pool


@dataclass(frozen=True)
class ModelSettings:
    """The byte-level transformer's shape (the defaults: about 0.6M parameters)."""

    layers: int = 3
    width: int = 128
    heads: int = 4
    context: int = 128  # bytes a prediction sees, at most

    def __post_init__(self) -> None:
        for name in ("layers", "width", "heads", "context"):
            require_positive_int(f"--{name}", getattr(self, name))
        if self.width % self.heads:
            raise ZipfitError(f"--heads: must divide --width {self.width}, got {self.heads}")


@dataclass(frozen=True)
class TrainingSettings:
    """One run's training: the same for every selection and seed, so that only the data
    differs between them."""

    steps: int = 1000
    batch_size: int = 32  # windows of context + 1 bytes per step
    learning_rate: float = 2e-3  # AdamW's peak, after a linear warm-up; cosine decay to 10%
    evaluations: int = 4  # bits per byte on the test texts this often (the curve)
    threads: int = 1  # torch's threads: the CPUs each run's Ray task asks for
    model: ModelSettings = field(default_factory=ModelSettings)

    def __post_init__(self) -> None:
        for flag, value in (
            ("--steps", self.steps),
            ("--batch-size", self.batch_size),
            ("--evaluations", self.evaluations),
            ("--cpus-per-run", self.threads),
        ):
            require_positive_int(flag, value)
        if not self.learning_rate > 0:
            raise ZipfitError(f"--learning-rate: must be positive, got {self.learning_rate}")
        if self.evaluations > self.steps:
            raise ZipfitError(f"--evaluations: at most --steps ({self.steps})")

    def evaluation_steps(self) -> list[int]:
        """The steps after which the test texts are scored; the last is the final step."""
        return [round(self.steps * (i + 1) / self.evaluations) for i in range(self.evaluations)]


@dataclass(frozen=True)
class EvaluateConfig:
    selections: dict[str, str]  # NAME -> a selection's --out (or its part files), in order
    pool: tuple[str, ...]  # the random baseline is sampled from it
    test: str  # the held-out texts every model is scored on
    budget_tokens: int  # every selection is cut to it, in its own order
    out: str  # evaluation.json and evaluation.html go here
    seeds: int = 3  # training seeds 0 .. seeds - 1 for every entry
    sample_seed: int = 0  # which rows of the pool the random baseline takes
    per_set: bool = False  # named-set selections: one entry per set, NAME/SET
    text_column: str = "text"  # of the selections and the pool
    test_column: str = "text"
    tokenizer: str | None = None  # a tokenizer.json for token counts; None: approximate
    training: TrainingSettings = field(default_factory=TrainingSettings)
    address: str | None = None
    num_cpus: int | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pool", tuple(self.pool))
        if not self.selections:
            raise ZipfitError("--selections: give at least one NAME=DIR")
        for name in self.selections:
            if not SET_NAME.fullmatch(name) or name == BASELINE:
                raise ZipfitError(
                    f"--selections {name}=...: a name is a letter, then letters, digits, _ or "
                    f"- (and not {BASELINE!r}, the random baseline's)"
                )
        if not self.pool:
            raise ZipfitError("--pool: give at least one file, directory or glob")
        require_positive_int("--budget-tokens", self.budget_tokens)
        require_positive_int("--seeds", self.seeds)
        for flag, inputs in (
            ("--selections", self.selections.values()),
            ("--pool", self.pool),
            ("--test", [self.test]),
        ):
            locations.check_apart(self.out, "--out", inputs, flag)

    def public_dict(self) -> dict[str, Any]:
        """The settings as evaluation.json records them (storage option names only)."""
        values = asdict(self)
        values["pool"] = list(self.pool)
        values["storage_options"] = sorted(self.storage_options)
        return values


def parse_selections(arguments: list[str]) -> dict[str, str]:
    """--selections NAME=DIR ... as {name: DIR}, in the order given."""
    found: dict[str, str] = {}
    for argument in arguments:
        name, equals, uri = argument.partition("=")
        if not (equals and uri):
            raise ZipfitError(f"--selections {argument}: expected NAME=DIR")
        if name in found:
            raise ZipfitError(f"--selections: the name {name!r} is given twice")
        found[name] = uri
    return found
