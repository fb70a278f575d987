"""Near-duplicate signatures and the rule: MinHash estimates Jaccard, bands follow the
threshold, resolving buckets agrees with the pairwise rule, and on data whose clusters are
clear the rows dropped are those a naive all-pairs Jaccard drops."""

import random

import numpy as np
import pytest

from zipfit_ray.selection import dedup, order

WORDS = [f"w{i}" for i in range(5000)]


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(n)]


def shingle_set(text: bytes) -> set[int]:
    grams, _ = dedup.shingles([text])
    return set(grams.tolist())


def jaccard(a: bytes, b: bytes) -> float:
    sa, sb = shingle_set(a), shingle_set(b)
    return len(sa & sb) / len(sa | sb)


def test_signature_agreement_estimates_jaccard():
    rng = random.Random(0)
    errors = []
    for _ in range(150):
        base = words(rng, 200)
        share = rng.uniform(0.0, 0.4)
        edited = [w if rng.random() > share else "new" + str(rng.random()) for w in base]
        a, b = " ".join(base).encode(), " ".join(edited).encode()
        signatures = dedup.signatures([a, b])
        errors.append((signatures[0] == signatures[1]).mean() - jaccard(a, b))
    assert abs(np.mean(errors)) < 0.01  # unbiased
    assert np.std(errors) < 0.06  # ~ sqrt(J (1 - J) / 128)


def test_shingles_ignore_case_whitespace_and_punctuation_and_batches_agree():
    a = b"def Total(items):\n    return sum(items)  # all of them"
    b = b"def total( items ):\n\treturn SUM(items) # all of them!"
    assert shingle_set(a) == shingle_set(b)
    texts = [a, b"", b"!!!", b"??", b"one two", b"x " * 40]
    grams, starts = dedup.shingles(texts)
    bounds = [*starts.tolist(), len(grams)]
    for i, text in enumerate(texts):  # a batch gives each text what it gives alone
        assert sorted(grams[bounds[i] : bounds[i + 1]].tolist()) == sorted(
            dedup.shingles([text])[0].tolist()
        )
    assert shingle_set(b"!!!") != shingle_set(b"??")  # no words: told apart by their bytes
    assert len(shingle_set(b"one two")) == 1  # fewer words than a shingle: one shingle


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9])
def test_bands_step_at_the_threshold(threshold):
    bands = dedup.lsh_bands(threshold)
    assert bands.bands * bands.rows <= dedup.PERMUTATIONS
    assert bands.probability(threshold - 0.2) < 0.2 < 0.8 < bands.probability(threshold + 0.15)
    assert len(bands.fields()) == bands.bands


def naive_dropped(entries: np.ndarray, bands: dedup.Bands) -> set[int]:
    """The rule pair by pair: a row goes when a better row shares one of its buckets."""
    ranked = order.best_first(entries)
    hashes = np.stack([ranked[f] for f in bands.fields()], axis=1)
    return {int(ranked["row_id"][i]) for i in range(len(ranked)) if (hashes[:i] == hashes[i]).any()}


def resolved_dropped(entries: np.ndarray, bands: dedup.Bands, partitions: int) -> set[int]:
    members = dedup.bucket_members(entries, bands, partitions)
    dropped = set()
    for p in range(partitions):  # each partition alone, as the job's tasks do
        dropped |= set(dedup.resolve(members[members["partition"] == p])["row_id"].tolist())
    return dropped


@pytest.mark.parametrize("partitions", [1, 3])
def test_resolving_buckets_is_the_pairwise_rule_with_ties(partitions):
    rng = np.random.default_rng(1)
    bands = dedup.Bands(4, 2)
    n = 400
    entries = order.entries(rng.integers(0, 5, n) / 4, rng.permutation(n) * 7)  # many ties
    hashes = rng.integers(0, 30, (n, bands.bands)).astype(np.uint64)  # many collisions
    hashes += np.arange(bands.bands, dtype=np.uint64) * np.uint64(1000)
    entries = dedup.with_bands(entries, hashes, bands)
    expected = naive_dropped(entries, bands)
    assert 0 < len(expected) < n
    assert resolved_dropped(entries, bands, partitions) == expected
    pushed = dedup.resolve(dedup.bucket_members(entries, bands, 1))
    position = {int(r): i for i, r in enumerate(order.best_first(entries)["row_id"])}
    assert all(position[f] < position[r] for r, f in zip(pushed["row_id"], pushed["for_row"]))


def test_clear_clusters_are_those_of_all_pairs_jaccard():
    """40 texts of 200 words, each with 2 near-copies (a word changed: Jaccard 0.9 between
    copies, 0.95 to the text); distinct texts share almost nothing. At 0.7 the dropped rows
    are exactly those a naive all-pairs Jaccard of the shingle sets drops."""
    rng = random.Random(2)
    texts = []
    for _ in range(40):
        base = words(rng, 200)
        texts.append(" ".join(base).encode())
        for _ in range(2):
            copy = list(base)
            copy[rng.randrange(200)] = "changed"
            texts.append(" ".join(copy).encode())
    scores = np.array([rng.random() for _ in texts])
    entries = order.entries(scores, np.arange(len(texts)))
    threshold = 0.7
    ranked = order.best_first(entries)["row_id"].tolist()
    naive = {
        r
        for i, r in enumerate(ranked)
        if any(jaccard(texts[r], texts[s]) >= threshold for s in ranked[:i])
    }
    assert len(naive) == 80
    bands = dedup.lsh_bands(threshold)
    entries = dedup.with_bands(entries, bands.hashes(texts), bands)
    assert resolved_dropped(entries, bands, 2) == naive
