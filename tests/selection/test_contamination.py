"""The contamination guard's test: word 13-grams, a share of an item's, stable hashes."""

import subprocess
import sys

import numpy as np

from zipfit_ray.selection.contamination import (
    MIN_SHARE,
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
OTHER = b"The quick brown fox jumps over the lazy dog near the river bank today. " * 4


def test_an_item_is_found_however_it_is_planted():
    first = b"Write a function that returns the n-th Fibonacci number, counting from one."
    index = ContaminationIndex({"humaneval": [first, ITEM]})
    reformatted = b"\n".join(line.strip() + b"  " for line in ITEM.splitlines())
    planted = {
        "exact copy": ITEM,
        "whitespace and case": reformatted.upper(),
        "inside another text": OTHER + ITEM + OTHER,
        "its last lines": b"\n".join(ITEM.splitlines()[3:]),
    }
    for kind, text in planted.items():
        found = index.check(text)
        assert found is not None, kind
        assert (found.set_name, found.item) == ("humaneval", 1), kind
        assert found.share >= MIN_SHARE and found.excerpt.startswith("def has_close")
    assert index.check(ITEM).share == 1.0
    assert index.check(b"def f(numbers):\n    return sorted(numbers)\n" * 3) is None


def test_a_few_shared_words_are_not_an_item():
    index = ContaminationIndex({"targets": [ITEM]})
    boilerplate = b"for idx, elem in enumerate(numbers):\n    print(idx)\n" * 5
    assert index.check(boilerplate) is None
    assert index.check(b"") is None


def test_short_items_are_one_ngram_and_tiny_ones_are_not_indexed():
    short = b"print the sum of two integers read from the input"  # 10 words
    index = ContaminationIndex({"targets": [short, b"return x + 1"]})
    assert len(index.items) == 1  # 4 words: too generic to index
    assert index.check(b"# Print the SUM of two integers, read from the input!\nx = 1").share == 1
    assert index.check(b"print the sum of two integers") is None


def test_hashes_are_the_same_in_every_process():
    here = gram_hashes(word_ids(ITEM), 13).tolist()
    code = (
        "from zipfit_ray.selection.contamination import gram_hashes, word_ids; "
        f"print(gram_hashes(word_ids({ITEM!r}), 13).tolist())"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert there.returncode == 0, there.stderr
    assert eval(there.stdout) == here and len(set(here)) == len(here)


def test_an_empty_index_flags_nothing():
    assert ContaminationIndex({}).check(ITEM) is None
    assert gram_hashes(np.arange(3, dtype=np.uint64), 13).size == 0
