"""--exclude-near in a job: every scored row sharing an LSH bucket with a corpus row is
dropped before the cut, whatever the shards, with Parquet and JSONL corpora, named sets,
token budgets and shares; listed with the corpus row it is near; reselect drops them again."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import write_jsonl
from tests.naive import naive_alignment
from zipfit_ray import SelectConfig, ZipfitError, run_select
from zipfit_ray.job.select import run_reselect
from zipfit_ray.selection import dedup
from zipfit_ray.storage import pack_row_id

LZ4 = {"compressor": "lz4", "decontaminate": "off"}


@pytest.fixture(scope="module")
def have(tmp_path_factory, corpus):
    """A corpus the user has: near-copies (a comment line added) of every 4th non-null pool
    row, and rows of its own; and the pool positions whose rows it holds near-copies of."""
    root = tmp_path_factory.mktemp("have")
    present = [i for i, t in enumerate(corpus.texts) if t is not None]
    near = {i: corpus.texts[i].decode() + "\n# seen before\n" for i in present[::4]}
    texts = [*near.values(), "an unrelated note " * 20]
    half = len(texts) // 2
    pq.write_table(pa.table({"body": texts[:half]}), root / "have.parquet")
    write_jsonl(root / "have.jsonl", [{"body": t} for t in texts[half:]])
    return root, set(near), [t.encode() for t in texts]


def packed(corpus, positions: set[int]) -> set[int]:
    """Pool positions as the row ids listings carry (file index, row in the file)."""
    sizes = [pq.read_metadata(p).num_rows for p in sorted(corpus.pool_dir.glob("*.parquet"))]
    starts = np.cumsum([0, *sizes])
    files = np.searchsorted(starts, sorted(positions), side="right") - 1
    return {int(pack_row_id(f, i - starts[f])) for f, i in zip(files, sorted(positions))}


def excluded_naively(corpus, corpus_texts: list[bytes], threshold: float) -> set[int]:
    """Pool positions whose band hashes meet a corpus row's: --dedup's LSH rule."""
    bands = dedup.lsh_bands(threshold)
    buckets = set(bands.hashes(corpus_texts).ravel().tolist())
    present = [i for i, t in enumerate(corpus.texts) if t is not None]
    hashes = bands.hashes([corpus.texts[i] for i in present])
    return {i for i, row in zip(present, hashes) if buckets & set(row.tolist())}


def run(corpus, out, **options):
    flags = {"pool": (str(corpus.pool_dir),), "targets": str(corpus.targets_path), **LZ4}
    return run_select(SelectConfig.from_flags(**{**flags, "out": str(out), **options}))


def selected_ids(out) -> list[int]:
    parts = sorted(p for p in out.iterdir() if p.name.startswith("part-"))
    return pq.ParquetDataset(parts).read().column("id").to_pylist()


@pytest.mark.parametrize("shard_rows", [None, 7])
def test_rows_near_the_corpus_are_dropped_before_the_cut(
    ray_session, corpus, have, tmp_path, shard_rows
):
    root, near, corpus_texts = have
    dropped = excluded_naively(corpus, corpus_texts, dedup.DEFAULT_THRESHOLD)
    assert len(near & dropped) >= 0.75 * len(near)  # a comment line added: mostly near
    summary = run(
        corpus, tmp_path, k=40, shard_rows=shard_rows, exclude_near=[str(root)],
        exclude_near_column="body",
    )  # fmt: skip
    scores = {
        i: naive_alignment(t, corpus.targets, "lz4", 0)
        for i, t in enumerate(corpus.texts)
        if t is not None and i not in dropped
    }
    expected = sorted(sorted(scores, key=lambda i: (-scores[i], i))[:40])
    assert selected_ids(tmp_path) == expected
    assert summary["rows_excluded_near"] == len(dropped)
    listed = pq.ParquetDataset(sorted((tmp_path / "excluded").glob("*.parquet"))).read()
    assert set(listed.column("row_id").to_pylist()) == packed(corpus, dropped)
    assert {n.rsplit("/", 1)[-1] for n in listed.column("near").to_pylist()} == {
        "have.parquet",
        "have.jsonl",
    }
    assert summary["excluded_examples"][0]["row_id"] == min(packed(corpus, dropped))
    assert "Near the corpora you have" in (tmp_path / "report.html").read_text()
    assert not (tmp_path / "_exclude").exists()


def test_with_named_sets_shares_budgets_and_reselect(ray_session, corpus, have, tmp_path):
    root, _, corpus_texts = have
    dropped = excluded_naively(corpus, corpus_texts, dedup.DEFAULT_THRESHOLD)
    column = {"exclude_near": [str(root)], "exclude_near_column": "body"}
    two = [f"a={corpus.targets_path}", f"b={corpus.targets_path}"]
    for options in ({"targets": two, "k": 20}, {"fraction": 0.2}, {"budget_tokens": 3000}):
        out = tmp_path / "-".join(options)
        summary = run(corpus, out, **column, **options)
        assert summary["rows_excluded_near"] == len(dropped) and summary["rows_selected"] > 0
        assert not set(selected_ids(out)) & dropped  # the corpus's ids are pool positions
    run(corpus, tmp_path / "all", k=5, all_scores=True, **column)
    again = run_reselect(str(tmp_path / "all"), {"out": str(tmp_path / "re"), "k": 60})
    assert again["rows_excluded_near"] == len(dropped)
    reselected = selected_ids(tmp_path / "re")
    assert len(reselected) == 60 and not set(reselected) & dropped


def test_an_unreadable_corpus_is_named(ray_session, corpus, tmp_path):
    with pytest.raises(ZipfitError, match=r"nothing\.jsonl"):
        run(corpus, tmp_path, k=5, exclude_near=[str(tmp_path / "nothing.jsonl")])
    with pytest.raises(ZipfitError, match="--exclude-near: only with --mode exact"):
        SelectConfig.from_flags(
            pool=("p",), targets="t", out="o", k=5, mode="approx-cascade", exclude_near=["x"]
        )


def test_a_run_killed_while_excluding_resumes_to_the_same_selection(
    ray_session, corpus, have, tmp_path, monkeypatch
):
    """Killed in the exclude step (after scoring), the rerun scores nothing again and
    selects what an unbroken run selects, with --dedup and --per-target after it."""
    from zipfit_ray.job import exclude

    root, _, _ = have
    options = {"exclude_near": [str(root)], "exclude_near_column": "body", "shard_rows": 16}
    for rule in ({"k": 30, "dedup": True}, {"per_target": 2}):
        name = "-".join(rule)
        clean = run(corpus, tmp_path / f"clean-{name}", **options, **rule)

        def killed(*args):
            raise KeyboardInterrupt("killed while excluding")

        with monkeypatch.context() as patched:
            patched.setattr(exclude, "bucket_ranges", killed)  # its buckets half written
            with pytest.raises(KeyboardInterrupt):
                run(corpus, tmp_path / name, **options, **rule)
        again = run(corpus, tmp_path / name, **options, **rule)
        assert selected_ids(tmp_path / name) == selected_ids(tmp_path / f"clean-{name}")
        assert again["shards_resumed"] == again["shards_total"]
        assert again["rows_excluded_near"] == clean["rows_excluded_near"] > 0
