"""ZIP-FIT alignment: 1 - mean_j NCD(x, y_j), exact, for many candidates at once.

    NCD(x, y) = (C(x ⊕ y) - min(C(x), C(y))) / max(C(x), C(y)),  0 where max(...) is 0

where C(x ⊕ y), the joint size, is C(x + y) (concat, the paper's) or C(x) + C(y | x)
(conditional: y compressed with x as its dictionary; see backends.py).

Targets are prepared once per job (encoded, C(y) computed) and reused for every candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zipfit_ray.kernel.backends import DEFAULT_COMPRESSOR
from zipfit_ray.kernel.compressors import Compressor

Text = str | bytes


def encode(text: Text) -> bytes:
    """Texts are compared as bytes; str is UTF-8 encoded."""
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


@dataclass(frozen=True)
class PreparedTargets:
    """The target set as every scoring task needs it: bytes and their C(y), computed once."""

    texts: tuple[bytes, ...]
    sizes: np.ndarray  # int64, C(y_j)
    compressor: str
    level: int
    joint: str
    # named sets: (name, how many texts), in the order their texts follow one another; one
    # pass compresses every candidate against all of them ("": one unnamed set)
    sets: tuple[tuple[str, int], ...] = ()

    def set_slices(self) -> dict[str, slice]:
        """Each named set's columns of an (n, m) NCD matrix against these targets."""
        ends = np.cumsum([size for _, size in self.sets]).tolist()
        starts = [0, *ends[:-1]]
        return {name: slice(a, b) for (name, _), a, b in zip(self.sets, starts, ends)}


def prepare_targets(
    targets: Sequence[Text],
    compressor: str = DEFAULT_COMPRESSOR,
    level: int | None = None,
    joint: str | None = None,
    sets: tuple[tuple[str, int], ...] = (),
) -> PreparedTargets:
    comp = Compressor(compressor, level, joint=joint)
    texts = tuple(encode(t) for t in targets)
    if not texts:
        raise ValueError("the target set is empty")
    sizes = np.array([comp.size(t) for t in texts], dtype=np.int64)
    return PreparedTargets(texts, sizes, comp.name, comp.level, comp.joint, sets)


def score(
    candidates: Sequence[bytes], targets: PreparedTargets, *, native: bool = True
) -> np.ndarray:
    """Alignment of each candidate (bytes) to the prepared targets, float64.

    ``native=False`` runs the Python loop even where the C kernel is built (same scores).
    """
    return 1.0 - ncd_to_targets(candidates, targets, native=native).mean(axis=1)


def ncd_to_targets(
    candidates: Sequence[bytes], targets: PreparedTargets, *, native: bool = True
) -> np.ndarray:
    """NCD(x_i, y_j) of each candidate (bytes) to each prepared target: (n, m) float64."""
    comp = Compressor(targets.compressor, targets.level, native=native, joint=targets.joint)
    cx = np.fromiter((comp.size(x) for x in candidates), dtype=np.int64, count=len(candidates))
    cxy = comp.pair_size_matrix(candidates, targets.texts)
    return ncd_matrix(cx, targets.sizes, cxy)


def set_alignments(ncd: np.ndarray, targets: PreparedTargets) -> dict[str, np.ndarray]:
    """Each named set's alignment of the candidates, from their (n, m) NCD to all targets."""
    return {name: 1.0 - ncd[:, cols].mean(axis=1) for name, cols in targets.set_slices().items()}


def ncd_matrix(cx: np.ndarray, cy: np.ndarray, cxy: np.ndarray) -> np.ndarray:
    """NCD(x_i, y_j) from compressed lengths: cx (n,), cy (m,), cxy (n, m) -> (n, m)."""
    cx = cx[:, None].astype(np.float64)
    cy = cy[None, :].astype(np.float64)
    smaller = np.minimum(cx, cy)
    larger = np.maximum(cx, cy)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(larger > 0, (cxy - smaller) / larger, 0.0)


def alignment_from_sizes(cx: np.ndarray, cy: np.ndarray, cxy: np.ndarray) -> np.ndarray:
    """The paper's formula on compressed lengths: cx (n,), cy (m,), cxy (n, m) -> (n,)."""
    return 1.0 - ncd_matrix(cx, cy, cxy).mean(axis=1)


def alignment(
    candidates: Sequence[Text],
    targets: Sequence[Text],
    *,
    compressor: str = DEFAULT_COMPRESSOR,
    level: int | None = None,
    joint: str | None = None,
) -> np.ndarray:
    """ZIP-FIT alignment of each candidate to the target set (float64, one per candidate).

    No Ray here: this is the exact kernel the distributed job runs on every shard.
    """
    prepared = prepare_targets(targets, compressor, level, joint)
    return score([encode(c) for c in candidates], prepared)
