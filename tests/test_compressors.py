import os
import random

import numpy as np
import pytest

from zipfit_ray import compressors
from zipfit_ray.compressors import (
    NATIVE_BACKENDS,
    PREFIX_REUSE_MIN_BYTES,
    REFERENCE,
    SPECS,
    Compressor,
    resolve_level,
)
from zipfit_ray.errors import ZipfitError

LEVELS = {"gzip": [1, 6, 9, 0], "zlib": [1, 6, 9, 0], "lz4": [0, 3, 16], "zstd": [1, 3, 19]}


def real_texts(sample_tables, n: int = 40) -> list[bytes]:
    texts = [t.encode() for t in sample_tables[0].column("text").to_pylist()[:n]]
    long = b"\n".join(texts[:12])  # past the prefix-reuse threshold
    assert len(long) > PREFIX_REUSE_MIN_BYTES
    huge = long * (70_000 // len(long) + 1)  # past lz4's 64 KB block and table reuse limit
    return [*texts, long, huge, b"", b"x", os.urandom(3000), b"\xff\xfe not utf-8 \x80"]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_sizes_match_the_reference_call(name, sample_tables):
    texts = real_texts(sample_tables)
    rng = random.Random(name)
    for level in LEVELS[name]:
        compressor = Compressor(name, level)
        for x in texts:
            ys = rng.sample(texts, 6)
            assert compressor.size(x) == len(REFERENCE[name](x, level))
            assert compressor.pair_sizes(x, ys) == [len(REFERENCE[name](x + y, level)) for y in ys]


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("native", [True, False])
def test_pair_size_matrix_is_the_reference_with_and_without_the_c_kernel(
    name, native, sample_tables
):
    texts = real_texts(sample_tables, n=25)
    for level in LEVELS[name]:
        compressor = Compressor(name, level, native=native)
        expected = [[len(REFERENCE[name](x + y, level)) for y in texts[:9]] for x in texts]
        got = compressor.pair_size_matrix(texts, texts[:9])
        assert got.dtype == np.int64 and got.tolist() == expected


def test_the_c_kernel_is_built_and_runs_the_bindings_libraries():
    assert compressors._native is not None, "zipfit_ray._native was not built (gcc, zlib.h?)"
    assert {"gzip", "zlib", "lz4"} <= NATIVE_BACKENDS
    assert Compressor("gzip", 9).native and not Compressor("gzip", 0).native
    assert not Compressor("zstd").native and not Compressor("lz4", native=False).native


def test_stored_deflate_is_not_taken_from_a_copied_stream():
    # At level 0, block boundaries depend on how input is fed; sizes must still be exact.
    x, y = os.urandom(140_000), os.urandom(65_000)
    for name in ("gzip", "zlib"):
        assert Compressor(name, 0).pair_sizes(x, [y]) == [len(REFERENCE[name](x + y, 0))]


def test_default_levels():
    assert {name: resolve_level(name, None) for name in SPECS} == {
        "gzip": 9,
        "zlib": 6,
        "lz4": 0,
        "zstd": 3,
    }


@pytest.mark.parametrize(
    ("name", "level", "message"),
    [
        ("brotli", None, "--compressor: unknown compressor 'brotli'"),
        ("gzip", 10, "--level: gzip accepts levels 0..9, got 10"),
        ("zstd", 0, "--level: zstd accepts levels 1..22, got 0"),
        ("lz4", -1, "--level: lz4 accepts levels 0..16, got -1"),
        ("zlib", 2.5, "--level: must be an integer"),
    ],
)
def test_bad_compressor_or_level_is_a_user_error(name, level, message):
    with pytest.raises(ZipfitError, match=message.replace("(", r"\(").replace(".", r"\.")):
        resolve_level(name, level)
