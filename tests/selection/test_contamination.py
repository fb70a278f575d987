"""The contamination guard's test: a quarter of an item's word 13-grams, or most of the row's
8-grams from one item; stable hashes."""

import random
import re
import subprocess
import sys
import zlib

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from zipfit_ray.selection.contamination import (
    MIN_ROW_GRAMS,
    MIN_ROW_SHARE,
    MIN_SHARE,
    NGRAM,
    ROW_NGRAM,
    SHARE_OF_ITEM,
    SHARE_OF_ROW,
    WORD,
    ContaminationIndex,
    gram_hashes,
    word_ids,
)

ITEM = b'''def has_close_elements(numbers: list, threshold: float) -> bool:
    """Check if in given list of numbers, are any two numbers closer to each other than
    given threshold."""
    for idx, elem in enumerate(numbers):
        for idx2, elem2 in enumerate(numbers):
            if idx != idx2:
                distance = abs(elem - elem2)
                if distance < threshold:
                    return True
    return False
'''
# HumanEval/16, prompt then solution (its long line wrapped): the second half of its lines
# is 9 words, too short to hold a 13-gram
SHORT_ITEM = b'''
def count_distinct_characters(string: str) -> int:
    """ Given a string, find out how many distinct characters (regardless of case) does it
    consist of
    >>> count_distinct_characters('xyzXYZ')
    3
    >>> count_distinct_characters('Jerry')
    4
    """
    return len(set(string.lower()))
'''
OTHER = b"The quick brown fox jumps over the lazy dog near the river bank today. " * 4


