"""--dedup in a job: the selection is the naive single-process rule's (a row goes when a
better row shares one of its LSH buckets; refilled from below the cut) whatever the shards
and partitions, with the same counts; a run killed while deduplicating reruns to the same
result; reselect and JSONL pools do the same."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.naive import naive_near_duplicates
from zipfit_ray import SelectConfig, ZipfitError, run_select
from zipfit_ray.job import dedup as dedup_job
from zipfit_ray.job.select import run_reselect
from zipfit_ray.selection import dedup, order
from zipfit_ray.storage import pack_row_id


@pytest.fixture(scope="module")
def pool_with_copies(tmp_path_factory, corpus):
    """The corpus's files, a file with exact copies of the first file's rows and one with
    near-copies (a comment line added), so that many selected rows have near-duplicates."""
    pool = tmp_path_factory.mktemp("dedup_pool")
    paths = sorted(corpus.pool_dir.glob("*.parquet"))
    for path in paths:
        (pool / path.name).write_bytes(path.read_bytes())
    first = pq.read_table(paths[0])
    texts = first.column("text").to_pylist()
    copies = first.set_column(1, "text", pa.array(texts))
    near = first.set_column(
        1, "text", pa.array([None if t is None else t + "\n# checked\n" for t in texts])
    )
    for name, table, offset in (("part-7", copies, 10_000), ("part-8", near, 20_000)):
        ids = pa.array([offset + i for i in range(table.num_rows)], pa.int64())
        pq.write_table(table.set_column(0, "id", ids), pool / f"{name}.parquet", row_group_size=16)
    return pool


def pool_texts(pool) -> dict[int, tuple[int, bytes]]:
    """row id -> (the row's id column, its text), in the job's file order."""
    found = {}
    for file_index, path in enumerate(sorted(pool.glob("*.parquet"))):
        table = pq.read_table(path)
        for row, (id_, text) in enumerate(zip(table["id"].to_pylist(), table["text"].to_pylist())):
            if text is not None:
                found[int(pack_row_id(file_index, row))] = (id_, text.encode())
    return found


def run(pool, corpus, out, **options):
    config = SelectConfig.from_flags(
        pool=(str(pool),), targets=str(corpus.targets_path), out=str(out), **options
    )
    summary = run_select(config)
    return summary, selected_ids(out)


def selected_ids(out) -> list[int]:
    parts = sorted(out.glob("part-*"))
    if parts and parts[0].suffix == ".parquet":
        return pq.ParquetDataset(parts).read().column("id").to_pylist()
    return [json.loads(line)["id"] for p in parts for line in p.read_text().splitlines()]


def naive(scored: np.ndarray, texts: dict, threshold: float, k=None, min_score=None):
    """The rule in one process: (ids selected in pool order, rows removed ahead of the
    cut, clusters: kept rows that one of those was pushed out for)."""
    ranked = order.best_first(scored)
    dropped = naive_near_duplicates([texts[int(r)][1] for r in ranked["row_id"]], threshold)
    heads = set()
    kept = [i for i in range(len(ranked)) if i not in dropped]
    if k is not None:  # the cut falls at the k-th kept row
        kept = kept[:k]
        removed = [i for i in dropped if i < kept[-1]]
    else:  # at the score
        kept = [i for i in kept if ranked["score"][i] >= min_score]
        removed = [i for i in dropped if ranked["score"][i] >= min_score]
    for i in removed:
        heads |= dropped[i]
    clusters = heads - set(dropped)
    ids = [texts[int(r)][0] for r in np.sort(ranked["row_id"][kept])]
    return ids, len(removed), len(clusters)


@pytest.fixture
def all_scores(ray_session, pool_with_copies, corpus, tmp_path):
    """Every row's score, from a job without --dedup."""
    out = tmp_path / "all_scores"
    run(pool_with_copies, corpus, out, k=5, all_scores=True, decontaminate="off")
    return order.concatenate(
        np.array(
            [tuple(r) for r in zip(t["score"].to_pylist(), t["row_id"].to_pylist())],
            dtype=[("score", "<f8"), ("row_id", "<i8")],
        )
        for t in [pq.read_table(p) for p in sorted((out / "scores").glob("*.parquet"))]
    )


@pytest.mark.parametrize(("shard_rows", "partition_members"), [(None, 2_000_000), (7, 60)])
def test_dedup_is_the_naive_rule_whatever_the_shards_and_partitions(
    ray_session, pool_with_copies, corpus, all_scores, tmp_path, monkeypatch, shard_rows,
    partition_members,
):  # fmt: skip
    monkeypatch.setattr(dedup_job, "PARTITION_MEMBERS", partition_members)
    k, threshold = 60, dedup.DEFAULT_THRESHOLD
    expected, removed, clusters = naive(all_scores, pool_texts(pool_with_copies), threshold, k=k)
    summary, ids = run(
        pool_with_copies, corpus, tmp_path / "out", k=k, dedup=True, decontaminate="off",
        shard_rows=shard_rows,
    )  # fmt: skip
    assert ids == expected
    assert removed > 10 and clusters > 5  # the copies are there to be found
    assert summary["rows_selected"] == k
    assert summary["rows_removed_duplicate"] == removed
    assert summary["duplicate_clusters"] == clusters
    assert summary["dedup_rounds"] >= 2  # the first window held copies: refilled
    assert not (tmp_path / "out" / "_dedup").exists()
    report = (tmp_path / "out" / "report.html").read_text()
    assert f"{removed:,} rows were removed from the selection" in report


def test_a_run_killed_while_deduplicating_reruns_to_the_same_result(
    ray_session, pool_with_copies, corpus, tmp_path, monkeypatch
):
    options = {"k": 40, "dedup": True, "shard_rows": 16}
    _, clean = run(pool_with_copies, corpus, tmp_path / "clean", **options)

    def killed(*args):
        raise KeyboardInterrupt("killed while deduplicating")

    with monkeypatch.context() as patched:
        patched.setattr(dedup_job, "_at_or_before", killed)
        with pytest.raises(KeyboardInterrupt):
            run(pool_with_copies, corpus, tmp_path / "out", **options)
    assert (tmp_path / "out" / "_dedup").exists()
    summary, ids = run(pool_with_copies, corpus, tmp_path / "out", **options)
    assert ids == clean
    assert summary["shards_resumed"] == summary["shards_total"]  # only the dedup ran again


def test_reselect_deduplicates_saved_scores(ray_session, pool_with_copies, corpus, tmp_path):
    run(pool_with_copies, corpus, tmp_path / "saved", k=50, dedup=True, all_scores=True)
    _, direct = run(pool_with_copies, corpus, tmp_path / "direct", k=30, dedup=True)
    summary = run_reselect(
        str(tmp_path / "saved"), {"out": str(tmp_path / "re"), "k": 30, "dedup": True}
    )
    assert selected_ids(tmp_path / "re") == direct
    assert summary["rows_removed_duplicate"] > 0
    run(pool_with_copies, corpus, tmp_path / "plain", k=5, all_scores=True)
    with pytest.raises(ZipfitError, match=r"--dedup: .* without near-duplicate signatures"):
        run_reselect(str(tmp_path / "plain"), {"out": str(tmp_path / "re2"), "k": 5, "dedup": True})


def test_jsonl_pool_and_min_score(ray_session, pool_with_copies, corpus, all_scores, tmp_path):
    """A JSONL copy of the pool selects the same rows; --min-score (which otherwise writes
    as it scores) removes near-duplicates too."""
    jsonl = tmp_path / "jsonl"
    jsonl.mkdir()
    for path in sorted(pool_with_copies.glob("*.parquet")):
        rows = pq.read_table(path).to_pylist()
        (jsonl / (path.stem + ".jsonl")).write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, parquet_ids = run(pool_with_copies, corpus, tmp_path / "a", k=30, dedup=True)
    _, jsonl_ids = run(jsonl, corpus, tmp_path / "b", k=30, dedup=True)
    assert jsonl_ids == parquet_ids
    threshold = float(np.sort(all_scores["score"])[-80])
    summary, ids = run(
        pool_with_copies, corpus, tmp_path / "c", min_score=threshold, dedup=True,
        decontaminate="off",
    )  # fmt: skip
    expected, removed, _ = naive(
        all_scores, pool_texts(pool_with_copies), dedup.DEFAULT_THRESHOLD, min_score=threshold
    )
    assert summary["rows_removed_duplicate"] == removed > 0
    assert ids == expected


def test_bad_threshold_is_refused():
    with pytest.raises(ZipfitError, match="--dedup-threshold"):
        SelectConfig.from_flags(
            pool=("p",), targets="t", out="o", k=1, dedup=True, dedup_threshold=1.5
        )


def test_on_s3_dedup_selects_what_local_files_select(
    ray_session, pool_with_copies, corpus, s3_options, tmp_path
):
    import s3fs

    fs = s3fs.S3FileSystem(**s3_options)
    fs.mkdir("zipfit-dedup")
    fs.put(str(pool_with_copies) + "/", "zipfit-dedup/pool/", recursive=True)
    local, local_ids = run(pool_with_copies, corpus, tmp_path / "local", k=40, dedup=True)
    remote = run_select(
        SelectConfig.from_flags(
            pool=("s3://zipfit-dedup/pool/",), targets=str(corpus.targets_path),
            out="s3://zipfit-dedup/out", k=40, dedup=True, storage_options=s3_options,
        )
    )  # fmt: skip
    parts = sorted(p for p in fs.ls("zipfit-dedup/out") if p.rsplit("/", 1)[-1].startswith("part-"))
    ids = [i for p in parts for i in pq.read_table(fs.open(p, "rb")).column("id").to_pylist()]
    assert ids == local_ids
    for key in ("rows_removed_duplicate", "duplicate_clusters", "target_halves"):
        assert remote[key] == local[key]
    assert not fs.exists("zipfit-dedup/out/_dedup")
