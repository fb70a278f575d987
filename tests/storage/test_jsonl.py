"""JSON-lines pools: every compression, bad lines, the output's columns, mixed with Parquet,
on local disk and on S3 (moto on 127.0.0.1)."""

import bz2
import gzip
import json
import lzma

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs
import zstandard

from tests.conftest import write_jsonl
from tests.job.test_scoring import score_shard
from tests.storage.test_s3 import read_parts
from zipfit_ray import SelectConfig, ZipfitError, prepare_targets, run_select, storage
from zipfit_ray.job import checkpoints, scoring
from zipfit_ray.storage import jsonl

COMPRESSORS = {
    "jsonl": lambda data: data,
    "jsonl.gz": gzip.compress,
    "jsonl.bz2": bz2.compress,
    "json.xz": lzma.compress,
    "jsonl.zst": lambda data: zstandard.ZstdCompressor().compress(data),
    "ndjson": lambda data: data,
}
BUCKET = "zipfit-jsonl"
TARGETS = prepare_targets(["def f(x):\n    return x + 1\n", "import os\nprint(os.getcwd())\n"])


def read_selection(out) -> pa.Table:
    return pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read()


def config(out="out", **options) -> SelectConfig:
    return SelectConfig.from_flags(pool=("pool",), targets="unused", out=str(out), k=1, **options)


def score_file(path, **options):
    scan = storage.scan_pool(storage.list_pool_files([str(path)], {}), "text", {})
    (shard,) = storage.cut_shards(scan, 10**9)
    return score_shard(shard, config(**options), TARGETS)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("a.jsonl", True),
        ("a.JSONL.GZ", True),
        ("dir/a.json.zst", True),
        ("a.ndjson.bz2", True),
        ("a.parquet", False),
        ("a.txt.gz", False),
        ("a.gz", False),
    ],
)
def test_jsonl_files_are_known_by_their_names(name, expected):
    assert jsonl.is_jsonl(name) is expected


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_every_compression_reads_the_same_lines(tmp_path, suffix):
    path = tmp_path / f"pool.{suffix}"
    records = [{"text": f"line {i}"} for i in range(5000)]
    data = "".join(json.dumps(r) + "\n" for r in records)
    data = data.replace('{"text": "line 3"}\n', "\n  \n")  # blank lines are not rows
    path.write_bytes(COMPRESSORS[suffix](data.encode().rstrip(b"\n")))  # no final newline
    lines = list(jsonl.lines(str(path), {}))
    assert [number for number, _ in lines] == [n for n in range(5001) if n not in (3, 4)]
    assert json.loads(lines[-1][1]) == {"text": "line 4999"}


@pytest.mark.parametrize("suffix", ["jsonl.gz", "jsonl.zst", "json.xz", "jsonl.bz2"])
def test_a_truncated_compressed_file_is_an_error_naming_it(tmp_path, suffix):
    path = tmp_path / f"pool.{suffix}"
    compressed = COMPRESSORS[suffix](
        "".join(json.dumps({"text": f"row {i} " * 20}) + "\n" for i in range(20000)).encode()
    )
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(OSError, match=r"pool\..*: compressed data is truncated or corrupt after"):
        list(jsonl.lines(str(path), {}))


@pytest.mark.parametrize(
    "bad, why",
    [
        ('{"text": "unterminated', "not valid JSON"),
        ('["a", "list"]', "a JSON list, not an object"),
        ('{"body": "no text field"}', "no field 'text'"),
        ('{"text": 42}', "field 'text' is a JSON integer, not a string"),
        (b'{"text": "\xff"}', "not valid JSON"),  # not UTF-8
    ],
)
def test_a_bad_line_is_named_or_counted(tmp_path, bad, why):
    path = tmp_path / "pool.jsonl"
    good = [json.dumps({"text": f"def f{i}(x):\n    return x\n"}).encode() for i in range(4)]
    bad = bad if isinstance(bad, bytes) else bad.encode()
    path.write_bytes(b"\n".join([*good[:2], bad, *good[2:]]) + b"\n")
    with pytest.raises(ZipfitError, match=rf"pool\.jsonl line 3: {why}.*--on-bad-file skip"):
        score_file(path)
    result = score_file(path, on_bad_file="skip")
    assert result.counts["rows_skipped_bad_line"] == 1 and result.counts["rows_read"] == 4
    assert storage.unpack_row_id(result.entries["row_id"])[1].tolist() == [0, 1, 3, 4]


def test_a_truncated_file_is_skipped_and_listed_with_on_bad_file_skip(tmp_path, monkeypatch):
    monkeypatch.setattr(scoring, "RETRY_DELAY", 0.0)
    path = tmp_path / "pool.jsonl.gz"
    records = [{"text": f"def f{i}(x): return {i}" * 10} for i in range(20000)]
    compressed = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ZipfitError, match=r"pool\.jsonl\.gz: cannot be read .*truncated"):
        score_file(path)
    result = score_file(path, on_bad_file="skip")
    assert result.bad_files == [str(path)] and len(result.entries) == 0


