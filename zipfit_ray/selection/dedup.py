"""Near-duplicates among the selected rows: MinHash signatures of word n-grams, LSH bands,
and the rule that decides which rows go.

A row's shingles are its word n-grams (n = NGRAM, words as the contamination guard cuts
them: case, whitespace and punctuation do not matter); a text of fewer than NGRAM words is
one shingle of all its words. Its MinHash signature is the minimum of PERMUTATIONS hash
permutations over its shingles, and the signature is cut into ``bands`` bands of ``rows``
values each; two rows are near-duplicates when all values of at least one band agree. A
pair of Jaccard similarity J is so with probability 1 - (1 - J**rows)**bands, an S-curve
whose steepest point sits at the threshold (``lsh_bands`` chooses bands and rows for it).
Only the band hashes are kept (8 bytes per band and row), computed while a row is scored.

The rule, in the total order (score descending, row id ascending): a row is dropped when a
better row shares one of its buckets. The best row of every cluster of near-duplicates is
therefore kept, and whether a row is dropped depends only on rows before it, so the rows
below a cut can refill it without changing anything above (job/dedup.py).

Hashes are stable across processes (fixed seeds, CRC32 words), so every task and every
run computes the same bands.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from zipfit_ray.selection import order

NGRAM = 5  # words per shingle (benchmarks/dedup.py)
PERMUTATIONS = 128
PERMUTATION_SEED = 20241024
DEFAULT_THRESHOLD = 0.6  # Jaccard (benchmarks/dedup.py: near-copies of short functions)
SIGNATURE = (NGRAM, PERMUTATIONS, PERMUTATION_SEED)  # what decides a row's bands, beside it
CHUNK_VALUES = 1 << 20  # shingles x permutations hashed at once (8 MB: stays in cache)
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


@cache
def _permutations(seed: int = PERMUTATION_SEED) -> tuple[np.ndarray, np.ndarray]:
    """PERMUTATIONS affine bijections of uint64 (odd multipliers), from a fixed seed (other
    seeds: benchmarks/dedup.py, to see how much a count owes to the draw)."""
    rng = np.random.default_rng(seed)
    multipliers = rng.integers(0, 2**63, PERMUTATIONS, dtype=np.uint64) * np.uint64(2) + 1
    offsets = rng.integers(0, 2**63, PERMUTATIONS, dtype=np.uint64)
    return multipliers, offsets


def _word_table() -> tuple[np.ndarray, np.ndarray]:
    """Per byte value: is it part of a word (ASCII letters, digits, underscore, any
    non-ASCII byte), and its lower-case."""
    word = np.zeros(256, dtype=bool)
    for low, high in ((48, 57), (65, 90), (95, 95), (97, 122), (128, 255)):
        word[low : high + 1] = True
    lower = np.arange(256, dtype=np.uint64)
    lower[65:91] += 32
    return word, lower


_IS_WORD, _LOWER = _word_table()
_BYTE_BASE = 0x100000001B3  # odd, so invertible modulo 2**64
_BYTE_BASE_INVERSE = pow(_BYTE_BASE, -1, 2**64)
_GRAM_BASE = np.uint64(1_000_003)


def shingles(texts: Sequence[bytes], ngram: int = NGRAM) -> tuple[np.ndarray, np.ndarray]:
    """Every text's shingles as uint64 hashes, concatenated (never none for a text; a
    shingle seen twice is there twice), and where each text's starts. Vectorized over the
    whole batch: the words' hashes come from prefix sums of a polynomial over the bytes."""
    joined = np.frombuffer(b" ".join(texts) + b" ", dtype=np.uint8)
    starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
    is_word = _IS_WORD[joined]
    edges = np.diff(is_word.astype(np.int8), prepend=np.int8(0))
    first, last = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # [first, last)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(len(joined), _BYTE_BASE, dtype=np.uint64))
        inverse = np.cumprod(np.full(len(joined), _BYTE_BASE_INVERSE, dtype=np.uint64))
        prefix = np.zeros(len(joined) + 1, dtype=np.uint64)
        np.cumsum(_LOWER[joined] * powers, dtype=np.uint64, out=prefix[1:])
        words = order.mix64((prefix[last] - prefix[first]) * inverse[first])
        text_of_word = np.searchsorted(starts, first, side="right") - 1
        counts = np.bincount(text_of_word, minlength=len(texts))
        n = np.minimum(counts, ngram)[text_of_word]  # a short text: one gram of all its words
        grams = np.zeros(len(words), dtype=np.uint64)
        for k in range(ngram):  # gram i: words i .. i + n - 1 of one text
            inside = np.flatnonzero(k < n)
            at = inside + k
            inside, at = inside[at < len(words)], at[at < len(words)]
            grams[inside] = grams[inside] * _GRAM_BASE + words[at]
    word_starts = np.concatenate([[0], np.cumsum(counts)])
    complete = np.arange(len(words)) + n <= word_starts[text_of_word + 1]
    owner, grams = text_of_word[complete], order.mix64(grams[complete])
    wordless = np.flatnonzero(counts == 0)  # no words at all: the bytes themselves
    owner = np.concatenate([owner, wordless])
    grams = np.concatenate(
        [grams, [zlib.crc32(texts[i]) | (len(texts[i]) << 32) for i in wordless]]
    ).astype(np.uint64)
    ordered = np.argsort(owner, kind="stable")  # the wordless ones into their places
    return grams[ordered], np.searchsorted(owner[ordered], np.arange(len(texts)))


