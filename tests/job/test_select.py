"""The whole job on a real local Ray, checked against the naive formula and top-K."""

import importlib.metadata
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.naive import naive_alignment, naive_top_k
from zipfit_ray import SelectConfig, ZipfitError, run_select
from zipfit_ray.job import plan
from zipfit_ray.kernel.backends import DEFAULT_COMPRESSOR, backend, resolve_level
from zipfit_ray.selection import histograms
from zipfit_ray.storage import outputs


def select(corpus, out, **options):
    config = SelectConfig.from_flags(
        pool=(str(corpus.pool_dir),), targets=str(corpus.targets_path), out=str(out), **options
    )
    return run_select(config)


def read_selection(out):
    parts = sorted(p for p in out.iterdir() if p.name.startswith("part-"))
    return pq.ParquetDataset(parts).read()


def naive_selection(corpus, k, compressor="gzip", joint="concat"):
    """(pool positions, scores) of the naive top k over the non-null rows."""
    level = resolve_level(compressor, None)
    present = [i for i, t in enumerate(corpus.texts) if t is not None]
    scores = [
        naive_alignment(corpus.texts[i], corpus.targets, compressor, level, joint) for i in present
    ]
    best = naive_top_k(scores, k)
    return [present[i] for i in best], [scores[i] for i in best]


@pytest.mark.parametrize(
    "compressor, joint",
    [("gzip", "concat"), ("zstd", "concat"), ("zstd", "conditional"), ("lz4-block", "concat")],
)
def test_selection_is_the_naive_top_k(ray_session, corpus, tmp_path, compressor, joint):
    summary = select(corpus, tmp_path, k=25, compressor=compressor, joint=joint)
    assert summary["compressor"]["joint"] == joint
    positions, scores = naive_selection(corpus, 25, compressor, joint)
    table = read_selection(tmp_path)  # in pool order; the sample's id is the pool position
    assert table.column("id").to_pylist() == sorted(positions)
    expected = dict(zip(positions, scores))
    got = table.column("zipfit_score").to_pylist()
    assert max(abs(s - expected[i]) for i, s in zip(sorted(positions), got)) <= 1e-12
    assert table.column_names == ["id", "text", "kind", "source", "zipfit_score"]
    assert table.column("text").to_pylist() == [corpus.texts[i].decode() for i in sorted(positions)]
    assert [e["row_id"] & ((1 << 40) - 1) for e in summary["examples"]["best"]] != []
    assert summary["examples"]["best"][0]["score"] == max(scores)
    assert summary["examples"]["last"][-1]["score"] == min(scores)
    assert summary["rows_selected"] == 25
    assert (tmp_path / "_SUCCESS").exists()


def test_summary_names_the_compressor_and_holds_length_histograms(ray_session, corpus, tmp_path):
    summary = select(corpus, tmp_path, k=25)  # the default compressor
    described = summary["compressor"]
    assert described["compressor"] == DEFAULT_COMPRESSOR
    assert described["container"] == backend(DEFAULT_COMPRESSOR).container
    assert described["versions"]["zstandard"] == importlib.metadata.version("zstandard")
    assert described["joint"] == "conditional"
    texts = read_selection(tmp_path).column("text").to_pylist()
    found = summary["histograms"]
    assert found["length_edges"] == histograms.LENGTH_EDGES.tolist()
    selected = histograms.length_histogram([len(t.encode()) for t in texts])
    assert found["selected_lengths"] == selected.tolist()
    pool = histograms.length_histogram([len(t) for t in corpus.texts if t is not None])
    assert found["pool_lengths"] == pool.tolist()


def test_output_is_identical_for_any_shard_size_and_concurrency(ray_session, corpus, tmp_path):
    runs = [
        dict(shard_rows=1, max_in_flight=1),
        dict(shard_rows=40, max_in_flight=7),
        dict(shard_rows=100_000),
        dict(),  # sized from the cluster
    ]
    tables = []
    for i, options in enumerate(runs):
        select(corpus, tmp_path / str(i), k=40, compressor="lz4", **options)
        tables.append(read_selection(tmp_path / str(i)))
    for table in tables[1:]:
        assert table.equals(tables[0])
    shards = [
        json.loads((tmp_path / str(i) / "summary.json").read_text())["shards_total"]
        for i in range(len(runs))
    ]
    assert shards[0] > shards[1] > shards[2] == 1  # the runs really were cut differently


