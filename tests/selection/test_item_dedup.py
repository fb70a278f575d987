"""--dedup with --per-target and --cover: the job's steps (job/dedup.py with per_item.Refill,
run in-process over score files) against the rule written out row by row, on random rows
whose near-duplicates are planted in their band hashes: a row goes when a better row (by
the mean alignment) shares a band, then every item's cut is of the rows left."""

import numpy as np
import pytest

from tests.local_cluster import LocalCluster
from tests.naive import best, covered_rows, near_duplicates_of_bands, union_of_items
from zipfit_ray import SelectConfig
from zipfit_ray.job import dedup, per_item
from zipfit_ray.selection import coverage, order
from zipfit_ray.selection import dedup as near
from zipfit_ray.storage import read_scores, write_scores

BANDS = near.lsh_bands(near.DEFAULT_THRESHOLD)


def random_rows(rng, rows: int, items: int) -> np.ndarray:
    """Rows with few score values (ties), item alignments loosely tied to the mean, and two
    bands drawn from few values (near-duplicates); the other bands are every row's own."""
    mean = rng.integers(0, 40, rows) / 40
    fields = {
        coverage.item_field(j): np.round(mean + rng.normal(0, 0.3, rows), 1) for j in range(items)
    }
    for b in range(BANDS.bands):  # a band's values apart from every other band's
        drawn = rng.integers(0, rows // 2, rows) if b < 2 else rng.permutation(rows)
        fields[f"band_{b}"] = drawn.astype(np.uint64) + np.uint64(1_000_000 * (b + 1))
    row_ids = rng.permutation(rows * 3)[:rows].astype(np.int64)
    entries = order.entries(mean, row_ids, rng.integers(1, 50, rows), rng.integers(1, 900, rows))
    return order.with_fields(entries, fields)


def naive(every: np.ndarray, rule: dict) -> tuple[set[int], int, int]:
    """The rule row by row: (row ids selected; with --per-target, the removed rows some
    item's cut would take, and the kept rows they were pushed out for)."""
    every = every[np.argsort(every["row_id"])]  # index order is row id order: ties
    items = np.stack([every[k] for k in coverage.item_fields(every.dtype.names)], axis=1)
    mean, tokens = every["score"], every["tokens"]
    ranked = best(mean, len(mean))
    bands = np.stack([every[f"band_{b}"][ranked] for b in range(BANDS.bands)], axis=1)
    near = near_duplicates_of_bands(bands)
    dropped = {ranked[i]: {ranked[j] for j in better} for i, better in near.items()}
    kept = [i for i in range(len(mean)) if i not in dropped]
    if "per_target" not in rule:
        chosen = covered_rows(items, mean, tokens, rule, rule["cover"], kept)
        return {int(every["row_id"][i]) for i in chosen}, -1, -1
    n = rule["per_target"]
    chosen = union_of_items(items, n, kept)
    lasts = [best(items[:, j], n, kept)[-1] for j in range(items.shape[1])]
    taken = [
        r for r in dropped
        if any((items[r, j], -r) >= (items[b, j], -b) for j, b in enumerate(lasts))
    ]  # fmt: skip
    heads = set().union(*(dropped[r] for r in taken)) - set(dropped)
    return {int(every["row_id"][i]) for i in chosen}, len(taken), len(heads)


def job(tmp_path, every: np.ndarray, rule: dict) -> tuple[set[int], dict]:
    """The selection's row ids and the counts, by the job's steps over 5 shards (and one
    that scored nothing)."""
    shards = np.array_split(every[np.argsort(every["row_id"])], 5)
    saved = []
    for i, shard in enumerate([*shards, every[:0]]):
        saved.append(str(tmp_path / f"{i}.parquet"))
        write_scores(saved[-1], shard, {})
    config = SelectConfig.from_flags(
        pool=(str(tmp_path / "pool"),), targets="t", out=str(tmp_path / "out"), dedup=True,
        **rule,
    )  # fmt: skip
    cluster, names = LocalCluster(), [f"{i}" for i in range(len(saved))]
    keys = coverage.item_fields(every.dtype.names)
    scored = len(every), int(every["tokens"].sum())
    first = per_item.cut_items(cluster, config, saved, keys, scored)
    window = per_item.last_read(cluster, saved, first, {})
    refill = per_item.Refill(config, keys, scored)
    kept, selection, counts = dedup.deduplicate(cluster, config, refill, saved, names, window)
    chosen = set()
    for uri in kept:
        entries = read_scores(uri, {})
        chosen |= set(entries["row_id"][selection.selects(entries)].tolist())
    return chosen, counts


RULES = (
    lambda rng: {"per_target": int(rng.integers(1, 6))},
    lambda rng: {"cover": float(rng.choice([0.1, 0.5, 1.0])), "k": int(rng.integers(5, 40))},
    lambda rng: {
        "cover": float(rng.choice([0.1, 0.5, 1.0])),
        "budget_tokens": int(rng.integers(50, 900)),
    },
)


@pytest.mark.parametrize("make_rule", RULES)
def test_the_items_refill_after_dedup_as_the_rule_row_by_row(tmp_path, monkeypatch, make_rule):
    monkeypatch.setattr(dedup, "PARTITION_MEMBERS", 50)  # several partitions
    rounds = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        rule = make_rule(rng)
        every = random_rows(rng, int(rng.integers(60, 200)), int(rng.integers(1, 4)))
        chosen, counts = job(tmp_path / str(seed), every, rule)
        expected, taken, clusters = naive(every, rule)
        assert chosen == expected, (seed, rule)
        if "per_target" in rule:
            assert counts["rows_removed_duplicate"] == taken, seed
            assert counts["duplicate_clusters"] == clusters, seed
        rounds.append(counts["dedup_rounds"])
    assert max(rounds) >= 2  # some refill reached below the first window


def test_a_row_the_cover_search_reads_below_the_selection_is_checked_first(tmp_path):
    """Item 0's second row X is far down the mean order, large, and a near-duplicate of a
    better row Y: the search that decides --cover's n reads X (it makes n = 2 too large), so
    X's fate must be known before the search's answer is: without X, n is 4 and Z, item 1's
    third row, is selected."""
    rows = [  # mean, item 0, item 1, tokens, bucket
        (0.9, 0.9, 0.9, 2, 1),
        (0.8, 0.1, 0.8, 2, 2),
        (0.7, 0.7, 0.1, 2, 3),
        (0.6, 0.05, 0.05, 2, 4),
        (0.55, 0.05, 0.05, 2, 5),
        (0.5, 0.0, 0.0, 1, 9),  # Y
        (0.2, 0.02, 0.7, 2, 6),  # Z
        (0.1, 0.8, 0.0, 20, 9),  # X: a near-duplicate of Y
    ]
    mean, first, second, tokens, bucket = map(np.array, zip(*rows))
    entries = order.entries(mean, np.arange(len(rows)), tokens, tokens * 4)
    fields = {coverage.item_field(0): first, coverage.item_field(1): second}
    for b in range(BANDS.bands):  # only X and Y share a bucket
        fields[f"band_{b}"] = (bucket if b == 0 else np.arange(len(rows))).astype(
            np.uint64
        ) + np.uint64(1_000_000 * (b + 1))
    every = order.with_fields(entries, fields)
    rule = {"cover": 1.0, "budget_tokens": 10}
    chosen, _ = job(tmp_path, every, rule)
    expected, _, _ = naive(every, rule)
    assert chosen == expected
    assert chosen == {0, 1, 2, 3, 6}
