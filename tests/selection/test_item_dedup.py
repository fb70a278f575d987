"""--dedup with --per-target and --cover: the job's steps (job/dedup.py with per_item.Refill,
run in-process over score files) against the rule written out row by row, on random rows
whose near-duplicates are planted in their band hashes: a row goes when a better row (by
the mean alignment) shares a band, then every item's cut is of the rows left."""

import numpy as np

from tests.local_cluster import LocalCluster
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


def naive(entries: np.ndarray, items: int, n: int) -> tuple[set[int], int]:
    """(row ids selected, removed rows the selection would take)."""
    ranked = order.best_first(entries)
    bands = np.stack([ranked[f"band_{b}"] for b in range(BANDS.bands)], axis=1)
    dropped = {i for i in range(len(ranked)) if (bands[:i] == bands[i]).any()}
    kept = ranked[[i for i in range(len(ranked)) if i not in dropped]]
    chosen, lasts = set(), []
    for j in range(items):
        key = coverage.item_field(j)
        best = kept[np.lexsort((kept["row_id"], -kept[key]))][:n]
        chosen |= set(best["row_id"].tolist())
        lasts.append((key, best[-1]))
    removed = ranked[sorted(dropped)]
    taken = sum(
        any((r[k], -r["row_id"]) >= (last[k], -last["row_id"]) for k, last in lasts)
        for r in removed
    )
    return chosen, taken


def job(tmp_path, every: np.ndarray, n: int) -> tuple[set[int], dict]:
    """The selection's row ids and the counts, by the job's steps over 5 shards (and one
    that scored nothing)."""
    shards = np.array_split(every[np.argsort(every["row_id"])], 5)
    saved = []
    for i, shard in enumerate([*shards, every[:0]]):
        saved.append(str(tmp_path / f"{i}.parquet"))
        write_scores(saved[-1], shard, {})
    config = SelectConfig.from_flags(
        pool=(str(tmp_path / "pool"),), targets="t", out=str(tmp_path / "out"),
        per_target=n, dedup=True,
    )  # fmt: skip
    cluster, names = LocalCluster(), [f"{i}" for i in range(len(saved))]
    keys = coverage.item_fields(every.dtype.names)
    scored = len(every), int(every["tokens"].sum())
    first = per_item.cut_items(cluster, config, saved, keys, scored)
    window = per_item.last_taken(cluster, saved, first, {})
    refill = per_item.Refill(config, keys, scored)
    kept, selection, counts = dedup.deduplicate(cluster, config, refill, saved, names, window)
    chosen = set()
    for uri in kept:
        entries = read_scores(uri, {})
        chosen |= set(entries["row_id"][selection.selects(entries)].tolist())
    return chosen, counts


def test_per_target_with_dedup_is_the_rule_row_by_row(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup, "PARTITION_MEMBERS", 50)  # several partitions
    rounds = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        items, n = int(rng.integers(1, 4)), int(rng.integers(1, 6))
        every = random_rows(rng, int(rng.integers(60, 200)), items)
        chosen, counts = job(tmp_path / str(seed), every, n)
        expected, taken = naive(every, items, n)
        assert chosen == expected, seed
        assert counts["rows_removed_duplicate"] == taken, seed
        rounds.append(counts["dedup_rounds"])
    assert max(rounds) >= 2  # some refill reached below the first window