def test_summary_counts_and_records_the_run(ray_session, corpus, tmp_path):
    summary = select(
        corpus, tmp_path, k=10, compressor="lz4", storage_options={"secret_key": "hunter2"}
    )
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == summary
    assert summary["rows_total"] == summary["rows_read"] == len(corpus.texts)
    assert summary["rows_skipped_null"] == 3
    assert summary["rows_selected"] == 10
    assert summary["targets"] == len(corpus.targets)
    assert summary["shards_resumed"] == 0
    assert summary["arguments"]["k"] == 10 and summary["arguments"]["level"] == 0
    assert summary["arguments"]["storage_options"] == ["secret_key"]
    assert "hunter2" not in (tmp_path / "summary.json").read_text()
    assert set(summary["seconds"]) == {
        "plan",
        "targets",
        "score",
        "cut",
        "target halves",
        "write",
        "report",
    }
    quantiles = summary["selected_score_quantiles"]
    assert quantiles["q0"] <= quantiles["q0.5"] <= quantiles["q1"]


def test_k_larger_than_the_pool_keeps_every_scored_row(ray_session, corpus, tmp_path, capsys):
    summary = select(corpus, tmp_path, k=10_000, compressor="lz4")
    assert summary["rows_selected"] == len(corpus.texts) - 3
    assert "warning: only 357 rows were scored" in capsys.readouterr().err
    ids = read_selection(tmp_path).column("id").to_pylist()
    assert sorted(ids) == [i for i, t in enumerate(corpus.texts) if t is not None]


def test_parts_hold_the_selection_in_pool_order_about_part_rows_each(ray_session, corpus, tmp_path):
    summary = select(corpus, tmp_path, k=60, compressor="lz4", part_rows=20, shard_rows=10)
    sizes = [pq.read_metadata(tmp_path / p).num_rows for p in summary["parts"]]
    assert summary["parts"] == [f"part-{i:05d}.parquet" for i in range(len(sizes))]
    assert sum(sizes) == 60 and len(sizes) >= 3
    assert max(sizes) <= 20 + 10  # a part grows past --part-rows by less than one shard
    ids = read_selection(tmp_path).column("id").to_pylist()
    positions, _ = naive_selection(corpus, 60, "lz4")
    assert ids == sorted(positions)


def test_order_score_adds_a_copy_best_first_sorted_by_ray_data(ray_session, corpus, tmp_path):
    select(corpus, tmp_path, k=40, compressor="lz4", order="score", part_rows=15, shard_rows=20)
    ranked = pq.ParquetDataset(sorted((tmp_path / "ranked").glob("part-*.parquet"))).read()
    positions, scores = naive_selection(corpus, 40, "lz4")
    assert ranked.column("id").to_pylist() == positions  # best first, ties by pool position
    assert ranked.column("zipfit_score").to_pylist() == pytest.approx(scores, abs=1e-12)
    in_pool_order = read_selection(tmp_path)
    assert in_pool_order.column("id").to_pylist() == sorted(positions)
    assert "zipfit_position" in in_pool_order.column_names
    select(corpus, tmp_path, k=40, compressor="lz4", overwrite=True)
    assert not (tmp_path / "ranked").exists()  # a stale copy does not outlive its run


def test_a_finished_result_is_kept_unless_overwrite(ray_session, corpus, tmp_path):
    select(corpus, tmp_path, k=25, compressor="lz4", part_rows=10)
    with pytest.raises(ZipfitError, match="already holds a finished result"):
        select(corpus, tmp_path, k=5, compressor="lz4")
    select(corpus, tmp_path, k=5, compressor="lz4", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "_SUCCESS",
        "_zipfit_outputs.json",
        "part-00000.parquet",
        "report.html",
        "summary.json",
    ]
    assert read_selection(tmp_path).num_rows == 5


