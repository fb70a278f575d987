"""The contamination guard: does a pool row hold a target or benchmark item, verbatim,
reformatted, in part, or inside a larger text?

The test is word n-gram overlap, as GPT-3's decontamination and datatrove's filter do it:
texts are lower-cased and cut into words (runs of letters, digits and underscores, so
whitespace, line breaks, indentation and punctuation do not matter). A row is flagged by
either of two rules (benchmarks/contamination.py measured both; docs/trust.md has the
recall and false flags):

- **share of item**: the row holds at least MIN_SHARE of some item's n-grams (n = NGRAM,
  GPT-3's 13). The share, rather than a single shared n-gram, keeps boilerplate (licence
  headers, import blocks, docstring conventions) from flagging long clean rows. Items
  shorter than NGRAM words are indexed as one n-gram of all their words.
- **share of row**: more than MIN_ROW_SHARE of the row's own ROW_NGRAM-grams come from one
  item. This catches short copies (the second half of a short function, one paragraph of
  an item), which hold too few of the item's 13-grams for the first rule, or none at all:
  a 9-word fragment has no 13-gram. Rows with fewer than MIN_ROW_GRAMS distinct
  ROW_NGRAM-grams (fewer than 9 words) are not judged by it. Measured on short rows (the
  last 1 to 4 lines of the harness's rows): a floor of 1 (8 words) flagged 13 clean rows
  against the math targets where 2 flags 7 (34 against the Python targets either way:
  shared docstrings), and what it adds at 8 words is boilerplate such as the last lines of
  a codec module, which a hundred modules share; 2 still catches the shortest short copy
  met in practice (9 words of a HumanEval item: its doctest's last lines and its return).

Hashes are stable across processes (CRC32 words, a polynomial over them in uint64), so the
index built by the driver is what every task checks against. A check hashes the row's words
once and reads both n-gram sizes from one prefix sum; no Python loop runs per n-gram.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

NGRAM = 13  # words per n-gram of the share-of-item rule (GPT-3's)
MIN_SHARE = 0.25  # of an item's n-grams a row must hold (benchmarks/contamination.py)
ROW_NGRAM = 8  # words per n-gram of the share-of-row rule
MIN_ROW_SHARE = 0.5  # a row is flagged when more than this share of its n-grams is one item's
MIN_ROW_GRAMS = 2  # distinct ROW_NGRAM-grams a row needs to be judged by the share of row
MIN_WORDS = 8  # shorter items are too generic to index ("return x")
VERSION = 2  # of the guard's rules: bump it when they flag other rows (a resumed job's shards)
# what decides which rows the guard flags, beside the items: in the resume fingerprint
RULES = (VERSION, NGRAM, MIN_SHARE, ROW_NGRAM, MIN_ROW_SHARE, MIN_ROW_GRAMS, MIN_WORDS)
SHARE_OF_ITEM, SHARE_OF_ROW = "share of item", "share of row"  # Match.rule
WORD = re.compile(r"\w+")
_ASCII_WORD = re.compile(rb"[A-Za-z0-9_]+")  # what WORD finds in ASCII text, on bytes
_BASE = 1_000_003  # the polynomial's base (odd: invertible); arithmetic wraps at 2**64


@dataclass(frozen=True)
class Match:
    """The item a row holds: its set's name, its position in the set, the share of the
    item's NGRAM-grams the row holds, the share of the row's ROW_NGRAM-grams that are the
    item's, the rule that flagged it (SHARE_OF_ITEM or SHARE_OF_ROW), and the item's start
    (for people to read)."""

    set_name: str
    item: int
    item_share: float
    row_share: float
    rule: str
    excerpt: str


def word_ids(text: bytes) -> np.ndarray:
    """The text's words, lower-cased, as stable 32-bit ids."""
    if text.isascii():  # the same words as WORD finds, without decoding
        words = _ASCII_WORD.findall(text.lower())
    else:
        decoded = text.decode("utf-8", errors="replace").lower()
        words = [w.encode() for w in WORD.findall(decoded)]
    return np.fromiter(map(zlib.crc32, words), np.uint64, len(words))


