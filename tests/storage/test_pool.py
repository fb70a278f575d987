import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zipfit_ray import storage
from zipfit_ray.errors import ZipfitError


def test_directories_globs_and_files_expand_in_a_fixed_order(corpus, tmp_path):
    (corpus.pool_dir / "_metadata").write_bytes(b"")  # ignored: not a data file
    files = storage.list_pool_files([str(corpus.pool_dir)], {})
    assert [f.rsplit("/", 1)[1] for f in files] == [f"part-{i}.parquet" for i in range(4)]
    glob = storage.list_pool_files([str(corpus.pool_dir / "part-[23].parquet")], {})
    assert [f.rsplit("/", 1)[1] for f in glob] == ["part-2.parquet", "part-3.parquet"]
    # URIs keep the order given; a file named twice is listed once
    mixed = storage.list_pool_files([files[3], str(corpus.pool_dir), files[0]], {})
    assert mixed == [files[3], files[0], files[1], files[2]]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("nowhere/pool.parquet", "--pool: no such file or directory: nowhere/pool.parquet"),
        ("nowhere/*.parquet", "--pool: no files match nowhere/"),
    ],
)
def test_missing_pool_paths_are_named(uri, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ZipfitError, match=message.replace("*", r"\*").replace(".", r"\.")):
        storage.list_pool_files([uri], {})


def test_empty_directory_is_an_error(tmp_path):
    with pytest.raises(ZipfitError, match="no Parquet or JSONL files under"):
        storage.list_pool_files([str(tmp_path)], {})


def test_scan_reads_footers_and_shards_cover_every_row_once(corpus):
    scan = storage.scan_pool(storage.list_pool_files([str(corpus.pool_dir)], {}), "text", {})
    assert scan.num_rows == len(corpus.texts)
    assert scan.schema.names == ["id", "text", "kind", "source"]
    for shard_rows in (1, 40, 41, 100, 10_000):
        shards = storage.cut_shards(scan, shard_rows)
        ids = np.concatenate([ids for shard in shards for _, ids in shard_batches(shard, 16)])
        positions = pool_positions(scan, ids)
        assert positions.tolist() == list(range(scan.num_rows))
        assert [s.index for s in shards] == list(range(len(shards)))
        assert all(s.num_rows >= shard_rows for s in shards[:-1])
        assert all(s.num_rows - s.pieces[-1].num_rows < shard_rows for s in shards)


def shard_batches(shard, batch_rows):
    for piece in shard.pieces:
        for texts, _, ids in storage.iter_piece_texts(piece, ["text"], batch_rows, {}):
            yield texts, ids


def pool_positions(scan: storage.PoolScan, row_ids: np.ndarray) -> np.ndarray:
    file_index, row_index = storage.unpack_row_id(row_ids)
    file_starts = np.cumsum([0, *[sum(groups) for groups in scan.row_groups]])
    return file_starts[file_index] + row_index


def test_shard_texts_are_the_pool_texts_as_bytes(corpus):
    scan = storage.scan_pool(storage.list_pool_files([str(corpus.pool_dir)], {}), "text", {})
    shards = storage.cut_shards(scan, 64)
    texts = [t for shard in shards for batch, _ in shard_batches(shard, 10) for t in batch]
    assert texts == corpus.texts


def test_binary_and_large_string_columns_read_as_bytes(tmp_path):
    values = [b"\xff\xfe raw", None, b"plain"]
    for name, array in {
        "binary": pa.array(values, pa.binary()),
        "large_string": pa.array(["a", None, "é"], pa.large_string()),
    }.items():
        pq.write_table(pa.table({"text": array}), tmp_path / f"{name}.parquet")
        scan = storage.scan_pool(
            storage.list_pool_files([str(tmp_path / f"{name}.parquet")], {}), "text", {}
        )
        (shard,) = storage.cut_shards(scan, 100)
        [(texts, _)] = list(shard_batches(shard, 100))
        expected = values if name == "binary" else [b"a", None, "é".encode()]
        assert texts == expected


def test_missing_or_non_text_column_is_named(corpus, tmp_path):
    with pytest.raises(ZipfitError, match=r"part-0\.parquet: no column 'body' \(--text-column\)"):
        storage.scan_pool(storage.list_pool_files([str(corpus.pool_dir)], {}), "body", {})
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "ints.parquet")
    with pytest.raises(ZipfitError, match=r"ints\.parquet: column .text. .* is int64, not a"):
        storage.scan_pool(storage.list_pool_files([str(tmp_path / "ints.parquet")], {}), "text", {})


