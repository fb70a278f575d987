"""The contamination guard: does a pool row hold a target or benchmark item, verbatim,
reformatted, in part, or inside a larger text?

The test is word n-gram overlap, as GPT-3's decontamination and datatrove's filter do it:
texts are lower-cased and cut into words (runs of letters, digits and underscores, so
whitespace, indentation and punctuation do not matter); an item's n-grams (n = NGRAM,
GPT-3's 13) are indexed, and a row is flagged when it holds at least MIN_SHARE of some
item's n-grams. The share, rather than a single shared n-gram, is what keeps boilerplate
(licence headers, import blocks, docstring conventions) from flagging clean rows; it was
chosen by benchmarks/contamination.py (docs/trust.md has the measured recall and false
flags). Items shorter than NGRAM words are indexed as one n-gram of all their words.

Hashes are stable across processes (CRC32 words, a polynomial over them in uint64), so the
index built by the driver is what every task checks against.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

NGRAM = 13
MIN_SHARE = 0.25  # of an item's n-grams a row must hold (benchmarks/contamination.py)
MIN_WORDS = 8  # shorter items are too generic to index ("return x")
WORD = re.compile(r"\w+")
_BASE = np.uint64(1_000_003)  # the polynomial's base; arithmetic wraps at 2**64


@dataclass(frozen=True)
class Match:
    """The item a row holds: its set's name, its position in the set, the share of its
    n-grams the row holds, and its start (for people to read)."""

    set_name: str
    item: int
    share: float
    excerpt: str


def word_ids(text: bytes) -> np.ndarray:
    """The text's words, lower-cased, as stable 32-bit ids."""
    words = WORD.findall(text.decode("utf-8", errors="replace").lower())
    return np.fromiter((zlib.crc32(w.encode()) for w in words), np.uint64, len(words))


def gram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """A hash of every run of n consecutive words (none if there are fewer)."""
    if len(ids) < n:
        return np.empty(0, dtype=np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(ids, n)
    powers = _BASE ** np.arange(n - 1, -1, -1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return (windows * powers).sum(axis=1, dtype=np.uint64)


class ContaminationIndex:
    """Every n-gram of every item of the named sets (the targets, the --eval-sets)."""

    def __init__(
        self,
        sets: Mapping[str, Sequence[bytes]],
        n: int = NGRAM,
        min_share: float = MIN_SHARE,
    ) -> None:
        self.n, self.min_share = n, min_share
        self.items: list[tuple[str, int, str]] = []  # (set name, item, excerpt)
        grams_per_item, words_per_item, hashes, owners = [], [], [], []
        for set_name, texts in sets.items():
            for position, text in enumerate(texts):
                ids = word_ids(text)
                if len(ids) < MIN_WORDS:
                    continue
                grams = np.unique(gram_hashes(ids, min(n, len(ids))))
                hashes.append(grams)
                owners.append(np.full(len(grams), len(self.items), dtype=np.int64))
                excerpt = text[:200].decode("utf-8", errors="replace")
                self.items.append((set_name, position, excerpt))
                grams_per_item.append(len(grams))
                words_per_item.append(len(ids))
        found = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
        order = np.argsort(found, kind="stable")
        self.hashes = found[order]
        self.owners = np.concatenate(owners)[order] if owners else np.empty(0, np.int64)
        self.grams_per_item = np.asarray(grams_per_item, dtype=np.float64)
        # items shorter than n words are one n-gram of their length: rows are cut to those too
        self.short_lengths = sorted({w for w in words_per_item if w < n})

    def check(self, text: bytes) -> Match | None:
        """The item this row holds the largest share of, if that share is at least
        ``min_share``; else None."""
        if len(self.hashes) == 0:
            return None
        ids = word_ids(text)
        runs = [gram_hashes(ids, self.n), *(gram_hashes(ids, k) for k in self.short_lengths)]
        grams = np.unique(np.concatenate(runs))
        first = np.searchsorted(self.hashes, grams, side="left")
        last = np.searchsorted(self.hashes, grams, side="right")
        held_by = [self.owners[a:b] for a, b in zip(first, last) if b > a]
        if not held_by:
            return None
        share = np.bincount(np.concatenate(held_by), minlength=len(self.items))
        share = share / self.grams_per_item
        best = int(np.argmax(share))  # ties: the first item listed
        if share[best] < self.min_share:
            return None
        set_name, position, excerpt = self.items[best]
        return Match(set_name, position, float(share[best]), excerpt)
