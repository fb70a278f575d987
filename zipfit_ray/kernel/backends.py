"""Compressor backends: what C(s), the compressed length NCD is built on, is for each.

A backend is named ``[LIBRARY:]FORMAT[-STRATEGY]``: the format says what is measured
(``gzip`` and ``zlib``: deflate inside that container; ``deflate``: raw deflate, no
container; ``lz4``: an LZ4 frame; ``lz4-block``: a bare LZ4 block; ``zstd``: a zstd frame),
the strategy how deflate codes it (``-fixed``: fixed Huffman codes, no code table in the
output), and the library who compresses: CPython's zlib, python-lz4 and python-zstandard
unless a third-party deflate library is named (``zlib-ng:``, ``isal:``, ``libdeflate:``).

Each backend's C(s) is defined by one call of its library (``Backend.reference``): the speed
tricks of compressors.py (stream reuse, state copies, the C loop) must return exactly that
length, and ``tests/kernel/test_compressors.py`` checks them against it.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.metadata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import lz4.block
import lz4.block._block
import lz4.frame
import lz4.frame._frame
import zstandard

from zipfit_ray.errors import ZipfitError

# Chosen from measured selection quality (benchmarks/evaluate.py, docs/compressors.md "Choosing a
# compressor"): zstd at its default level 3, with the conditional joint. PAPER_COMPRESSOR is
# the paper's own setting, one flag away (gzip has no dictionary call: its joint is concat).
DEFAULT_COMPRESSOR = "zstd"
PAPER_COMPRESSOR = "gzip"

RAW_DEFLATE_WBITS = -15
LZ4_HC_MIN_LEVEL = 3  # as in LZ4 frames: lower levels are LZ4's fast mode, all the same

# How the joint size of a candidate x and a target y is measured: C(x + y), the paper's
# (concat), or C(x) + C(y | x), y compressed with x as its dictionary (conditional): the
# chain rule's estimate of the same size, at the cost of |y| per pair once x is loaded. A
# backend's default is conditional where its library has a dictionary call (it selected
# better with every such backend measured), else concat.
JOINTS = ("concat", "conditional")


@dataclass(frozen=True)
class Backend:
    """One way of computing C(s): a library, a format (container) and a strategy."""

    name: str  # what --compressor takes
    library: str  # the compressing library, as summary.json names it
    container: str  # gzip, zlib, none (raw deflate), frame, block
    min_level: int
    max_level: int
    default_level: int
    reference: Callable[[ModuleType, bytes, int], bytes]  # (module, s, level) -> compressed
    module: str  # the binding's module, handed to ``reference``
    strategy: str = "default"  # or fixed: deflate with fixed Huffman codes, no code table
    package: str | None = None  # the binding's PyPI distribution; None: Python's own zlib
    extra: str | None = None  # the zipfit-ray extra that installs it; None: always there
    wbits: int | None = None  # zlib-style bindings: the container, as window bits
    # (module, x, y, level) -> y compressed with x as its dictionary: C(y | x), by the
    # library's one call; None: the library has no such call for this format
    conditional: Callable[[ModuleType, bytes, bytes, int], bytes] | None = None
    store_level: int | None = None  # the level at which it stores text uncompressed

    def stores_at(self, level: int) -> bool:
        """Whether C(s) at ``level`` is the text's length plus headers: NCD is length."""
        return level == self.store_level

    def load(self) -> ModuleType:
        """The binding's module, or a ZipfitError that names the extra to install."""
        try:
            return importlib.import_module(self.module)
        except ImportError as exc:
            raise ZipfitError(
                f"--compressor {self.name}: needs the {self.package} package "
                f"(pip install 'zipfit-ray[{self.extra}]')"
            ) from exc

    def version(self) -> dict[str, str]:
        """The library and binding versions behind this backend's C(s), for summary.json."""
        versions = {}
        if self.package is not None:
            versions[self.package] = importlib.metadata.version(self.package)
        module = self.load()
        if self.library == "zlib":  # CPython's zlib: the system's, which may even be zlib-ng
            versions["zlib_runtime"] = zlib.ZLIB_RUNTIME_VERSION
        elif self.library == "zlib-ng":
            versions["zlib_ng_runtime"] = module.ZLIBNG_RUNTIME_VERSION
        elif self.library == "lz4":
            versions["lz4_library"] = lz4.library_version_string()
        elif self.library == "zstd":
            versions["zstd_library"] = ".".join(map(str, zstandard.ZSTD_VERSION))
        return versions


