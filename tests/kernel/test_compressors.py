import gzip
import importlib.metadata
import os
import random
import zlib

import lz4.block
import numpy as np
import pytest

from zipfit_ray.errors import ZipfitError
from zipfit_ray.kernel import compressors
from zipfit_ray.kernel.backends import (
    BACKENDS,
    DEFAULT_COMPRESSOR,
    PAPER_COMPRESSOR,
    Backend,
    backend,
    describe,
    reference_size,
    resolve_level,
)
from zipfit_ray.kernel.compressors import NATIVE_LIBRARIES, PREFIX_REUSE_MIN_BYTES, Compressor


def levels(name: str) -> list[int]:
    """The lowest, default and highest level, and level 1 (fast paths start there)."""
    b = BACKENDS[name]
    return sorted({b.min_level, b.default_level, b.max_level, max(b.min_level, 1)})


def real_texts(sample_tables, n: int = 40) -> list[bytes]:
    texts = [t.encode() for t in sample_tables[0].column("text").to_pylist()[:n]]
    long = b"\n".join(texts[:12])  # past the prefix-reuse threshold
    assert len(long) > PREFIX_REUSE_MIN_BYTES
    huge = long * (70_000 // len(long) + 1)  # past lz4's 64 KB block and table reuse limit
    return [*texts, long, huge, b"", b"x", os.urandom(3000), b"\xff\xfe not utf-8 \x80"]


@pytest.mark.parametrize("name", list(BACKENDS))
def test_sizes_match_the_reference_call(name, sample_tables):
    texts = real_texts(sample_tables)
    rng = random.Random(name)
    for level in levels(name):
        compressor = Compressor(name, level, joint="concat")
        for x in texts:
            ys = rng.sample(texts, 4)
            assert compressor.size(x) == reference_size(name, x, level)
            assert compressor.pair_sizes(x, ys) == [reference_size(name, x + y, level) for y in ys]


@pytest.mark.parametrize("name", list(BACKENDS))
@pytest.mark.parametrize("native", [True, False])
def test_pair_size_matrix_is_the_reference_with_and_without_the_c_kernel(
    name, native, sample_tables
):
    texts = real_texts(sample_tables, n=25)
    for level in levels(name):
        compressor = Compressor(name, level, native=native, joint="concat")
        expected = [[reference_size(name, x + y, level) for y in texts[:7]] for x in texts]
        got = compressor.pair_size_matrix(texts, texts[:7])
        assert got.dtype == np.int64 and got.tolist() == expected


def test_the_references_are_the_libraries_own_calls():
    data = b"def f(x):\n    return x + 1\n" * 20
    assert reference_size("gzip", data, 9) == len(gzip.compress(data, compresslevel=9))
    assert reference_size("deflate", data, 6) == len(zlib.compress(data, 6, wbits=-15))
    assert reference_size("lz4-block", data, 0) == len(lz4.block.compress(data, store_size=False))
    # the containers' constants are what the container-free formats leave out
    assert reference_size("gzip", data, 6) - reference_size("deflate", data, 6) == 18
    assert reference_size("zlib", data, 6) - reference_size("deflate", data, 6) == 6
    fixed = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_FIXED)
    assert reference_size("deflate-fixed", data, 6) == len(fixed.compress(data) + fixed.flush())


def test_the_c_kernel_is_built_and_runs_the_bindings_libraries():
    assert compressors._native is not None, "zipfit_ray._native was not built (gcc, zlib.h?)"
    assert {"zlib", "lz4"} <= NATIVE_LIBRARIES
    assert (
        Compressor("gzip", 9, joint="concat").native
        and not Compressor("gzip", 0, joint="concat").native
    )
    assert (
        Compressor("deflate-fixed", 1, joint="concat").native
        and Compressor("lz4-block", 0, joint="concat").native
    )
    assert not Compressor("lz4-block", 9, joint="concat").native  # LZ4HC stays in Python
    assert (
        not Compressor("zstd", joint="concat").native
        and not Compressor("lz4", native=False, joint="concat").native
    )
    assert not Compressor(
        "zlib-ng:deflate", joint="concat"
    ).native  # another library than the C loop's


def test_stored_deflate_is_not_taken_from_a_copied_stream():
    # At level 0, block boundaries depend on how input is fed; sizes must still be exact.
    x, y = os.urandom(140_000), os.urandom(65_000)
    for name in ("gzip", "zlib", "deflate"):
        assert Compressor(name, 0, joint="concat").pair_sizes(x, [y]) == [
            reference_size(name, x + y, 0)
        ]


def test_default_and_paper_settings():
    assert resolve_level(PAPER_COMPRESSOR, None) == 9  # the paper's gzip level 9
    assert DEFAULT_COMPRESSOR in BACKENDS
    assert {name: resolve_level(name, None) for name in ("zlib", "lz4", "zstd")} == {
        "zlib": 6,
        "lz4": 0,
        "zstd": 3,
    }


def test_every_name_follows_the_scheme():
    formats = {"gzip": "gzip", "zlib": "zlib", "none": "deflate", "block": "lz4-block"}
    for name, b in BACKENDS.items():
        library, _, fmt = name.rpartition(":")
        assert library == ("" if b.library in ("zlib", "lz4", "zstd") else b.library)
        assert fmt.removesuffix("-fixed") == formats.get(b.container, b.library)
        assert fmt.endswith("-fixed") == (b.strategy == "fixed")


def test_describe_names_library_versions():
    described = describe("gzip", 9, "concat")
    assert described["library"] == "zlib" and described["container"] == "gzip"
    assert described["versions"]["zlib_runtime"] == zlib.ZLIB_RUNTIME_VERSION
    described = describe("lz4-block", 0, "conditional")
    assert described["versions"]["lz4"] == importlib.metadata.version("lz4")
    assert described["container"] == "block"


def test_a_missing_binding_names_its_extra():
    isal = backend("isal:deflate")
    missing = Backend(**{**isal.__dict__, "module": "no_such_isal_module"})
    extra = r"needs the isal package \(pip install 'zipfit-ray\[isal\]'\)"
    with pytest.raises(ZipfitError, match=extra):
        missing.load()


@pytest.mark.parametrize(
    ("name", "level", "message"),
    [
        ("brotli", None, "--compressor: unknown compressor 'brotli'"),
        ("gzip", 10, "--level: gzip accepts levels 0..9, got 10"),
        ("zstd", 0, "--level: zstd accepts levels 1..22, got 0"),
        ("lz4", -1, "--level: lz4 accepts levels 0..16, got -1"),
        ("isal:deflate", 4, "--level: isal:deflate accepts levels 0..3, got 4"),
        ("zlib", 2.5, "--level: must be an integer"),
    ],
)
def test_bad_compressor_or_level_is_a_user_error(name, level, message):
    with pytest.raises(ZipfitError, match=message.replace("(", r"\(").replace(".", r"\.")):
        resolve_level(name, level)


def test_the_store_only_levels_are_those_that_do_not_compress():
    text = b"def f(x):\n    return x + 1\n" * 100
    for name, b in BACKENDS.items():
        for level in range(b.min_level, b.max_level + 1):
            assert b.stores_at(level) == (reference_size(name, text, level) >= len(text)), (
                name,
                level,
            )
