"""--per-target and --cover in a job, against the naive rules over the full NCD matrix (every
row's alignment to every target item by the reference compressor calls): whatever the
shard size and the tasks in flight, with ties, the coverage figures, reselect."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.naive import (
    best,
    covered_rows,
    naive_alignment,
    naive_near_duplicates,
    union_of_items,
)
from zipfit_ray import SelectConfig, ZipfitError, run_select
from zipfit_ray.job.select import run_reselect
from zipfit_ray.selection import dedup, histograms, mixture
from zipfit_ray.selection.tokens import approximate_tokens

LZ4 = {"compressor": "lz4", "decontaminate": "off"}


@pytest.fixture(scope="module")
def tied_pool(tmp_path_factory, corpus):
    """The corpus's first 60 non-null rows, then copies of 15 of them (ties, broken by the
    earlier row); its texts in pool order."""
    root = tmp_path_factory.mktemp("per_item")
    texts = [t.decode() for t in corpus.texts if t is not None][:60]
    texts += texts[5:20]
    table = pa.table({"id": range(len(texts)), "text": texts})
    pq.write_table(table.slice(0, 40), root / "part-0.parquet", row_group_size=8)
    pq.write_table(table.slice(40), root / "part-1.parquet", row_group_size=8)
    return root, [t.encode() for t in texts]


@pytest.fixture(scope="module")
def item_scores(tied_pool, corpus):
    """(rows x items) alignment of every row to every target item, and the mean."""
    _, texts = tied_pool
    scores = np.array([[naive_alignment(x, [y], "lz4", 0) for y in corpus.targets] for x in texts])
    return scores, np.array([naive_alignment(x, corpus.targets, "lz4", 0) for x in texts])


def run(tied_pool, corpus, out, **options):
    flags = {"pool": (str(tied_pool[0]),), "targets": str(corpus.targets_path), **LZ4}
    summary = run_select(SelectConfig.from_flags(**{**flags, "out": str(out), **options}))
    parts = sorted(p for p in out.iterdir() if p.name.startswith("part-"))
    return summary, pq.ParquetDataset(parts).read()


@pytest.mark.parametrize(("shard_rows", "in_flight"), [(None, None), (7, 1), (16, 8)])
def test_per_target_is_the_union_of_every_items_nearest_rows(
    ray_session, tied_pool, corpus, item_scores, tmp_path, shard_rows, in_flight
):
    items, _ = item_scores
    summary, table = run(
        tied_pool, corpus, tmp_path, per_target=3, shard_rows=shard_rows, max_in_flight=in_flight
    )
    expected = union_of_items(items, 3)
    assert sorted(table.column("id").to_pylist()) == sorted(expected)
    served = table.column("zipfit_nearest_target").to_pylist()
    pools = [histograms.histogram(items[:, j]) for j in range(items.shape[1])]
    for row, item in zip(table.column("id").to_pylist(), served):
        takers = [j for j in range(items.shape[1]) if row in best(items[:, j], 3)]
        shares = [mixture.rank_shares(items[row : row + 1, j], pools[j])[0] for j in takers]
        assert item == takers[int(np.argmin(shares))]  # where it ranks best, of its takers
    found = summary["coverage"]
    assert found["items"] == len(corpus.targets)
    assert found["rows_per_item"] == [served.count(j) for j in range(len(corpus.targets))]
    assert found["items_served"] == len(set(served))
    assert "Target items served" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize(
    ("rule", "share"), [({"k": 30}, 0.5), ({"budget_tokens": 2500}, 0.5), ({"k": 40}, 0.1)]
)
def test_cover_gives_the_items_their_share_then_the_mean(
    ray_session, tied_pool, corpus, item_scores, tmp_path, rule, share
):
    """With a share too small for a whole round (4 rows, 6 items), some items get one row."""
    items, mean = item_scores
    _, texts = tied_pool
    _, table = run(tied_pool, corpus, tmp_path, cover=share, **rule)
    tokens = [approximate_tokens(t) for t in texts]  # as the job counts them
    expected = covered_rows(items, mean, tokens, rule, share, range(len(mean)))
    assert sorted(table.column("id").to_pylist()) == sorted(expected)
    if share < 0.5:
        assert expected != set(best(mean, rule["k"]))  # the items' rows are not the mean's


@pytest.mark.parametrize(
    ("options", "shard_rows"),
    [({"per_target": 3}, None), ({"per_target": 3}, 7), ({"cover": 0.5, "k": 30}, 16)],
)
def test_dedup_drops_the_pools_near_duplicates_then_every_item_refills(
    ray_session, tied_pool, corpus, item_scores, tmp_path, options, shard_rows
):
    """The pool's near-duplicates of better rows (by the mean) go, then every item's cut is
    of the rows left; the counts are of the removed rows the selection would take."""
    items, mean = item_scores
    _, texts = tied_pool
    ranked = best(mean, len(mean))
    near = naive_near_duplicates([texts[i] for i in ranked], dedup.DEFAULT_THRESHOLD)
    dropped = {ranked[i]: {ranked[j] for j in better} for i, better in near.items()}
    kept = [i for i in range(len(mean)) if i not in dropped]
    summary, table = run(tied_pool, corpus, tmp_path, dedup=True, shard_rows=shard_rows, **options)
    if "per_target" in options:
        expected = union_of_items(items, 3, kept)
        assert expected != union_of_items(items, 3)  # the copies were there to be refilled
        lasts = [best(items[:, j], 3, kept)[-1] for j in range(items.shape[1])]
        taken = [
            r for r in dropped
            if any((items[r, j], -r) >= (items[b, j], -b) for j, b in enumerate(lasts))
        ]  # fmt: skip
        assert summary["rows_removed_duplicate"] == len(taken) > 0
        heads = set().union(*(dropped[r] for r in taken)) - set(dropped)
        assert summary["duplicate_clusters"] == len(heads)
    else:
        tokens = [approximate_tokens(t) for t in texts]
        expected = covered_rows(items, mean, tokens, options, 0.5, kept)
        assert summary["rows_removed_duplicate"] > 0
    assert sorted(table.column("id").to_pylist()) == sorted(expected)
    assert not set(table.column("id").to_pylist()) & set(dropped)
    assert not (tmp_path / "_dedup").exists()


def test_cover_zero_is_the_rule_alone(ray_session, tied_pool, corpus, tmp_path):
    _, alone = run(tied_pool, corpus, tmp_path / "alone", k=25)
    _, zero = run(tied_pool, corpus, tmp_path / "zero", k=25, cover=0.0)
    assert alone.column("id").to_pylist() == zero.column("id").to_pylist()
    assert "zipfit_nearest_target" not in zero.column_names


def test_reselect_takes_the_items_scores_saved_with_them(
    ray_session, tied_pool, corpus, item_scores, tmp_path
):
    items, _ = item_scores
    run(tied_pool, corpus, tmp_path / "saved", per_target=2, all_scores=True)
    run_reselect(str(tmp_path / "saved"), {"out": str(tmp_path / "re"), "per_target": 4})
    again = pq.ParquetDataset(sorted((tmp_path / "re").glob("part-*.parquet"))).read()
    assert sorted(again.column("id").to_pylist()) == sorted(union_of_items(items, 4))
    run(tied_pool, corpus, tmp_path / "plain", k=5, all_scores=True)
    with pytest.raises(ZipfitError, match="saved without each target item's own score"):
        run_reselect(str(tmp_path / "plain"), {"out": str(tmp_path / "no"), "per_target": 4})
    summary = json.loads((tmp_path / "re" / "summary.json").read_text())
    assert summary["coverage"]["items"] == len(corpus.targets)  # from the saved job


def test_reselect_with_dedup_is_the_job_with_dedup(ray_session, tied_pool, corpus, tmp_path):
    run(tied_pool, corpus, tmp_path / "saved", per_target=2, dedup=True, all_scores=True)
    _, direct = run(tied_pool, corpus, tmp_path / "direct", per_target=3, dedup=True)
    options = {"out": str(tmp_path / "re"), "per_target": 3, "dedup": True}
    summary = run_reselect(str(tmp_path / "saved"), options)
    again = pq.ParquetDataset(sorted((tmp_path / "re").glob("part-*.parquet"))).read()
    assert sorted(again.column("id").to_pylist()) == sorted(direct.column("id").to_pylist())
    assert summary["rows_removed_duplicate"] > 0


def test_per_target_is_refused_where_it_cannot_run():
    flags = {"pool": ("p",), "targets": ["a=x", "b=y"], "out": "o", "per_target": 2}
    with pytest.raises(ZipfitError, match=r"--per-target: .* not with --targets NAME=URI"):
        SelectConfig.from_flags(**flags)
    with pytest.raises(ZipfitError, match="--mode approx-cascade: select with --k"):
        SelectConfig.from_flags(**{**flags, "targets": "t", "mode": "approx-cascade"})
    with pytest.raises(ZipfitError, match=r"--per-target: .* not with --cover"):
        SelectConfig.from_flags(**{**flags, "targets": "t", "cover": 0.5})


def test_a_jsonl_pool_serves_the_same_items(ray_session, corpus, mixed_pool, tmp_path):
    """The corpus's rows, two of its files as JSON lines: the same rows, the same items."""
    found = {}
    for name, pool in (("parquet", corpus.pool_dir), ("jsonl", mixed_pool)):
        flags = {"pool": (str(pool),), "targets": str(corpus.targets_path), **LZ4}
        run_select(SelectConfig.from_flags(**flags, out=str(tmp_path / name), per_target=2))
        table = pq.ParquetDataset(sorted((tmp_path / name).glob("part-*.parquet"))).read()
        ids, served = table.column("id"), table.column("zipfit_nearest_target")
        found[name] = sorted(zip(ids.to_pylist(), served.to_pylist()))
    assert found["jsonl"] == found["parquet"] and found["parquet"]