def _zlib_call(module: ModuleType, wbits: int, strategy: int | None):
    """The one-shot deflate call of a zlib-style binding (CPython's zlib, zlib-ng, isal);
    with a strategy, a compressobj (the only call that takes one)."""
    if strategy is None:
        return lambda data, level: module.compress(data, level, wbits)

    def compress(data: bytes, level: int) -> bytes:
        stream = module.compressobj(level, module.DEFLATED, wbits, 8, strategy)
        return stream.compress(data) + stream.flush()

    return compress


def _zlib_style(library: str, fmt: str, levels: tuple[int, int, int], **binding) -> Backend:
    """A deflate backend of a zlib-style binding; ``fmt`` is gzip, zlib, deflate (raw) or
    deflate-fixed (raw, fixed Huffman codes)."""
    wbits = {"gzip": 31, "zlib": 15}.get(fmt, RAW_DEFLATE_WBITS)
    fixed = fmt.endswith("-fixed")

    def reference(module: ModuleType, data: bytes, level: int) -> bytes:
        return _zlib_call(module, wbits, module.Z_FIXED if fixed else None)(data, level)

    def conditional(module: ModuleType, x: bytes, y: bytes, level: int) -> bytes:
        strategy = module.Z_FIXED if fixed else module.Z_DEFAULT_STRATEGY
        stream = module.compressobj(level, module.DEFLATED, wbits, 8, strategy, zdict=x)
        return stream.compress(y) + stream.flush()

    return Backend(
        fmt if library == "zlib" else f"{library}:{fmt}",
        library,
        {31: "gzip", 15: "zlib"}.get(wbits, "none"),
        *levels,
        reference=reference,
        strategy="fixed" if fixed else "default",
        wbits=wbits,
        conditional=None if wbits == 31 else conditional,  # gzip takes no preset dictionary
        store_level=None if library == "isal" else 0,  # ISA-L's level 0 compresses
        **binding,
    )


def _lz4_block(module: ModuleType, data: bytes, level: int, **dictionary: bytes) -> bytes:
    if level < LZ4_HC_MIN_LEVEL:
        return module.compress(data, store_size=False, **dictionary)
    return module.compress(
        data, mode="high_compression", compression=level, store_size=False, **dictionary
    )


def _zstd(module: ModuleType, data: bytes, level: int, dictionary: bytes | None = None) -> bytes:
    """A zstd frame as python-zstandard writes it by default; with a dictionary, the raw
    content of x (no entropy tables: nothing but x's bytes to match against)."""
    found = None
    if dictionary is not None:
        found = module.ZstdCompressionDict(dictionary, dict_type=module.DICT_TYPE_RAWCONTENT)
    return module.ZstdCompressor(level=level, dict_data=found).compress(data)


_ZLIB = dict(module="zlib")
_ZLIB_NG = dict(module="zlib_ng.zlib_ng", package="zlib-ng", extra="zlib-ng")
_ISAL = dict(module="isal.isal_zlib", package="isal", extra="isal")
_LIBDEFLATE = dict(module="deflate", package="deflate", extra="libdeflate")

BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        # the paper's C(s), and the reference implementation's: gzip.compress
        Backend(
            "gzip", "zlib", "gzip", 0, 9, 9,
            reference=lambda _, data, level: gzip.compress(data, compresslevel=level),
            wbits=31, store_level=0, **_ZLIB,
        ),
        _zlib_style("zlib", "zlib", (0, 9, 6), **_ZLIB),
        _zlib_style("zlib", "deflate", (0, 9, 6), **_ZLIB),
        _zlib_style("zlib", "deflate-fixed", (0, 9, 6), **_ZLIB),
        *(_zlib_style("zlib-ng", f, (0, 9, 1), **_ZLIB_NG)
          for f in ("gzip", "deflate", "deflate-fixed")),
        *(_zlib_style("isal", f, (0, 3, 1), **_ISAL) for f in ("gzip", "deflate")),
        Backend(
            "libdeflate:gzip", "libdeflate", "gzip", 0, 12, 6,
            reference=lambda mod, data, level: mod.gzip_compress(data, level), store_level=0,
            **_LIBDEFLATE,
        ),
        Backend(
            "libdeflate:deflate", "libdeflate", "none", 0, 12, 6,
            reference=lambda mod, data, level: mod.deflate_compress(data, level), store_level=0,
            **_LIBDEFLATE,
        ),
        Backend(
            "lz4", "lz4", "frame", 0, 16, 0,
            reference=lambda mod, data, level: mod.compress(data, compression_level=level),
            module="lz4.frame", package="lz4",
        ),
        # a bare block: no frame header, end mark or content size
        Backend(
            "lz4-block", "lz4", "block", 0, 12, 0,
            reference=_lz4_block, module="lz4.block", package="lz4",
            conditional=lambda mod, x, y, level: _lz4_block(mod, y, level, dict=x),
        ),
        Backend(
            "zstd", "zstd", "frame", 1, 22, 3,
            reference=_zstd, module="zstandard", package="zstandard",
            conditional=lambda mod, x, y, level: _zstd(mod, y, level, dictionary=x),
        ),
    )
}  # fmt: skip