def test_field_kinds_map_to_one_type_per_field():
    kinds: dict[str, set[str]] = {}
    for record in (
        {"text": "a", "n": 1, "x": 1, "ok": True, "tags": ["a"], "mixed": 1, "none": None},
        {"text": "b", "n": 2, "x": 2.5, "ok": False, "tags": [], "mixed": "one", "extra": {}},
    ):
        jsonl.note_kinds(record, kinds)
    schema = jsonl.schema(kinds)
    assert schema.names == ["text", "n", "x", "ok", "tags", "mixed", "none", "extra"]
    assert [str(t) for t in schema.types] == [
        "string",
        "int64",
        "double",
        "bool",
        "string",  # lists: JSON text
        "string",  # a mix of kinds: JSON text
        "string",  # only ever null
        "string",  # objects: JSON text
    ]


def test_rows_read_back_hold_every_field_as_the_schema_says(tmp_path):
    path = tmp_path / "pool.jsonl.gz"
    records = [
        {"text": "a", "meta": {"lang": "en"}, "n": 1},
        {"text": "b", "tags": ["x", "y"], "n": 2},
        {"text": "c", "n": 3},
    ]
    write_jsonl(path, records, gzip.compress)
    kinds: dict[str, set[str]] = {}
    for record in records:
        jsonl.note_kinds(record, kinds)
    found = jsonl.read_records(str(path), np.array([2, 0]), {})
    table = jsonl.records_table(found, jsonl.schema(kinds))
    assert table.to_pylist() == [
        {"text": "c", "meta": None, "n": 3, "tags": None},
        {"text": "a", "meta": '{"lang": "en"}', "n": 1, "tags": None},
    ]


@pytest.mark.parametrize(
    "rule", [{"k": 25}, {"budget_tokens": 3000}, {"min_score": 0.05}], ids=lambda r: str(r)
)
def test_a_mixed_pool_selects_what_the_same_rows_in_parquet_select(
    ray_session, corpus, mixed_pool, tmp_path, rule
):
    common = dict(
        targets=str(corpus.targets_path), compressor="zlib", joint="concat", part_rows=10, **rule
    )
    parquet_summary = run_select(
        SelectConfig.from_flags(
            pool=(str(corpus.pool_dir),), out=str(tmp_path / "parquet"), **common
        )
    )
    summary = run_select(
        SelectConfig.from_flags(pool=(str(mixed_pool),), out=str(tmp_path / "mixed"), **common)
    )
    parquet, mixed = read_selection(tmp_path / "parquet"), read_selection(tmp_path / "mixed")
    assert len(mixed) > 0
    assert mixed.select(parquet.column_names).equals(parquet)
    for key in ("rows_read", "rows_selected", "rows_skipped_null", "tokens_selected"):
        assert summary[key] == parquet_summary[key]
    assert summary["rows_total"] == len(corpus.texts)


def test_a_jsonl_pool_keeps_every_field_and_resumes(ray_session, tmp_path, corpus, monkeypatch):
    pool = tmp_path / "pool"
    pool.mkdir()
    texts = [t.decode() for t in corpus.texts if t is not None]
    records = [
        {"text": t, "url": f"https://example.org/{i}", "meta": {"i": i}}
        for i, t in enumerate(texts)
    ]
    records[3]["score_hint"] = 0.5  # a field only one record has
    write_jsonl(pool / "a.jsonl", records[:100])
    write_jsonl(pool / "b.jsonl.gz", records[100:], gzip.compress)
    options = dict(
        pool=(str(pool),), targets=str(corpus.targets_path), out=str(tmp_path / "out"), k=len(texts)
    )
    monkeypatch.setattr(checkpoints, "remove_all", lambda out, options: None)  # kept
    config = SelectConfig.from_flags(**options, compressor="zlib", all_scores=True)
    run_select(config)
    table = read_selection(tmp_path / "out")
    assert table.column_names == ["text", "url", "meta", "score_hint", "zipfit_score"]
    assert table.column("url").to_pylist() == [r["url"] for r in records]  # pool order
    assert json.loads(table.column("meta")[7].as_py()) == {"i": 7}
    assert table.column("score_hint").to_pylist().count(0.5) == 1

    # as if the driver died after scoring: the rerun takes every shard, fields included,
    # from the checkpoints
    for path in [tmp_path / "out" / "_SUCCESS", *(tmp_path / "out").glob("part-*")]:
        path.unlink()
    summary = run_select(config)
    assert summary["shards_resumed"] == summary["shards_total"] == 2
    assert read_selection(tmp_path / "out").equals(table)


