"""The conditional joint size, C(x) + C(y | x): every backend with a dictionary call gives
exactly its library's one-shot call, with and without the C loop; the rest refuse it."""

import os
import random
import zlib

import lz4.block
import numpy as np
import pytest
import zstandard

from tests.kernel.test_compressors import levels, real_texts
from tests.naive import naive_alignment
from zipfit_ray import SelectConfig, ZipfitError, alignment
from zipfit_ray.kernel.backends import BACKENDS, reference_joint_size, reference_size
from zipfit_ray.kernel.compressors import NATIVE_LIBRARIES, Compressor

CONDITIONAL = [name for name, b in BACKENDS.items() if b.conditional is not None]


def fuzzed_texts(seed: int, n: int = 30) -> list[bytes]:
    """Texts of every size from empty to past LZ4's 64 KB window, sharing substrings (so
    the dictionary matters), random bytes among them."""
    rng = random.Random(seed)
    words = [os.urandom(rng.randint(1, 12)) for _ in range(60)] + [b"def ", b"return ", b"\n"]
    texts = []
    for _ in range(n):
        length = rng.choice([0, 1, 7, 60, 300, 1500, 5000, 20_000, 70_000])
        text = b""
        while len(text) < length:
            text += rng.choice(words) if rng.random() < 0.9 else os.urandom(rng.randint(1, 40))
        texts.append(text[:length])
    return texts


def test_conditional_needs_a_dictionary_call():
    assert set(CONDITIONAL) == {
        "zlib", "deflate", "deflate-fixed", "zlib-ng:deflate", "zlib-ng:deflate-fixed",
        "isal:deflate", "lz4-block", "zstd",
    }  # fmt: skip
    for name in ("gzip", "lz4", "libdeflate:deflate", "isal:gzip"):
        with pytest.raises(ZipfitError, match=f"--joint conditional: {name} has no call that"):
            Compressor(name, joint="conditional")
    with pytest.raises(ZipfitError, match="--joint conditional: lz4 has no call"):
        SelectConfig.from_flags(
            pool=("p",), targets="t", out="o", k=1, compressor="lz4", joint="conditional"
        )
    with pytest.raises(ZipfitError, match=r"--joint: choose from \('concat', 'conditional'\)"):
        Compressor("zstd", joint="dictionary")


def test_the_references_are_the_libraries_own_dictionary_calls():
    x, y = b"def f(x):\n    return x + 1\n" * 20, b"def g(y):\n    return y + 1\n" * 3
    stream = zlib.compressobj(9, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict=x)
    given = len(stream.compress(y) + stream.flush())
    assert reference_joint_size("deflate", x, y, 9, "conditional") == (
        reference_size("deflate", x, 9) + given
    )
    given = len(lz4.block.compress(y, store_size=False, dict=x))
    assert reference_joint_size("lz4-block", x, y, 0, "conditional") == (
        reference_size("lz4-block", x, 0) + given
    )
    raw = zstandard.ZstdCompressionDict(x, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    given = len(zstandard.ZstdCompressor(level=3, dict_data=raw).compress(y))
    assert reference_joint_size("zstd", x, y, 3, "conditional") == (
        reference_size("zstd", x, 3) + given
    )
    # the candidate is the dictionary, not the target: the other direction differs
    assert reference_joint_size("zstd", x, y, 3, "conditional") != (
        reference_joint_size("zstd", y, x, 3, "conditional")
    )


@pytest.mark.parametrize("name", CONDITIONAL)
@pytest.mark.parametrize("native", [True, False])
def test_pair_sizes_are_the_reference_with_and_without_the_c_loop(name, native, sample_tables):
    texts = real_texts(sample_tables, n=20)
    for level in levels(name):
        compressor = Compressor(name, level, native=native, joint="conditional")
        expected = [
            [reference_joint_size(name, x, y, level, "conditional") for y in texts[:6]]
            for x in texts
        ]
        assert compressor.pair_size_matrix(texts, texts[:6]).tolist() == expected
        assert compressor.pair_sizes(texts[3], texts[:6]) == expected[3]


@pytest.mark.parametrize("name", ["deflate", "deflate-fixed", "zlib", "lz4-block", "zstd"])
def test_the_c_loop_is_exact_on_a_fuzzed_corpus(name):
    xs, ys = fuzzed_texts(seed=len(name)), fuzzed_texts(seed=99, n=12)
    for level in levels(name):
        compressor = Compressor(name, level, joint="conditional")
        if not compressor.native:
            continue
        expected = [
            [reference_joint_size(name, x, y, level, "conditional") for y in ys] for x in xs
        ]
        assert compressor.pair_size_matrix(xs, ys).tolist() == expected, (name, level)


def test_the_c_loop_runs_every_dictionary_library_it_can():
    assert {"zlib", "lz4", "zstd"} <= NATIVE_LIBRARIES
    for name, level in (("deflate", 9), ("lz4-block", 0), ("zstd", 3), ("zstd", 22)):
        assert Compressor(name, level, joint="conditional").native
    assert not Compressor("lz4-block", 9, joint="conditional").native  # LZ4HC: Python
    assert not Compressor("deflate", 0, joint="conditional").native  # stored blocks: Python


def test_what_the_dictionaries_keep_of_a_long_candidate():
    """LZ4 keeps the last 64 KB of x, deflate the last 32 KB: --max-bytes beyond them still
    counts in C(x), not in C(y | x)."""
    x, y = os.urandom(20_000) * 5, os.urandom(500) + b"tail"
    lz4_block, deflate = (
        Compressor("lz4-block", joint="conditional"),
        Compressor("deflate", joint="conditional"),
    )
    assert lz4_block.conditional_sizes(x, [y]) == lz4_block.conditional_sizes(x[-65536:], [y])
    assert deflate.conditional_sizes(x, [y]) == deflate.conditional_sizes(x[-32768:], [y])
    assert lz4_block.pair_sizes(x, [y]) != lz4_block.pair_sizes(x[-65536:], [y])  # C(x) counts


@pytest.mark.parametrize("name", ["lz4-block", "zstd", "deflate"])
def test_scores_are_the_naive_formula(name, corpus):
    candidates = [t for t in corpus.texts if t is not None][:30]
    level = BACKENDS[name].default_level
    got = alignment(candidates, corpus.targets, compressor=name, joint="conditional")
    expected = [naive_alignment(x, corpus.targets, name, level, "conditional") for x in candidates]
    assert np.max(np.abs(got - expected)) <= 1e-12
    again = alignment(candidates, corpus.targets, compressor=name, joint="conditional")
    assert got.tobytes() == again.tobytes()  # bit-identical from run to run