def backend(name: str) -> Backend:
    """The backend called ``name``, or a ZipfitError listing the names there are."""
    found = BACKENDS.get(name)
    if found is None:
        raise ZipfitError(
            f"--compressor: unknown compressor {name!r}; choose from {', '.join(BACKENDS)}"
        )
    return found


def reference_size(name: str, data: bytes, level: int) -> int:
    """C(data) by the definition: the length of the backend's one library call."""
    b = backend(name)
    return len(b.reference(b.load(), data, level))


def reference_joint_size(name: str, x: bytes, y: bytes, level: int, joint: str) -> int:
    """The joint size of x and y by the definition: C(x + y), or C(x) + C(y | x)."""
    b = backend(name)
    module = b.load()
    if joint == "concat":
        return len(b.reference(module, x + y, level))
    return len(b.reference(module, x, level)) + len(b.conditional(module, x, y, level))


def refuse_store_only(name: str, level: int, allowed: bool) -> None:
    """A level that stores the text uncompressed makes NCD measure length alone: a
    ZipfitError that says so, unless ``allowed``."""
    if backend(name).stores_at(level) and not allowed:
        raise ZipfitError(
            f"--level {level}: {name} stores the text uncompressed at this level, so C(s) is "
            "its length plus headers and NCD measures length alone; choose a level of 1 or "
            "more (or --allow-store-only)"
        )


def resolve_joint(name: str, joint: str | None) -> str:
    """The joint to use for ``name`` (None: its default), or a ZipfitError naming what is
    wrong and what can."""
    if joint is None:
        return "concat" if backend(name).conditional is None else "conditional"
    if joint not in JOINTS:
        raise ZipfitError(f"--joint: choose from {JOINTS}, got {joint!r}")
    if joint == "conditional" and backend(name).conditional is None:
        able = ", ".join(b.name for b in BACKENDS.values() if b.conditional is not None)
        raise ZipfitError(
            f"--joint conditional: {name} has no call that compresses with a dictionary; "
            f"choose from {able}"
        )
    return joint


def resolve_level(name: str, level: int | None) -> int:
    """Return the level to use for ``name``, or raise ZipfitError naming what is wrong."""
    spec = backend(name)
    if level is None:
        return spec.default_level
    if isinstance(level, bool) or not isinstance(level, int):
        raise ZipfitError(f"--level: must be an integer, got {level!r}")
    if not spec.min_level <= level <= spec.max_level:
        raise ZipfitError(
            f"--level: {name} accepts levels {spec.min_level}..{spec.max_level}, got {level}"
        )
    return level


def parse_settings(text: str, flag: str) -> list[tuple[str, int, str]]:
    """Compressors, levels and joints written NAME[:LEVEL[:JOINT]],... (the backend's
    defaults where none are given)."""
    settings = []
    for item in filter(None, text.split(",")):
        parts = item.split(":")
        given = parts.pop() if parts[-1] in JOINTS else None
        level = parts.pop() if len(parts) > 1 and parts[-1].lstrip("-").isdigit() else None
        name = ":".join(parts)
        if name not in BACKENDS:
            raise ZipfitError(
                f"{flag}: {item!r} is not NAME[:LEVEL[:JOINT]] (NAME one of {', '.join(BACKENDS)})"
            )
        level = resolve_level(name, None if level is None else int(level))
        settings.append((name, level, resolve_joint(name, given)))
    return settings


def describe(name: str, level: int, joint: str) -> dict[str, object]:
    """What summary.json records of C(s) and the joint size: enough to compute the same
    lengths again."""
    b = backend(name)
    return {
        "compressor": name,
        "library": b.library,
        "container": b.container,
        "strategy": b.strategy,
        "level": level,
        "joint": joint,
        "versions": b.version(),
    }