def test_stale_parts_of_an_unfinished_run_are_removed(ray_session, corpus, tmp_path):
    outputs.claim(str(tmp_path), overwrite=False, options={})  # a run that was then killed
    outputs.record(str(tmp_path), ["part-00007.parquet"], options={})
    (tmp_path / "part-00007.parquet").write_bytes(b"left by a killed run")
    select(corpus, tmp_path, k=5, compressor="lz4")
    assert not (tmp_path / "part-00007.parquet").exists()


def test_a_pool_of_few_large_row_groups_is_named_as_what_idles_cpus(
    ray_session, corpus, tmp_path, capsys
):
    one_group = tmp_path / "pool.parquet"
    pq.write_table(pq.read_table(corpus.pool_dir), one_group)  # one row group of 360 rows
    config = SelectConfig.from_flags(
        pool=(str(one_group),),
        targets=str(corpus.targets_path),
        k=5,
        shard_rows=50,
        out=str(tmp_path / "out"),
        compressor="lz4",
    )
    assert run_select(config)["shards_total"] == 1
    assert "warning: 2 CPUs but 1 shard(s)" in capsys.readouterr().err
    select(corpus, tmp_path / "many", k=5, shard_rows=50, compressor="lz4")
    assert "row groups" not in capsys.readouterr().err


def test_planning_in_tasks_gives_the_plan_the_driver_makes(
    ray_session, corpus, mixed_pool, tmp_path, monkeypatch
):
    """Past PLAN_IN_TASKS_FROM files, footers are read by Ray tasks in chunks: the same
    pool comes out, bad files included."""
    from zipfit_ray.job import plan

    broken = tmp_path / "pool" / "part-9.parquet"
    broken.parent.mkdir()
    broken.write_bytes(b"not parquet")
    pools = (str(mixed_pool), str(broken.parent))
    config = SelectConfig.from_flags(pool=pools, targets="t", out="o", k=1, on_bad_file="skip")
    here = plan.plan_pool(config)
    monkeypatch.setattr(plan, "PLAN_IN_TASKS_FROM", 1)
    monkeypatch.setattr(plan, "PLAN_CHUNK_FILES", 2)
    in_tasks = plan.plan_pool(config)
    assert in_tasks == here and here.skipped_files == (str(broken),)
    assert here.num_rows > 0 and here.footerless_files == 2
    with pytest.raises(ZipfitError, match=r"part-9\.parquet: not a readable Parquet file"):
        plan.plan_pool(SelectConfig.from_flags(pool=pools, targets="t", out="o", k=1))


@pytest.mark.parametrize(
    "options",
    [
        {"k": 12},
        {"k": 12, "temperature": 0.01, "order": "score"},
        {"k": 12, "targets": "two sets"},
    ],
    ids=["plain", "soft-ranked", "named-sets"],
)
def test_the_columns_a_job_adds_are_the_declared_ones_and_refused_in_the_pool(
    ray_session, corpus, tmp_path, options
):
    named = [f"a={corpus.targets_path}", f"b={corpus.targets_path}"]
    targets = named if options.get("targets") else str(corpus.targets_path)
    options = {**options, "targets": targets}
    config = SelectConfig.from_flags(
        pool=(str(corpus.pool_dir),), out=str(tmp_path / "out"), compressor="lz4", **options
    )
    run_select(config)
    pool_columns = pq.read_schema(next(corpus.pool_dir.glob("*.parquet"))).names
    written = read_selection(tmp_path / "out").column_names
    assert written[: len(pool_columns)] == pool_columns
    assert tuple(written[len(pool_columns) :]) == plan.added_columns(config)
    clashing = tmp_path / "clashing"
    clashing.mkdir()
    last = plan.added_columns(config)[-1]  # the last declared column, not just the score
    table = pq.read_table(next(corpus.pool_dir.glob("*.parquet")))
    pq.write_table(
        table.append_column(last, pa.array([1] * table.num_rows)), clashing / "p.parquet"
    )
    again = {**config.flags(), "pool": (str(clashing),), "out": str(tmp_path / "o2")}
    with pytest.raises(ZipfitError, match=f"has a column '{last}', which the selection adds"):
        run_select(SelectConfig.from_flags(**again))
