"""Inputs no test had tried (issue 24): each one works, or fails before any work with one
line naming the file, column or argument at fault."""

import codecs
import json
import re
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import write_jsonl
from tests.job.test_scoring import score_shard
from tests.naive import naive_alignment
from tests.test_cli import ROOT
from zipfit_ray import SelectConfig, ZipfitError, alignment, prepare_targets, run_select, storage
from zipfit_ray.job import checkpoints


def read_selection(out) -> pa.Table:
    return pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read()


def select_all(pool, targets, out, **options) -> tuple[dict, pa.Table]:
    """Every row of the pool scored and kept (K above its size), and the parts read back."""
    config = SelectConfig.from_flags(
        pool=(str(pool),), targets=str(targets), out=str(out), k=10**9, **options
    )
    summary = run_select(config)
    return summary, read_selection(out)


def texts_of(corpus) -> list[str | None]:
    return [None if t is None else t.decode() for t in corpus.texts]


def shard_scores(pool, text_column: str, targets: list[bytes]) -> list[float]:
    """The scores scoring tasks give the pool's rows, in pool order, without Ray."""
    scan = storage.scan_pool(storage.list_pool_files([str(pool)], {}), text_column, {})
    config = SelectConfig.from_flags(
        pool=("p",), targets="t", out="o", k=1, text_column=text_column
    )
    prepared = prepare_targets(targets)
    shards = storage.cut_shards(scan, 10**9)
    outcomes = [score_shard(shard, config, prepared) for shard in shards]
    return [score for outcome in outcomes for score in outcome.entries["score"].tolist()]


# a, b: dictionary-encoded, large_string and large_binary text columns

TEXT_COLUMNS = {
    "dictionary": lambda texts: pa.array(texts).dictionary_encode(),
    "large_string": lambda texts: pa.array(texts, pa.large_string()),
    "large_binary": lambda texts: pa.array([t and t.encode() for t in texts], pa.large_binary()),
}


@pytest.mark.parametrize("kind", list(TEXT_COLUMNS))
def test_dictionary_and_large_text_columns_score_as_the_plain_column(
    ray_session, corpus, tmp_path, kind
):
    texts = texts_of(corpus)
    table = pa.table({"id": range(len(texts)), "text": TEXT_COLUMNS[kind](texts)})
    pq.write_table(table, tmp_path / "pool.parquet", row_group_size=40)
    summary, selected = select_all(tmp_path / "pool.parquet", corpus.targets_path, tmp_path / "o")
    present = [t for t in corpus.texts if t is not None]
    expected = alignment(present, corpus.targets).tolist()  # the plain column's scores
    assert summary["rows_selected"] == len(present)
    assert selected.column("zipfit_score").to_pylist() == expected
    assert selected.column("text").type == table.schema.field("text").type


# c: a text field of a struct column


def nested_pool(corpus, tmp_path, suffix: str):
    texts = texts_of(corpus)[:60]
    records = [{"meta": {"text": t, "lang": "en"}, "id": i} for i, t in enumerate(texts)]
    records[3]["meta"] = None  # a null struct: a null text
    path = tmp_path / f"pool.{suffix}"
    if suffix == "parquet":
        pq.write_table(pa.Table.from_pylist(records), path, row_group_size=16)
    else:
        write_jsonl(path, records)
    present = [t.encode() for i, t in enumerate(texts) if t is not None and i != 3]
    return path, present


def test_a_text_field_of_a_struct_column_is_scored(corpus, tmp_path):
    path, present = nested_pool(corpus, tmp_path, "parquet")
    scores = shard_scores(path, "meta.text", corpus.targets)
    assert scores == alignment(present, corpus.targets).tolist()
    for column, why in [
        ("meta.body", "no column 'meta.body' (--text-column)"),
        ("meta", "column 'meta' (--text-column) is struct<"),
    ]:
        with pytest.raises(ZipfitError, match=rf"pool\.parquet: {re.escape(why)}"):
            storage.scan_pool([str(path)], column, {})


def test_jsonl_names_top_level_fields_only(corpus, tmp_path):
    path, _ = nested_pool(corpus, tmp_path, "jsonl")
    with pytest.raises(ZipfitError, match=r"pool\.jsonl line 1: no field 'meta\.text'"):
        shard_scores(path, "meta.text", corpus.targets)


def test_a_text_field_of_a_struct_column_selects_end_to_end(ray_session, corpus, tmp_path):
    path, present = nested_pool(corpus, tmp_path, "parquet")
    _, selected = select_all(path, corpus.targets_path, tmp_path / "o", text_column="meta.text")
    expected = alignment(present, corpus.targets).tolist()
    assert selected.column("zipfit_score").to_pylist() == expected


# d: files and row groups without rows


