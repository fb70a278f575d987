"""Compressor backends and C(s), the compressed length that NCD is built on.

Each backend's length is defined by the reference implementation's call (see ``REFERENCE``):
the speed tricks here (stream reuse, state copies) must return exactly that length, and
``tests/test_compressors.py`` checks them against it.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lz4.frame
import zstandard

from zipfit_ray.errors import ZipfitError


@dataclass(frozen=True)
class CompressorSpec:
    name: str
    default_level: int
    min_level: int
    max_level: int


SPECS: dict[str, CompressorSpec] = {
    spec.name: spec
    for spec in (
        CompressorSpec("gzip", default_level=9, min_level=0, max_level=9),
        CompressorSpec("zlib", default_level=6, min_level=0, max_level=9),
        CompressorSpec("lz4", default_level=0, min_level=0, max_level=16),
        CompressorSpec("zstd", default_level=3, min_level=1, max_level=22),
    )
}

# The definition of C(s) for each backend: the length of what these calls return.
REFERENCE: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": lambda data, level: gzip.compress(data, compresslevel=level),
    "zlib": lambda data, level: zlib.compress(data, level),
    "lz4": lambda data, level: lz4.frame.compress(data, compression_level=level),
    "zstd": lambda data, level: zstandard.ZstdCompressor(level=level).compress(data),
}


def resolve_level(name: str, level: int | None) -> int:
    """Return the level to use for ``name``, or raise ZipfitError naming what is wrong."""
    spec = SPECS.get(name)
    if spec is None:
        raise ZipfitError(f"--compressor: unknown compressor {name!r}; choose from {sorted(SPECS)}")
    if level is None:
        return spec.default_level
    if isinstance(level, bool) or not isinstance(level, int):
        raise ZipfitError(f"--level: must be an integer, got {level!r}")
    if not spec.min_level <= level <= spec.max_level:
        raise ZipfitError(
            f"--level: {name} accepts levels {spec.min_level}..{spec.max_level}, got {level}"
        )
    return level


class Compressor:
    """C(s) and C(x + y) for one backend and level, with per-call overhead kept low.

    Deflate backends (gzip, zlib) compress x once and copy the stream state for every y,
    which yields the same bytes as compressing x + y in one call. Level 0 (stored blocks)
    is excluded: there block boundaries depend on how input is fed, so only one-shot calls
    match the reference.
    """

    def __init__(self, name: str, level: int | None = None) -> None:
        self.name = name
        self.level = resolve_level(name, level)
        self._wbits = {"gzip": 31, "zlib": 15}.get(name)
        self._zstd = zstandard.ZstdCompressor(level=self.level) if name == "zstd" else None

    def size(self, data: bytes) -> int:
        """C(data)."""
        if self._wbits is not None:
            return len(zlib.compress(data, self.level, wbits=self._wbits))
        if self._zstd is not None:
            return len(self._zstd.compress(data))
        return len(lz4.frame.compress(data, compression_level=self.level))

    def pair_sizes(self, x: bytes, ys: Sequence[bytes]) -> list[int]:
        """[C(x + y) for y in ys]."""
        if self._wbits is not None and self.level > 0:
            stream = zlib.compressobj(self.level, zlib.DEFLATED, self._wbits)
            head = len(stream.compress(x))
            sizes = []
            for y in ys:
                tail = stream.copy()
                sizes.append(head + len(tail.compress(y)) + len(tail.flush()))
            return sizes
        return [self.size(x + y) for y in ys]
