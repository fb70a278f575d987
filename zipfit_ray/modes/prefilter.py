"""Approximate one-pass prefilter: each candidate is compressed once on its own and once
against a dictionary made of the target set; its score is the relative size saving

    saving(x) = (C(x) - C(x | targets)) / C(x)

Two compressions per candidate instead of one per target. It is not ZIP-FIT's score, only a
cheap way to find likely candidates: alone, or as the first stage of a cascade that
re-scores the best c*K exactly. evaluate_modes.py measures how well it agrees with ZIP-FIT.
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import zstandard

from zipfit_ray.analysis.cost import Interval
from zipfit_ray.errors import ZipfitError
from zipfit_ray.kernel.alignment import PreparedTargets
from zipfit_ray.modes.base import Cluster, Mode, ModeSettings, Scored

DEFLATE_WINDOW = 32 * 1024  # deflate only looks back this far, so a longer zdict is wasted
KINDS = ("zlib", "zstd")
DEFAULT_KIND = "zlib"


class DictionaryPrefilter:
    """``kind`` "zlib": a zdict of the targets' last 32 KB; "zstd": all targets as a raw
    content dictionary."""

    def __init__(self, targets: Sequence[bytes], kind: str = "zlib", level: int = 6) -> None:
        if kind not in KINDS:
            raise ValueError(f"prefilter kind must be one of {KINDS}, got {kind!r}")
        joined = b"".join(targets)
        self.kind, self.level = kind, level
        if kind == "zlib":
            self._zdict = joined[-DEFLATE_WINDOW:]
        else:
            dictionary = zstandard.ZstdCompressionDict(
                joined, dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
            self._plain = zstandard.ZstdCompressor(level=level)
            self._with_targets = zstandard.ZstdCompressor(level=level, dict_data=dictionary)

    def score(self, candidates: Sequence[bytes]) -> np.ndarray:
        plain = np.fromiter((self._size(x, False) for x in candidates), np.float64, len(candidates))
        primed = np.fromiter((self._size(x, True) for x in candidates), np.float64, len(candidates))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(plain > 0, (plain - primed) / plain, 0.0)

    def _size(self, data: bytes, with_targets: bool) -> int:
        if self.kind == "zlib":
            stream = (
                zlib.compressobj(self.level, zlib.DEFLATED, -15, zdict=self._zdict)
                if with_targets
                else zlib.compressobj(self.level, zlib.DEFLATED, -15)
            )
            return len(stream.compress(data)) + len(stream.flush())
        compressor = self._with_targets if with_targets else self._plain
        return len(compressor.compress(data))


class PrefilterScorer:
    """Every row's prefilter score: two single compressions, no pairs."""

    def __init__(self, prefilter: DictionaryPrefilter) -> None:
        self.prefilter = prefilter

    def __call__(self, texts: Sequence[bytes], row_ids: np.ndarray) -> Scored:
        return Scored(self.prefilter.score(texts), Counter(pair_compressions=0))


@dataclass(frozen=True)
class PrefilterSettings(ModeSettings):
    prefilter: str = DEFAULT_KIND  # the dictionary compressor: see KINDS

    def __post_init__(self) -> None:
        if self.prefilter not in KINDS:
            raise ZipfitError(f"--prefilter: choose from {KINDS}, got {self.prefilter!r}")


class Prefilter(Mode):
    """The prefilter alone: one pass, its own scores (not ZIP-FIT's, and named so)."""

    name = "approx-prefilter"
    Settings = PrefilterSettings
    score_column = "prefilter_score"

    def scorer(self, targets: PreparedTargets, shard: str) -> PrefilterScorer:
        return PrefilterScorer(DictionaryPrefilter(targets.texts, self.settings.prefilter))

    def estimate(
        self,
        cluster: Cluster,
        chunks: list[list[bytes]],
        targets: PreparedTargets,
        threshold: float,
        pool_rows: int,
    ) -> tuple[Interval, float]:
        return Interval(0, 0, 0), self.seconds_per_row(cluster, chunks, targets)

    def seconds_per_row(
        self, cluster: Cluster, chunks: list[list[bytes]], targets: PreparedTargets
    ) -> float:
        """The prefilter pass's time per row, measured on the cluster's workers."""
        found = cluster.map(_timed_pass, chunks, targets.texts, self.settings.prefilter)
        return sum(seconds for _, seconds in found) / sum(len(c) for c in chunks)


def _timed_pass(texts: list[bytes], targets: Sequence[bytes], kind: str) -> float:
    start = time.perf_counter()
    DictionaryPrefilter(targets, kind).score(texts)
    return time.perf_counter() - start
