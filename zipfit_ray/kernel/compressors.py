"""Computing C(s) and the joint sizes of many pairs fast, with exactly the lengths the
backends' one library call defines (backends.py): stream reuse, state copies, the C loop."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import lz4.block._block
import lz4.frame._frame
import numpy as np
import zstandard

from zipfit_ray.kernel.backends import (
    LZ4_HC_MIN_LEVEL,
    _zlib_call,
    backend,
    resolve_joint,
    resolve_level,
)

try:
    from zipfit_ray.kernel import _native
except ImportError:  # built without the C kernel: the Python loop gives the same sizes
    _native = None


def _zstd_addresses() -> tuple[int, ...] | None:
    """Where python-zstandard's cffi module keeps the zstd functions the C loop calls (its C
    extension exports none); None where it has no cffi module or another zstd version."""
    try:
        from zstandard._cffi import ffi, lib
    except ImportError:
        return None
    if ".".join(map(str, zstandard.ZSTD_VERSION)) != ffi.string(lib.ZSTD_versionString()).decode():
        return None
    names = (
        "ZSTD_createCCtx", "ZSTD_freeCCtx", "ZSTD_CCtx_setParameter",
        "ZSTD_CCtx_loadDictionary_advanced", "ZSTD_CCtx_reset", "ZSTD_CCtx_setPledgedSrcSize",
        "ZSTD_compressStream2", "ZSTD_isError", "ZSTD_compressBound",
    )  # fmt: skip
    return tuple(int(ffi.cast("uintptr_t", ffi.addressof(lib, name))) for name in names)


def _native_libraries() -> frozenset[str]:
    """What the C kernel runs with the very library the Python bindings call."""
    if _native is None:
        return frozenset()
    found = set()
    if _native.linked_zlib_version() == zlib.ZLIB_RUNTIME_VERSION:
        found.add("zlib")
    if _native.load_lz4(lz4.frame._frame.__file__, lz4.block._block.__file__):
        found.add("lz4")
    addresses = _zstd_addresses()
    if addresses is not None:
        _native.load_zstd(*addresses)
        found.add("zstd")
    return frozenset(found)


NATIVE_LIBRARIES = _native_libraries()

# Copying a deflate stream's state (~256 KB) costs about as much as compressing 1.5 KB at
# level 6-9, so x is compressed once and its state copied per y only for longer x; shorter
# pairs are compressed in one call. Measured break-even on stdlib text: 1.2-2 KB.
PREFIX_REUSE_MIN_BYTES = 1600


class Compressor:
    """C(s) and the joint size of pairs, for one backend, level and joint, with per-call
    overhead kept low and exactly the definition's lengths.

    concat: C(x + y). For CPython's deflate and a long x, x is compressed once and the
    stream state copied for every y (the same bytes as compressing x + y in one call; level
    0, stored blocks, is excluded: there block boundaries depend on how input is fed).
    conditional: C(x) + C(y | x); the C loop builds x's dictionary state once per x.
    """

    def __init__(
        self,
        name: str,
        level: int | None = None,
        native: bool = True,
        joint: str | None = None,
    ) -> None:
        self.backend = spec = backend(name)
        self.name = name
        self.level = level = resolve_level(name, level)
        self.joint = resolve_joint(name, joint)
        module = spec.load()
        reference, conditional = spec.reference, spec.conditional
        self._compress: Callable[[bytes], bytes] = lambda data: reference(module, data, level)
        self._given = lambda x, y: conditional(module, x, y, level)
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
        self.native = native and spec.library in NATIVE_LIBRARIES and self._in_c_loop()

    def _in_c_loop(self) -> bool:
        """Whether the C loop computes this backend's joint sizes. Deflate level 0 stays in
        Python: its stored blocks depend on how output is offered; LZ4HC blocks too: the C
        loop runs LZ4's fast mode only."""
        name, library, level = self.name, self.backend.library, self.level
        fast_block = name == "lz4-block" and level < LZ4_HC_MIN_LEVEL
        if self.joint == "conditional":
            return (library == "zlib" and level > 0) or fast_block or name == "zstd"
        return (library == "zlib" and level > 0) or name == "lz4" or fast_block

    def size(self, data: bytes) -> int:
        """C(data)."""
        return len(self._compress(data))

    def conditional_sizes(self, x: bytes, ys: Sequence[bytes]) -> list[int]:
        """[C(y | x) for y in ys]: y compressed with x as its dictionary."""
        if self.name == "zstd":  # x's dictionary loaded once, as in the C loop: same bytes
            with_x = zstandard.ZstdCompressor(
                level=self.level,
                dict_data=zstandard.ZstdCompressionDict(
                    x, dict_type=zstandard.DICT_TYPE_RAWCONTENT
                ),
            )
            return [len(with_x.compress(y)) for y in ys]
        return [len(self._given(x, y)) for y in ys]

    def pair_sizes(self, x: bytes, ys: Sequence[bytes]) -> list[int]:
        """The joint size of x with each y: [C(x + y)] or [C(x) + C(y | x)]."""
        if self.joint == "conditional":
            cx = self.size(x)
            return [cx + size for size in self.conditional_sizes(x, ys)]
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
        """The joint size of every x in xs with every y in ys, as an int64 array of shape
        (len(xs), len(ys))."""
        out = np.empty((len(xs), len(ys)), dtype=np.int64)
        if not self.native:
            for i, x in enumerate(xs):
                out[i] = self.pair_sizes(x, ys)
        elif self.joint == "conditional":
            self._native_conditional(xs, ys, out)
            out += np.fromiter((self.size(x) for x in xs), np.int64, len(xs))[:, None]
        elif self.backend.library == "zlib":
            _native.deflate_pair_sizes(
                xs, ys, self.level, self.backend.wbits, self._strategy, PREFIX_REUSE_MIN_BYTES, out
            )
        elif self.name == "lz4":
            _native.lz4_pair_sizes(xs, ys, self.level, out)
        else:
            _native.lz4_block_pair_sizes(xs, ys, out)
        return out

    def _native_conditional(
        self, xs: Sequence[bytes], ys: Sequence[bytes], out: np.ndarray
    ) -> None:
        """out[i, j] = C(ys[j] | xs[i]), by the C loop."""
        if self.backend.library == "zlib":
            _native.deflate_conditional_sizes(
                xs, ys, self.level, self.backend.wbits, self._strategy, out
            )
        elif self.name == "zstd":  # python-zstandard's defaults: content size, no checksum
            _native.zstd_conditional_sizes(xs, ys, self.level, 1, 0, 1, out)
        else:
            _native.lz4_block_conditional_sizes(xs, ys, out)