@cache
def _powers(size_class: int) -> tuple[np.ndarray, np.ndarray]:
    """_BASE**k and _BASE**-k modulo 2**64 for k < 2**size_class."""
    found = []
    for base in (_BASE, pow(_BASE, -1, 2**64)):
        powers = np.ones(1 << size_class, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.cumprod(np.full(len(powers) - 1, base, dtype=np.uint64), out=powers[1:])
        found.append(powers)
    return found[0], found[1]


def _prefix_sums(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What every window's hash is read from: the running sum of id_k * _BASE**-k, and the
    powers of _BASE."""
    powers, inverse = _powers(max(10, len(ids).bit_length()))  # one table for rows < 1,024 words
    prefix = np.zeros(len(ids) + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.cumsum(ids * inverse[: len(ids)], dtype=np.uint64, out=prefix[1:])
    return prefix, powers


def _windows(prefix: np.ndarray, powers: np.ndarray, n: int) -> np.ndarray:
    """The hash of every run of n consecutive words: sum of id_(i+j) * _BASE**(n-1-j)."""
    words = len(prefix) - 1
    if words < n:
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return powers[n - 1 : words] * (prefix[n:] - prefix[:-n])


def gram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """A hash of every run of n consecutive words (none if there are fewer)."""
    return _windows(*_prefix_sums(ids), n)


def _distinct(hashes: np.ndarray) -> np.ndarray:
    """The hashes sorted, each once (np.unique without its overhead)."""
    ordered = np.sort(hashes)
    keep = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


class _GramTable:
    """The distinct n-grams of every indexed item, sorted, with the item each belongs to."""

    def __init__(self, per_item: list[np.ndarray]) -> None:
        found = np.concatenate(per_item) if per_item else np.empty(0, dtype=np.uint64)
        owners = np.repeat(np.arange(len(per_item)), [len(g) for g in per_item])
        order = np.argsort(found, kind="stable")
        self.hashes, self.owners = found[order], owners[order]
        self.sizes = np.array([len(g) for g in per_item], dtype=np.float64)
        # from the first entry of each hash, how many entries hold it (items share some)
        edges = np.ones(len(self.hashes) + 1, dtype=bool)
        np.not_equal(self.hashes[1:], self.hashes[:-1], out=edges[1:-1])
        starts = np.flatnonzero(edges)
        self.run = np.zeros(len(self.hashes), dtype=np.int64)
        self.run[starts[:-1]] = np.diff(starts)

    def held(self, grams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The items holding any of ``grams`` (distinct hashes), and how many each holds."""
        first = np.searchsorted(self.hashes, grams)
        first = first[self.hashes.take(first, mode="clip") == grams]
        found = self.run[first]  # every entry of each hit: first[i] .. first[i] + found[i] - 1
        entries = np.repeat(first - np.cumsum(found) + found, found) + np.arange(found.sum())
        counts = np.bincount(self.owners[entries])
        holders = np.flatnonzero(counts)
        return holders, counts[holders]


class ContaminationIndex:
    """Every n-gram of every item of the named sets (the targets, the --eval-sets), at both
    rules' sizes."""

    def __init__(
        self,
        sets: Mapping[str, Sequence[bytes]],
        n: int = NGRAM,
        min_share: float = MIN_SHARE,
        min_row_share: float = MIN_ROW_SHARE,
        min_row_grams: int = MIN_ROW_GRAMS,
    ) -> None:
        self.n, self.min_share = n, min_share
        self.min_row_share, self.min_row_grams = min_row_share, min_row_grams
        self.items: list[tuple[str, int, str]] = []  # (set name, item, excerpt)
        item_grams, row_grams, words_per_item = [], [], []
        for set_name, texts in sets.items():
            for position, text in enumerate(texts):
                ids = word_ids(text)
                if len(ids) < MIN_WORDS:
                    continue
                prefix, powers = _prefix_sums(ids)
                item_grams.append(_distinct(_windows(prefix, powers, min(n, len(ids)))))
                row_grams.append(_distinct(_windows(prefix, powers, ROW_NGRAM)))
                excerpt = text[:200].decode("utf-8", errors="replace")
                self.items.append((set_name, position, excerpt))
                words_per_item.append(len(ids))
        self.item_grams, self.row_grams = _GramTable(item_grams), _GramTable(row_grams)
        # items shorter than n words are one n-gram of their length: rows are cut to those too
        self.short_lengths = sorted({w for w in words_per_item if w < n})

    def check(self, text: bytes) -> Match | None:
        """The item this row holds, or None. By the share of item when some item passes it
        (the item whose largest share the row holds), else by the share of row (the item
        most of the row comes from); ties go to the first item listed."""
        if not self.items:
            return None
        prefix, powers = _prefix_sums(word_ids(text))
        sizes = [self.n, *self.short_lengths]
        item_sized = _distinct(np.concatenate([_windows(prefix, powers, k) for k in sizes]))
        item_holders, item_held = self.item_grams.held(item_sized)
        item_shares = item_held / self.item_grams.sizes[item_holders]
        row_sized = _distinct(_windows(prefix, powers, ROW_NGRAM))
        row_holders, row_held = self.row_grams.held(row_sized)
        row_shares = row_held / max(len(row_sized), 1)
        judged_by_row = len(row_sized) >= self.min_row_grams
        if item_shares.max(initial=0) >= self.min_share:
            rule, best = SHARE_OF_ITEM, int(item_holders[np.argmax(item_shares)])
        elif judged_by_row and row_shares.max(initial=0) > self.min_row_share:
            rule, best = SHARE_OF_ROW, int(row_holders[np.argmax(row_shares)])
        else:
            return None
        set_name, position, excerpt = self.items[best]
        item_share = item_shares[item_holders == best].sum()  # 0 if it holds none
        row_share = row_shares[row_holders == best].sum()
        return Match(set_name, position, float(item_share), float(row_share), rule, excerpt)
