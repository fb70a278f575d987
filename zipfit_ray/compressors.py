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
import lz4.frame._frame
import numpy as np
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


try:
    from zipfit_ray import _native
except ImportError:  # built without the C kernel: the Python loop gives the same sizes
    _native = None


def _native_backends() -> frozenset[str]:
    """Backends the C kernel runs with the very library the Python bindings call."""
    if _native is None:
        return frozenset()
    found = set()
    if _native.linked_zlib_version() == zlib.ZLIB_RUNTIME_VERSION:
        found |= {"gzip", "zlib"}
    if _native.load_lz4(lz4.frame._frame.__file__):
        found.add("lz4")
    return frozenset(found)


NATIVE_BACKENDS = _native_backends()

# Copying a deflate stream's state (~256 KB) costs about as much as compressing 1.5 KB at
# level 6-9, so x is compressed once and its state copied per y only for longer x; shorter
# pairs are compressed in one call. Measured break-even on stdlib text: 1.2-2 KB.
PREFIX_REUSE_MIN_BYTES = 1600


class Compressor:
    """C(s) and C(x + y) for one backend and level, with per-call overhead kept low.

    For deflate (gzip, zlib) and a long x, x is compressed once and the stream state copied
    for every y, which yields the same bytes as compressing x + y in one call. Level 0
    (stored blocks) is excluded: there block boundaries depend on how input is fed.
    """

    def __init__(self, name: str, level: int | None = None, native: bool = True) -> None:
        self.name = name
        self.level = level = resolve_level(name, level)
        self._wbits = {"gzip": 31, "zlib": 15}.get(name)
        # deflate level 0 stays in Python: its stored blocks depend on how output is offered
        self.native = native and name in NATIVE_BACKENDS and (self._wbits is None or level > 0)
        if self._wbits is not None:
            wbits = self._wbits
            self._compress = lambda data: zlib.compress(data, level, wbits)
        elif name == "zstd":
            self._compress = zstandard.ZstdCompressor(level=level).compress
        else:
            compress = lz4.frame.compress
            self._compress = lambda data: compress(data, level)

    def size(self, data: bytes) -> int:
        """C(data)."""
        return len(self._compress(data))

    def pair_sizes(self, x: bytes, ys: Sequence[bytes]) -> list[int]:
        """[C(x + y) for y in ys]."""
        if self._wbits is not None and self.level > 0 and len(x) >= PREFIX_REUSE_MIN_BYTES:
            stream = zlib.compressobj(self.level, zlib.DEFLATED, self._wbits)
            head = len(stream.compress(x))
            sizes = []
            for y in ys:
                tail = stream.copy()
                sizes.append(head + len(tail.compress(y)) + len(tail.flush()))
            return sizes
        compress = self._compress
        return [len(compress(x + y)) for y in ys]

    def pair_size_matrix(self, xs: Sequence[bytes], ys: Sequence[bytes]) -> np.ndarray:
        """C(x + y) for every x in xs and y in ys, as an int64 array of shape (len(xs), len(ys))."""
        out = np.empty((len(xs), len(ys)), dtype=np.int64)
        if self.native and self._wbits is not None:
            _native.deflate_pair_sizes(xs, ys, self.level, self._wbits, PREFIX_REUSE_MIN_BYTES, out)
        elif self.native:
            _native.lz4_pair_sizes(xs, ys, self.level, out)
        else:
            for i, x in enumerate(xs):
                out[i] = self.pair_sizes(x, ys)
        return out