def test_jsonl_on_s3_selects_what_local_files_select(
    ray_session, corpus, mixed_pool, s3_options, tmp_path
):
    fs = s3fs.S3FileSystem(**s3_options)
    fs.mkdir(BUCKET)
    fs.put(str(mixed_pool) + "/", f"{BUCKET}/mixed/", recursive=True)
    common = dict(targets=str(corpus.targets_path), compressor="zlib", k=25)
    run_select(
        SelectConfig.from_flags(pool=(str(mixed_pool),), out=str(tmp_path / "local"), **common)
    )
    run_select(
        SelectConfig.from_flags(
            pool=(f"s3://{BUCKET}/mixed/",),
            out=f"s3://{BUCKET}/mixed-out",
            storage_options=s3_options,
            **common,
        )
    )
    assert read_parts(fs, f"{BUCKET}/mixed-out").equals(read_selection(tmp_path / "local"))


def test_estimate_says_it_needs_parquet(corpus, mixed_pool):
    from zipfit_ray.analysis import dataset_alignment

    scan = storage.scan_pool(storage.list_pool_files([str(mixed_pool)], {}), "text", {})
    with pytest.raises(ZipfitError, match="JSONL files only give once read"):
        dataset_alignment.plan_sample(scan, 10, 0)


@pytest.mark.parametrize("out_format", ["jsonl", "jsonl.gz", "jsonl.zst"])
def test_jsonl_output_holds_each_row_as_it_was_plus_its_score(
    ray_session, corpus, mixed_pool, tmp_path, out_format
):
    common = dict(pool=(str(mixed_pool),), targets=str(corpus.targets_path), k=40, part_rows=15)
    run_select(SelectConfig.from_flags(out=str(tmp_path / "parquet"), compressor="zlib", **common))
    summary = run_select(
        SelectConfig.from_flags(
            out=str(tmp_path / "jsonl"), compressor="zlib", out_format=out_format, **common
        )
    )
    parts = sorted((tmp_path / "jsonl").glob("part-*"))
    assert [p.name for p in parts] == summary["parts"] and len(parts) > 1
    assert all(p.name.endswith("." + out_format) for p in parts)
    rows = [json.loads(line) for p in parts for _, line in jsonl.lines(str(p), {})]
    expected = read_selection(tmp_path / "parquet").to_pylist()
    assert rows == expected  # every field, in the same order, the score last


def test_out_format_is_checked():
    with pytest.raises(ZipfitError, match="--out-format: choose from"):
        SelectConfig.from_flags(pool=("p",), targets="t", out="o", k=1, out_format="csv")
    with pytest.raises(ZipfitError, match="--order score: sorts Parquet parts"):
        SelectConfig.from_flags(
            pool=("p",), targets="t", out="o", k=1, order="score", out_format="jsonl"
        )


def test_the_records_fields_unify_with_the_parquet_columns():
    parquet = pa.schema([("text", pa.string()), ("n", pa.int64())])
    kinds = {"text": ["string"], "n": ["number"], "url": ["string"]}
    assert storage.output_schema(parquet, kinds) == pa.schema(
        [("text", pa.string()), ("n", pa.float64()), ("url", pa.string())]
    )
    with pytest.raises(ZipfitError, match="do not match the Parquet files' columns"):
        storage.output_schema(parquet, {"n": ["string"]})
    with pytest.raises(ZipfitError, match="has a field 'zipfit_score', which the selection"):
        storage.output_schema(parquet, {"zipfit_score": ["number"]})
    with pytest.raises(ZipfitError, match="has a field 'zipfit_key'"):  # any column it adds
        storage.output_schema(parquet, {"zipfit_key": ["number"]}, ("zipfit_score", "zipfit_key"))
    storage.output_schema(parquet, {"zipfit_key": ["number"]})  # not added: kept as it is


def test_reselect_on_a_mixed_pool_selects_like_a_fresh_run(
    ray_session, corpus, mixed_pool, tmp_path
):
    from zipfit_ray.job.select import run_reselect

    common = dict(
        pool=(str(mixed_pool),),
        targets=str(corpus.targets_path),
        compressor="zlib",
        joint="concat",
    )
    run_select(
        SelectConfig.from_flags(out=str(tmp_path / "first"), k=10, all_scores=True, **common)
    )
    for rule in ({"k": 30}, {"min_score": 0.05}):
        fresh = run_select(
            SelectConfig.from_flags(out=str(tmp_path / f"fresh-{rule}"), **rule, **common)
        )
        again = run_reselect(str(tmp_path / "first"), {"out": str(tmp_path / f"re-{rule}"), **rule})
        assert read_selection(tmp_path / f"re-{rule}").equals(
            read_selection(tmp_path / f"fresh-{rule}")
        )
        assert again["rows_total"] == fresh["rows_total"] == len(corpus.texts)
