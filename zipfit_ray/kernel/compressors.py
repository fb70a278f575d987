"""Computing C(s) and the joint sizes of many pairs fast, with exactly the lengths the
backends' one library call defines (backends.py): stream reuse, state copies, the C loop."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import lz4.block._block
import lz4.frame._frame
import numpy as np
import zstandard

from zipfit_ray.kernel.backends import LZ4_HC_MIN_LEVEL, _zlib_call, backend, resolve_level

try:
    from zipfit_ray.kernel import _native
except ImportError:  # built without the C kernel: the Python loop gives the same sizes
    _native = None


def _native_libraries() -> frozenset[str]:
    """What the C kernel runs with the very library the Python bindings call."""
    if _native is None:
        return frozenset()
    found = set()
    if _native.linked_zlib_version() == zlib.ZLIB_RUNTIME_VERSION:
        found.add("zlib")
    if _native.load_lz4(lz4.frame._frame.__file__, lz4.block._block.__file__):
        found.add("lz4")
    return frozenset(found)


NATIVE_LIBRARIES = _native_libraries()

# Copying a deflate stream's state (~256 KB) costs about as much as compressing 1.5 KB at
# level 6-9, so x is compressed once and its state copied per y only for longer x; shorter
# pairs are compressed in one call. Measured break-even on stdlib text: 1.2-2 KB.
PREFIX_REUSE_MIN_BYTES = 1600


class Compressor:
    """C(s) and C(x + y) for one backend and level, with per-call overhead kept low.

    For CPython's deflate and a long x, x is compressed once and the stream state copied
    for every y, which yields the same bytes as compressing x + y in one call. Level 0
    (stored blocks) is excluded: there block boundaries depend on how input is fed.
    """

    def __init__(self, name: str, level: int | None = None, native: bool = True) -> None:
        self.backend = spec = backend(name)
        self.name = name
        self.level = level = resolve_level(name, level)
        module = spec.load()
        reference = spec.reference
        self._compress: Callable[[bytes], bytes] = lambda data: reference(module, data, level)
        self._zlib_stream: Callable[[], object] | None = None
        fixed = spec.strategy == "fixed"
        self._strategy = zlib.Z_FIXED if fixed else zlib.Z_DEFAULT_STRATEGY
        if spec.library == "zlib":  # gzip.compress's length, without its Python-level work
            call = _zlib_call(zlib, spec.wbits, self._strategy if fixed else None)
            self._compress = lambda data: call(data, level)
            if level > 0:
                self._zlib_stream = lambda: zlib.compressobj(
                    level, zlib.DEFLATED, spec.wbits, 8, self._strategy
                )
        elif name == "zstd":  # one compressor object per task, not per call: same bytes
            self._compress = zstandard.ZstdCompressor(level=level).compress
        # deflate level 0 stays in Python: its stored blocks depend on how output is offered;
        # LZ4HC blocks too: the C loop runs LZ4's fast mode only
        self.native = (
            native
            and spec.library in NATIVE_LIBRARIES
            and (
                (spec.library == "zlib" and level > 0)
                or name == "lz4"
                or (name == "lz4-block" and level < LZ4_HC_MIN_LEVEL)
            )
        )

    def size(self, data: bytes) -> int:
        """C(data)."""
        return len(self._compress(data))

    def pair_sizes(self, x: bytes, ys: Sequence[bytes]) -> list[int]:
        """[C(x + y) for y in ys]."""
        if self._zlib_stream is not None and len(x) >= PREFIX_REUSE_MIN_BYTES:
            stream = self._zlib_stream()
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
        if self.native and self.backend.library == "zlib":
            _native.deflate_pair_sizes(
                xs, ys, self.level, self.backend.wbits, self._strategy, PREFIX_REUSE_MIN_BYTES, out
            )
        elif self.native and self.name == "lz4":
            _native.lz4_pair_sizes(xs, ys, self.level, out)
        elif self.native:
            _native.lz4_block_pair_sizes(xs, ys, out)
        else:
            for i, x in enumerate(xs):
                out[i] = self.pair_sizes(x, ys)
        return out