def second_half(text: bytes) -> bytes:
    lines = text.splitlines()
    return b"\n".join(lines[len(lines) // 2 :])


def other_text(size: int, seed: int = 0) -> bytes:
    """``size`` bytes of prose-like text that shares no word with the items above."""
    rng = random.Random(seed)
    vocabulary = [f"word{i}" for i in range(2000)]
    words = []
    while sum(len(w) + 1 for w in words) < size:
        words.append(rng.choice(vocabulary))
    return " ".join(words).encode()


def test_an_item_is_found_however_it_is_planted():
    first = b"Write a function that returns the n-th Fibonacci number, counting from one."
    index = ContaminationIndex({"humaneval": [first, ITEM]})
    reformatted = b"\n".join(line.strip() + b"  " for line in ITEM.splitlines())
    planted = {
        "exact copy": ITEM,
        "whitespace and case": reformatted.upper(),
        "inside another text": OTHER + ITEM + OTHER,
        "its last lines": b"\n".join(ITEM.splitlines()[3:]),
        "its second half": second_half(ITEM),
    }
    for kind, text in planted.items():
        found = index.check(text)
        assert found is not None, kind
        assert (found.set_name, found.item) == ("humaneval", 1), kind
        assert found.excerpt.startswith("def has_close"), kind
        assert found.item_share >= MIN_SHARE or found.row_share > MIN_ROW_SHARE, kind
    exact = index.check(ITEM)
    assert (exact.item_share, exact.row_share, exact.rule) == (1.0, 1.0, SHARE_OF_ITEM)
    assert index.check(b"def f(numbers):\n    return sorted(numbers)\n" * 3) is None


def test_a_short_copy_is_flagged_by_the_share_of_the_row():
    index = ContaminationIndex({"humaneval": [ITEM, SHORT_ITEM]})
    fragment = second_half(SHORT_ITEM)
    assert len(word_ids(fragment)) == 9 and len(gram_hashes(word_ids(fragment), NGRAM)) == 0
    found = index.check(fragment)
    assert (found.item, found.rule, found.row_share) == (1, SHARE_OF_ROW, 1.0)
    assert found.item_share < MIN_SHARE  # the first rule alone lets it through
    without_row_rule = ContaminationIndex({"humaneval": [ITEM, SHORT_ITEM]}, min_row_share=1)
    assert without_row_rule.check(fragment) is None
    # most of the row, not all of it: 2 of its 3 8-grams are the item's, then 2 of 5
    assert index.check(b"# Solution\n" + fragment).row_share == 2 / 3
    assert index.check(b"# from a notebook\n" + fragment) is None
    assert index.check(OTHER + fragment) is None


def test_tiny_rows_are_not_judged_by_the_share_of_the_row():
    index = ContaminationIndex({"humaneval": [SHORT_ITEM]})
    eight_words = b"\n".join(second_half(SHORT_ITEM).splitlines()[1:])  # without its "3"
    assert len(word_ids(eight_words)) == ROW_NGRAM + MIN_ROW_GRAMS - 2  # one 8-gram: too few
    assert index.check(eight_words) is None
    assert index.check(b"3\n" + eight_words) is not None  # nine words: two 8-grams
    assert index.check(b'    """\n    return len(set(string.lower()))') is None


def test_rewrapped_text_is_the_same_words():
    """Cut into lines of 8 words (marin #6852: line-based 13-gram guards fail there); words
    ignore line breaks, so every n-gram survives."""
    index = ContaminationIndex({"humaneval": [ITEM]})
    words = WORD.findall(ITEM.decode())
    lines = [" ".join(words[i : i + 8]) for i in range(0, len(words), 8)]
    found = index.check("\n".join(lines).encode())
    assert (found.item_share, found.row_share) == (1.0, 1.0)
    halved = index.check("\n".join(lines[len(lines) // 2 :]).encode())
    assert halved is not None and halved.row_share == 1.0


def test_an_item_inside_100_kb_of_other_text():
    index = ContaminationIndex({"humaneval": [ITEM]})
    host = other_text(100_000)
    row = host[: len(host) // 2] + b"\n" + ITEM + b"\n" + host[len(host) // 2 :]
    found = index.check(row)
    assert (found.rule, found.item_share) == (SHARE_OF_ITEM, 1.0)
    assert found.row_share < 0.01  # the row is almost all its own text
    assert index.check(host) is None


def rename(text: bytes, names: dict[str, str]) -> bytes:
    pattern = re.compile(rb"\b(" + b"|".join(n.encode() for n in names) + rb")\b")
    return pattern.sub(lambda m: names[m.group().decode()].encode(), text)


def test_renamed_identifiers_documented_limit():
    """Word n-grams compare words: one name renamed (the function's) leaves most n-grams
    whole, so the copy is found; every identifier renamed (in its docstring too) breaks
    every 13-gram and nearly every 8-gram, so it is not (docs/trust.md)."""
    index = ContaminationIndex({"humaneval": [ITEM]})
    one = rename(ITEM, {"has_close_elements": "any_two_close"})
    assert index.check(one).item_share >= 0.75
    every = {
        "has_close_elements": "close_pair", "numbers": "values", "threshold": "limit",
        "idx": "i", "idx2": "j", "elem": "a", "elem2": "b", "distance": "gap",
    }  # fmt: skip
    renamed = rename(ITEM, every)
    assert rename(renamed, {v: k for k, v in every.items()}) == ITEM
    assert index.check(renamed) is None
    anything = ContaminationIndex({"humaneval": [ITEM]}, min_share=2, min_row_share=0)
    left = anything.check(renamed)  # what is left to find at any threshold: next to nothing
    assert left.item_share == 0 and left.row_share < 0.05


def test_a_few_shared_words_are_not_an_item():
    index = ContaminationIndex({"targets": [ITEM]})
    boilerplate = b"for idx, elem in enumerate(numbers):\n    print(idx)\n" * 5
    assert index.check(boilerplate) is None
    assert index.check(b"") is None


def test_short_items_are_one_ngram_and_tiny_ones_are_not_indexed():
    short = b"print the sum of two integers read from the input"  # 10 words
    index = ContaminationIndex({"targets": [short, b"return x + 1"]})
    assert len(index.items) == 1  # 4 words: too generic to index
    found = index.check(b"# Print the SUM of two integers, read from the input!\nx = 1")
    assert (found.item_share, found.rule) == (1.0, SHARE_OF_ITEM)
    assert index.check(b"print the sum of two integers") is None


def naive_gram_hashes(ids: list[int], n: int) -> list[int]:
    """The polynomial over n consecutive word ids, base 1,000,003, modulo 2**64."""
    return [
        sum(w * 1_000_003 ** (n - 1 - j) for j, w in enumerate(ids[i : i + n])) % 2**64
        for i in range(len(ids) - n + 1)
    ]


@given(
    ids=st.lists(st.integers(0, 2**32 - 1), max_size=60),
    n=st.sampled_from([1, 2, ROW_NGRAM, NGRAM]),
)
def test_gram_hashes_are_the_polynomial(ids, n):
    found = gram_hashes(np.array(ids, dtype=np.uint64), n)
    assert found.tolist() == naive_gram_hashes(ids, n)


def test_long_rows_hash_as_short_ones_do():
    ids = np.random.default_rng(3).integers(0, 2**32, 3000).astype(np.uint64)
    assert gram_hashes(ids, NGRAM)[2900:].tolist() == naive_gram_hashes(ids[2900:].tolist(), NGRAM)


def test_words_of_ascii_and_other_text():
    text = "Naïve CAFÉ—costs €3, «Straße» x_1".encode()
    words = ["naïve", "café", "costs", "3", "straße", "x_1"]
    assert word_ids(text).tolist() == [zlib.crc32(w.encode()) for w in words]
    assert word_ids(b"Has_Close(x, 2)").tolist() == [
        zlib.crc32(w) for w in (b"has_close", b"x", b"2")
    ]


def test_hashes_are_the_same_in_every_process():
    here = [gram_hashes(word_ids(ITEM), n).tolist() for n in (NGRAM, ROW_NGRAM)]
    code = (
        "from zipfit_ray.selection.contamination import gram_hashes, word_ids; "
        f"print([gram_hashes(word_ids({ITEM!r}), n).tolist() for n in ({NGRAM}, {ROW_NGRAM})])"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert there.returncode == 0, there.stderr
    assert eval(there.stdout) == here and all(len(set(h)) == len(h) for h in here)


def test_an_empty_index_flags_nothing():
    assert ContaminationIndex({}).check(ITEM) is None
    assert gram_hashes(np.arange(3, dtype=np.uint64), 13).size == 0