def test_non_parquet_file_is_named(tmp_path):
    bad = tmp_path / "notes.parquet"
    bad.write_text("hello")
    with pytest.raises(ZipfitError, match=r"notes\.parquet: not a readable Parquet file"):
        storage.scan_pool(storage.list_pool_files([str(bad)], {}), "text", {})


def test_read_rows_returns_all_columns_in_the_order_asked(corpus):
    path = str(corpus.pool_dir / "part-3.parquet")  # rows 250.. of the pool
    rows = np.array([99, 0, 41, 40, 39])
    sizes = pq.read_metadata(path).to_dict()["row_groups"]
    found = storage.format_of(path).rows(path, tuple(g["num_rows"] for g in sizes), rows, {})
    table = found.table(pq.read_schema(path))
    assert table.column_names == ["id", "text", "kind", "source"]
    assert table.column("id").to_pylist() == [250 + r for r in rows]


def test_conform_adds_missing_columns_as_nulls():
    schema = pa.schema([("text", pa.large_string()), ("extra", pa.int32())])
    table = storage.conform(pa.table({"text": ["a"]}), schema)
    assert table.schema == schema
    assert table.column("extra").to_pylist() == [None]


def test_files_with_different_columns_unify(tmp_path):
    pq.write_table(pa.table({"text": ["a"], "x": [1]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"text": ["b"], "y": ["q"]}), tmp_path / "b.parquet")
    scan = storage.scan_pool(storage.list_pool_files([str(tmp_path)], {}), "text", {})
    assert scan.schema.names == ["text", "x", "y"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("t.jsonl", '{"body": "first"}\n\n{"body": "second", "other": 1}\n{"body": null}\n'),
        ("t.json", json.dumps([{"body": "first"}, {"body": "second"}])),
        ("list.txt", json.dumps(["first", "second"])),
        ("lines.txt", "first\n\nsecond\n"),
    ],
)
def test_targets_from_text_formats(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    assert storage.read_targets(str(tmp_path / name), "body", {}) == [b"first", b"second"]


def test_targets_from_parquet(tmp_path):
    pq.write_table(pa.table({"body": ["first", None, "second"]}), tmp_path / "t.parquet")
    assert storage.read_targets(str(tmp_path / "t.parquet"), "body", {}) == [b"first", b"second"]
    with pytest.raises(ZipfitError, match=r"no column 'text' \(--target-column\)"):
        storage.read_targets(str(tmp_path / "t.parquet"), "text", {})


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("none.jsonl", "", "holds no target texts"),
        ("blank.txt", "\n\n", "holds no target texts"),
        ("bad.jsonl", '{"text": "a"}\nnot json\n', "bad.jsonl line 2: not JSON"),
        ("field.jsonl", '{"body": "a"}\n', "has no field 'text' \\(--target-column\\)"),
        ("obj.json", '{"text": "a"}', "expected a JSON list"),
    ],
)
def test_bad_targets_are_named(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(ZipfitError, match=message):
        storage.read_targets(str(tmp_path / name), "text", {})


def test_missing_targets_file(tmp_path):
    with pytest.raises(ZipfitError, match="--targets: no such file"):
        storage.read_targets(str(tmp_path / "absent.jsonl"), "text", {})


def test_write_atomic_leaves_no_temporary_files(tmp_path):
    storage.write_atomic(str(tmp_path / "a.parquet"), pa.table({"x": [1]}), {})
    storage.write_json(str(tmp_path / "s.json"), {"b": 1}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "s.json"]
    assert pq.read_table(tmp_path / "a.parquet").column("x").to_pylist() == [1]
    assert json.loads((tmp_path / "s.json").read_text()) == {"b": 1}


def test_a_second_column_comes_along_with_the_texts(corpus):
    scan = storage.scan_pool(storage.list_pool_files([str(corpus.pool_dir)], {}), "text", {})
    (piece, *_) = storage.cut_shards(scan, 1)[0].pieces
    [(texts, kinds, _)] = list(storage.iter_piece_texts(piece, ["text", "kind"], 1000, {}))
    assert len(kinds) == len(texts) == piece.num_rows
    assert set(kinds) <= {"python", "prose", "c"}
