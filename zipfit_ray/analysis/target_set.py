"""What the target set can tell of itself, at no extra compression: exact mode already has
every NCD(x, y_j), so it also scores each row against two random halves of the targets
(HALF_FIELDS, saved with its scores). If the target set is large and coherent enough, the
two halves pick much the same top K (their Jaccard is near 1); a small overlap says it is
too small or too diverse for its ranking to be trusted. Beside it, the set's own spread:
the mean NCD between two of its targets (SPREAD_TARGETS of them at most, a few thousand
pair compressions on the driver).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zipfit_ray.kernel.alignment import PreparedTargets, ncd_to_targets

HALF_FIELDS = ("half_a", "half_b")
SEED = 2410_18194  # the split is the same in every task and every run
SPREAD_TARGETS = 200


def halves(targets: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A seeded random split of the target indices into two halves (the first gets the
    smaller one when the count is odd), or None if there are fewer than 2 targets."""
    if targets < 2:
        return None
    shuffled = np.random.default_rng(SEED).permutation(targets)
    return np.sort(shuffled[: targets // 2]), np.sort(shuffled[targets // 2 :])


def half_scores(ncd: np.ndarray, split: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """Each row's alignment to each half of the targets, from its NCD to every target."""
    return {name: 1.0 - ncd[:, half].mean(axis=1) for name, half in zip(HALF_FIELDS, split)}


@dataclass(frozen=True)
class Spread:
    """The mean NCD between two distinct targets (NaN for a single target), and how many
    targets it was measured on."""

    mean_ncd: float
    targets: int


def spread(targets: PreparedTargets) -> Spread:
    """The targets' spread, measured on a seeded sample of SPREAD_TARGETS when there are
    more."""
    texts = list(targets.texts)
    if len(texts) > SPREAD_TARGETS:
        chosen = np.random.default_rng(SEED).choice(len(texts), SPREAD_TARGETS, replace=False)
        texts = [texts[i] for i in np.sort(chosen)]
        targets = PreparedTargets(
            tuple(texts), targets.sizes[np.sort(chosen)], targets.compressor, targets.level,
            targets.joint,
        )  # fmt: skip
    if len(texts) < 2:
        return Spread(float("nan"), len(texts))
    ncd = ncd_to_targets(texts, targets)
    return Spread(float(ncd[~np.eye(len(texts), dtype=bool)].mean()), len(texts))