def test_files_and_row_groups_without_rows_count_as_none(ray_session, corpus, tmp_path):
    pool = tmp_path / "pool"
    pool.mkdir()
    texts = [t for t in texts_of(corpus) if t is not None][:50]
    table = pa.table({"text": texts})
    pq.write_table(table.slice(0, 0), pool / "a.parquet")  # one row group of 0 rows
    with pq.ParquetWriter(pool / "b.parquet", table.schema) as writer:
        for part in (table.slice(0, 20), table.slice(0, 0), table.slice(20, 30)):
            writer.write_table(part)  # the middle row group has no rows
    (pool / "c.jsonl").write_bytes(b"")
    (pool / "d.jsonl").write_bytes(b"\n\n")  # blank lines are not rows
    assert pq.ParquetFile(pool / "b.parquet").metadata.row_group(1).num_rows == 0
    summary, selected = select_all(pool, corpus.targets_path, tmp_path / "o")
    assert summary["rows_total"] == summary["rows_selected"] == 50
    assert selected.column("text").to_pylist() == texts
    expected = alignment([t.encode() for t in texts], corpus.targets).tolist()
    assert selected.column("zipfit_score").to_pylist() == expected


# e: a glob or directory that matches nothing


@pytest.mark.parametrize(
    "uri, message",
    [
        ("none/*.parquet", "--pool: no files match {tmp}/none/*.parquet"),
        ("dirs/s*", "--pool: no files match {tmp}/dirs/s*"),  # only a directory matches
        ("dirs", "--pool: no Parquet or JSONL files under {tmp}/dirs"),
    ],
)
def test_a_glob_or_directory_matching_nothing_is_named(corpus, tmp_path, uri, message):
    (tmp_path / "dirs" / "sub").mkdir(parents=True)
    (tmp_path / "dirs" / "notes.txt").write_text("not a pool file")
    (tmp_path / "dirs" / "_hidden.parquet").write_bytes(b"")
    config = SelectConfig.from_flags(
        pool=(str(tmp_path / uri),), targets=str(corpus.targets_path), out=str(tmp_path / "o"), k=1
    )
    with pytest.raises(ZipfitError) as raised:
        run_select(config)  # fails while planning, before Ray is needed
    assert str(raised.value).startswith(message.format(tmp=tmp_path))
    assert "\n" not in str(raised.value)


# f: a target set without texts


@pytest.mark.parametrize(
    "name, content",
    [
        ("t.jsonl", ""),
        ("t.jsonl", '{"text": null}\n{"text": null}\n'),
        ("t.json", "[]"),
        ("t.json", "[null, null]"),
        ("t.txt", "\n \n"),
        ("t.parquet", pa.table({"text": pa.array([], pa.string())})),
        ("t.parquet", pa.table({"text": pa.array([None, None], pa.string())})),
    ],
)
def test_a_target_set_without_texts_is_named(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, pa.Table):
        pq.write_table(content, path)
    else:
        path.write_text(content)
    with pytest.raises(ZipfitError, match=rf"^--targets: {re.escape(str(path))} holds no target"):
        storage.read_targets(str(path), "text", {})


# g: a target longer than the compressor's window or dictionary