def test_on_s3_per_target_with_dedup_selects_what_local_files_select(
    ray_session, tied_pool, corpus, s3_options, tmp_path
):
    import s3fs

    fs = s3fs.S3FileSystem(**s3_options)
    fs.mkdir("zipfit-per-item")
    fs.put(str(tied_pool[0]) + "/", "zipfit-per-item/pool/", recursive=True)
    local, table = run(tied_pool, corpus, tmp_path, per_target=3, dedup=True)
    flags = {"pool": ("s3://zipfit-per-item/pool/",), "targets": str(corpus.targets_path), **LZ4}
    remote = run_select(
        SelectConfig.from_flags(
            **flags, out="s3://zipfit-per-item/out", per_target=3, dedup=True,
            storage_options=s3_options,
        )
    )  # fmt: skip
    parts = sorted(
        p for p in fs.ls("zipfit-per-item/out") if p.rsplit("/", 1)[-1].startswith("part-")
    )
    found = pa.concat_tables(pq.read_table(fs.open(p, "rb")) for p in parts)
    for column in ("id", "zipfit_nearest_target", "zipfit_score"):
        assert found.column(column).to_pylist() == table.column(column).to_pylist()
    assert remote["coverage"] == local["coverage"]
    assert remote["rows_removed_duplicate"] == local["rows_removed_duplicate"] > 0
    assert not fs.exists("zipfit-per-item/out/_dedup")