def signatures(texts: Sequence[bytes]) -> np.ndarray:
    """MinHash signatures, (len(texts), PERMUTATIONS) uint64."""
    multipliers, offsets = _permutations()
    if not texts:
        return np.empty((0, PERMUTATIONS), dtype=np.uint64)
    grams, starts = shingles(texts)
    bounds = [*starts.tolist(), len(grams)]
    out = np.empty((len(texts), PERMUTATIONS), dtype=np.uint64)
    first = 0
    while first < len(texts):  # texts in chunks of about CHUNK_VALUES hashed values
        last = int(np.searchsorted(bounds, bounds[first] + CHUNK_VALUES // PERMUTATIONS))
        last = min(max(last, first + 1), len(texts))
        chunk = grams[bounds[first] : bounds[last]]
        with np.errstate(over="ignore"):
            hashed = multipliers[:, None] * chunk[None, :]
            hashed += offsets[:, None]
        local = np.array(bounds[first:last]) - bounds[first]
        out[first:last] = np.minimum.reduceat(hashed, local, axis=1).T
        first = last
    return out


@dataclass(frozen=True)
class Bands:
    """How a signature is cut: ``bands`` bands of ``rows`` values (bands x rows <=
    PERMUTATIONS)."""

    bands: int
    rows: int

    def probability(self, jaccard: float | np.ndarray) -> float | np.ndarray:
        """The chance that a pair of this Jaccard similarity is called a near-duplicate."""
        return 1 - (1 - np.asarray(jaccard) ** self.rows) ** self.bands

    def fields(self) -> list[str]:
        """The entry fields the band hashes are saved in."""
        return [f"band_{i}" for i in range(self.bands)]

    def hashes(self, texts: Sequence[bytes]) -> np.ndarray:
        """(len(texts), bands) uint64: one hash per band of each text's signature, with
        the band's index mixed in (equal values in different bands are not a match)."""
        found = signatures(texts)[:, : self.bands * self.rows]
        banded = found.reshape(len(texts), self.bands, self.rows)
        hashed = np.zeros((len(texts), self.bands), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(self.rows):
                hashed = order.mix64(hashed * np.uint64(0x100000001B3) + banded[:, :, j])
            return order.mix64(hashed + np.arange(self.bands, dtype=np.uint64))


@cache
def lsh_bands(threshold: float) -> Bands:
    """The bands and rows whose S-curve is closest to a step at ``threshold``: least area
    of false positives (below it) plus false negatives (above it), as datasketch chooses."""
    grid = np.linspace(0, 1, 1001)
    below = grid < threshold
    best, best_error = None, np.inf
    for rows in range(1, PERMUTATIONS + 1):
        candidate = Bands(PERMUTATIONS // rows, rows)
        p = candidate.probability(grid)
        error = np.trapezoid(np.where(below, p, 1 - p), grid)
        if error < best_error:
            best, best_error = candidate, error
    return best


def with_bands(entries: np.ndarray, hashes: np.ndarray, bands: Bands) -> np.ndarray:
    """Entries with their band hashes as fields band_0 ... (what scoring saves)."""
    return order.with_fields(entries, dict(zip(bands.fields(), hashes.T)))


# one row's place in one bucket, and the partition that resolves the bucket
MEMBER = np.dtype([("bucket", "<u8"), ("score", "<f8"), ("row_id", "<i8"), ("partition", "<i8")])
# a row pushed out of a bucket (its id and score) by the bucket's best row
PUSHED = np.dtype([("row_id", "<i8"), ("score", "<f8"), ("for_row", "<i8")])


def bucket_members(entries: np.ndarray, bands: Bands, partitions: int) -> np.ndarray:
    """One record per (row, band): the bucket (band hash), the row's score and id, and
    which of ``partitions`` resolves the bucket (band hashes are uniform already)."""
    records = np.empty(len(entries) * bands.bands, dtype=MEMBER)
    for i, name in enumerate(bands.fields()):
        part = records[i * len(entries) : (i + 1) * len(entries)]
        part["bucket"] = entries[name]
        part["score"] = entries["score"]
        part["row_id"] = entries["row_id"]
    records["partition"] = records["bucket"] % np.uint64(partitions)
    return records


def resolve(members: np.ndarray) -> np.ndarray:
    """Every member that a better member of its bucket pushes out, with that bucket's best
    member; a row pushed out of several buckets appears once per bucket."""
    ranked = members[np.lexsort((members["row_id"], -members["score"], members["bucket"]))]
    first = np.ones(len(ranked), dtype=bool)
    first[1:] = ranked["bucket"][1:] != ranked["bucket"][:-1]
    heads = np.maximum.accumulate(np.where(first, np.arange(len(ranked)), 0))
    out = np.empty(int((~first).sum()), dtype=PUSHED)
    out["row_id"] = ranked["row_id"][~first]
    out["score"] = ranked["score"][~first]
    out["for_row"] = ranked["row_id"][heads[~first]]
    return out