@pytest.mark.parametrize(
    "compressor, target_bytes",
    [("lz4-block", 300_000), ("zstd", 3_000_000)],  # lz4 keeps 64 KB of x, zstd-3 ~1 MiB
)
def test_a_target_longer_than_the_window_scores_by_the_formula(
    ray_session, corpus, tmp_path, compressor, target_bytes
):
    present = [t for t in corpus.texts if t is not None][:12]
    pq.write_table(pa.table({"text": present}), tmp_path / "pool.parquet", row_group_size=4)
    text = b"".join(corpus.targets)
    long_target = (text * (target_bytes // len(text) + 1))[:target_bytes].decode(errors="ignore")
    targets = [long_target, corpus.targets[0].decode()]
    write_jsonl(tmp_path / "targets.jsonl", [{"text": t} for t in targets])
    _, selected = select_all(
        tmp_path / "pool.parquet", tmp_path / "targets.jsonl", tmp_path / "o", compressor=compressor
    )
    scores = selected.column("zipfit_score").to_pylist()
    assert len(scores) == len(present)
    prepared = prepare_targets(targets, compressor)
    for i in (0, len(present) - 1):
        expected = naive_alignment(
            present[i], list(prepared.texts), compressor, prepared.level, prepared.joint
        )
        assert abs(scores[i] - expected) <= 1e-12


# h: invalid UTF-8 in a binary text column


@pytest.mark.parametrize("out_format", ["parquet", "jsonl"])
def test_invalid_utf8_in_a_binary_column_is_scored_as_bytes(
    ray_session, corpus, tmp_path, out_format
):
    texts = [t for t in corpus.texts if t is not None][:30]
    texts[1] = b"\xff\xfe" + texts[1]  # not UTF-8 anywhere
    texts[2] = texts[2] + "é".encode()[:1]  # a character cut in half
    texts[3] = bytes(range(256))
    pq.write_table(pa.table({"text": pa.array(texts, pa.binary())}), tmp_path / "pool.parquet")
    config = SelectConfig.from_flags(
        pool=(str(tmp_path / "pool.parquet"),),
        targets=str(corpus.targets_path),
        out=str(tmp_path / "o"),
        k=len(texts),
        out_format=out_format,
    )
    summary = run_select(config)
    assert summary["rows_selected"] == len(texts) and (tmp_path / "o" / "_SUCCESS").exists()
    expected = alignment(texts, corpus.targets).tolist()
    if out_format == "parquet":
        selected = read_selection(tmp_path / "o")
        assert selected.column("text").to_pylist() == texts
        assert selected.column("zipfit_score").to_pylist() == expected
    else:
        (part,) = (tmp_path / "o").glob("part-*.jsonl")
        records = [json.loads(line) for line in part.read_text().splitlines()]
        assert [r["zipfit_score"] for r in records] == expected
        assert records[1]["text"].startswith("\ufffd\ufffd")  # written as text, replaced


# i: a byte-order mark and CRLF line ends


def test_jsonl_with_a_byte_order_mark_and_crlf_line_ends_reads_every_row(tmp_path):
    records = [{"text": f"def f{i}(x):\r\n    return x\n"} for i in range(5)]
    lines = [json.dumps(r).encode() for r in records]
    (tmp_path / "pool.jsonl").write_bytes(codecs.BOM_UTF8 + b"\r\n".join(lines) + b"\r\n")
    piece = storage.cut_shards(
        storage.scan_pool([str(tmp_path / "pool.jsonl")], "text", {}), 10**9
    )[0].pieces[0]
    (texts, _, ids), *more = storage.iter_piece_texts(piece, ["text"], 100, {})
    assert not more and storage.unpack_row_id(ids)[1].tolist() == [0, 1, 2, 3, 4]
    assert texts == [r["text"].encode() for r in records]  # a \r inside a text is kept

    (tmp_path / "t.jsonl").write_bytes(codecs.BOM_UTF8 + b"\r\n".join(lines[:2]) + b"\r\n")
    (tmp_path / "t.txt").write_bytes(codecs.BOM_UTF8 + b"first\r\nsecond\r\n")
    assert storage.read_targets(str(tmp_path / "t.jsonl"), "text", {}) == texts[:2]
    assert storage.read_targets(str(tmp_path / "t.txt"), "text", {}) == [b"first", b"second"]


# j: a pool file rewritten between a run and its resume


def rewrite(path, texts):
    pq.write_table(pa.table({"text": texts}), path, row_group_size=2)


def test_checkpoints_name_the_pool_files_that_changed(tmp_path):
    for name in ("a", "b"):
        rewrite(tmp_path / f"{name}.parquet", [f"{name} one", f"{name} two", f"{name} three"])
    files = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    config = SelectConfig.from_flags(pool=tuple(files), targets="t", out=str(tmp_path / "out"), k=2)
    targets = prepare_targets(["x", "y"])

    def job():
        scan = storage.scan_pool(files, "text", {})
        return checkpoints.fingerprint(config, scan, targets, None), scan

    first, scan = job()
    assert checkpoints.open_for_job(config.output.out, first, False, {}, scan) == set()
    rewrite(tmp_path / "b.parquet", ["b one", "b two", "b THREE"])
    second, scan = job()
    with pytest.raises(ZipfitError) as raised:
        checkpoints.open_for_job(config.output.out, second, False, {}, scan)
    assert f"different job (changed: pool: {files[1]} rewritten); " in str(raised.value)


def test_a_resume_over_a_rewritten_pool_file_is_refused(ray_session, corpus, tmp_path, monkeypatch):
    pool = tmp_path / "pool"
    pool.mkdir()
    texts = [t for t in texts_of(corpus) if t is not None]
    rewrite(pool / "a.parquet", texts[:40])
    rewrite(pool / "b.parquet", texts[40:80])
    monkeypatch.setattr(checkpoints, "remove_all", lambda out, options: None)  # as if killed
    config = SelectConfig.from_flags(
        pool=(str(pool),), targets=str(corpus.targets_path), out=str(tmp_path / "o"), k=5
    )
    run_select(config)
    for path in [tmp_path / "o" / "_SUCCESS", *(tmp_path / "o").glob("part-*")]:
        path.unlink()
    rewrite(pool / "b.parquet", texts[80:120])  # same rows, other texts
    with pytest.raises(
        ZipfitError, match=r"different job \(changed: pool: \S*b\.parquet rewritten"
    ):
        run_select(config)


# k: zipfit_ray.data without Ray Data


def test_zipfit_ray_data_without_ray_data_names_the_extra():
    hide_pandas = "import sys; sys.modules['pandas'] = None; import zipfit_ray.data"
    result = subprocess.run(
        [sys.executable, "-c", hide_pandas], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        "ImportError: zipfit_ray.data needs Ray Data: pip install 'zipfit-ray[data]'"
    )
