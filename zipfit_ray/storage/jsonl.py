"""JSON-lines pool files: one JSON object per line, plain or compressed.

The compression is inferred from the name as fsspec does (.gz, .bz2, .xz, .zst, .lz4). A
file is one unit of work, read front to back: a compressed stream cannot be split. A row is
a non-blank line and its id is (file, 0-based line number), so ids are stable without an
index, and errors name the line (1-based, as editors count). There is no footer: a file's
rows are counted as it is scored, and the digest that guards a resume is its size and
modification stamp from the listing.

The output's columns come from the records themselves: scoring notes which JSON kinds each
top-level field holds (``note_kinds``), and ``schema`` maps them to one Arrow type per field.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import fsspec.compression
import fsspec.utils
import numpy as np
import pyarrow as pa
import zstandard

from zipfit_ray.errors import ZipfitError
from zipfit_ray.storage.files import filesystem, write_atomic
from zipfit_ray.storage.formats import FilePlan, OnBadRow, Piece, PoolFormat

SUFFIXES = (".jsonl", ".ndjson", ".json")
CHUNK_BYTES = 1 << 20
# JSON kinds a field may hold -> its Arrow type; any other mix is written as JSON text
TYPES = {
    frozenset({"string"}): pa.string(),
    frozenset({"integer"}): pa.int64(),
    frozenset({"number"}): pa.float64(),
    frozenset({"integer", "number"}): pa.float64(),
    frozenset({"boolean"}): pa.bool_(),
}
DECOMPRESSION_ERRORS = (EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


class JsonlFormat(PoolFormat):
    """A unit is a whole file: a compressed stream cannot be split."""

    name = "JSONL"
    suffixes_note = f"{', '.join(SUFFIXES)}, possibly compressed, e.g. .jsonl.gz, .json.zst"
    has_footer = False

    def matches(self, path: str) -> bool:
        return is_jsonl(path)

    def plan(self, uri: str, text_column: str, storage_options: dict[str, Any]) -> FilePlan:
        try:
            digest, size = file_digest(uri, storage_options)
        except OSError as exc:
            raise ZipfitError(f"{uri}: cannot be read ({exc})") from exc
        return FilePlan((), None, digest, size)

    def units(self, file_index: int, uri: str, plan_row_groups: tuple[int, ...]) -> list[Piece]:
        return [Piece(file_index, uri, 0, 0, 0, whole_file=True)]

    def texts(
        self,
        piece: Piece,
        columns: list[str],
        batch_rows: int,
        storage_options: dict[str, Any],
        on_bad_row: OnBadRow | None,
        kinds: dict[str, set[str]],
    ) -> Iterator[tuple[list[bytes | None], list | None, np.ndarray]]:
        return iter_texts(piece.path, columns, batch_rows, storage_options, on_bad_row, kinds)

    def rows(
        self,
        path: str,
        row_group_sizes: tuple[int, ...],
        numbers: np.ndarray,
        storage_options: dict[str, Any],
    ) -> JsonlRows:
        return JsonlRows(read_records(path, numbers, storage_options))


class JsonlRows:
    """Records read from a JSONL file, as they were parsed."""

    def __init__(self, records: list[dict]) -> None:
        self._records = records

    def table(self, schema: pa.Schema) -> pa.Table:
        return records_table(self._records, schema)

    def records(self) -> list[dict]:
        return self._records

    def texts(self, name: str) -> list[bytes | None]:
        values = (r.get(name) for r in self._records)
        return [v.encode("utf-8") if isinstance(v, str) else None for v in values]


def is_jsonl(path: str) -> bool:
    """By the name: .jsonl, .ndjson or .json, under any compression fsspec knows."""
    name = path.lower()
    if fsspec.utils.infer_compression(name):
        name = name.rsplit(".", 1)[0]
    return name.endswith(SUFFIXES)


def file_digest(uri: str, storage_options: dict[str, Any]) -> tuple[str, int]:
    """(digest, size in bytes) from the file's listing entry: the digest changes when the
    file is rewritten, so a resume never takes work done on an older file."""
    fs, path = filesystem(uri, storage_options)
    info = fs.info(path)
    stamp = {k: info[k] for k in ("size", "mtime", "LastModified", "ETag", "md5") if k in info}
    return hashlib.sha256(json.dumps(stamp, default=str).encode()).hexdigest(), int(info["size"])


def lines(uri: str, storage_options: dict[str, Any]) -> Iterator[tuple[int, bytes]]:
    """(0-based line number, line) of every non-blank line, decompressed. Data that ends
    early or is corrupt is an OSError naming the file and the last line read."""
    number = 0
    try:
        with _decompressed(uri, storage_options) as chunks:
            pending = b""
            for chunk in chunks:
                *complete, pending = (pending + chunk).split(b"\n")
                for line in complete:
                    if line.strip():
                        yield number, line
                    number += 1
            if pending.strip():
                yield number, pending
    except DECOMPRESSION_ERRORS as exc:
        raise OSError(
            f"{uri}: compressed data is truncated or corrupt after line {number} ({exc})"
        ) from exc


@contextmanager
def _decompressed(uri: str, storage_options: dict[str, Any]) -> Iterator[Iterator[bytes]]:
    fs, path = filesystem(uri, storage_options)
    compression = fsspec.utils.infer_compression(path)
    with fs.open(path, "rb") as raw:
        if compression is None:
            yield iter(lambda: raw.read(CHUNK_BYTES), b"")
        elif compression == "zstd":  # fsspec's zstd reader ends silently on a truncated frame
            yield _zstd_chunks(raw)
        else:
            with fsspec.compression.compr[compression](raw, mode="rb") as f:
                yield iter(lambda: f.read(CHUNK_BYTES), b"")


def _zstd_chunks(raw: BinaryIO) -> Iterator[bytes]:
    """Decompressed bytes of every zstd frame in ``raw``; an unfinished frame is an error."""
    decompressor = zstandard.ZstdDecompressor()
    frame, started = decompressor.decompressobj(), False
    while chunk := raw.read(CHUNK_BYTES):
        while chunk:
            started = True
            yield frame.decompress(chunk)
            chunk = b""
            if frame.eof:
                chunk, frame, started = frame.unused_data, decompressor.decompressobj(), False
    if started:
        raise EOFError("the last zstd frame ends early")


def parse(number: int, line: bytes, text_field: str, on_bad_line: OnBadRow) -> dict | None:
    """The line's record if it is a JSON object whose text field is a string or null;
    otherwise ``on_bad_line`` hears why, and None is returned."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        on_bad_line(number, f"not valid JSON ({exc})")
        return None
    if not isinstance(record, dict):
        on_bad_line(number, f"a JSON {_kind(record)}, not an object")
        return None
    if text_field not in record:
        on_bad_line(number, f"no field {text_field!r} (--text-column)")
        return None
    value = record[text_field]
    if value is not None and not isinstance(value, str):
        on_bad_line(number, f"field {text_field!r} is a JSON {_kind(value)}, not a string")
        return None
    return record


def iter_texts(
    uri: str,
    fields: list[str],
    batch_rows: int,
    storage_options: dict[str, Any],
    on_bad_line: OnBadRow | None,
    kinds: dict[str, set[str]],
) -> Iterator[tuple[list[bytes | None], list | None, np.ndarray]]:
    """A file's texts (``fields[0]``; None where null), the values of a second field if one
    is named (else None) and the line numbers, ``batch_rows`` rows at a time. A file
    without rows gives one empty batch, so that its shard is scored like any other (its
    saved scores hold the mode's fields). Every record's fields are noted in ``kinds``; a
    bad line goes to ``on_bad_line``, or with None is an error naming it."""

    def bad_line_is_an_error(number: int, why: str) -> None:
        raise ZipfitError(f"{uri} line {number + 1}: {why}")

    on_bad_line = on_bad_line or bad_line_is_an_error
    texts: list[bytes | None] = []
    others: list = []
    numbers: list[int] = []

    def batch() -> tuple[list[bytes | None], list | None, np.ndarray]:
        found = (texts.copy(), others.copy() if len(fields) > 1 else None, np.array(numbers))
        texts.clear(), others.clear(), numbers.clear()
        return found

    yielded = False
    for number, line in lines(uri, storage_options):
        record = parse(number, line, fields[0], on_bad_line)
        if record is None:
            continue
        note_kinds(record, kinds)
        text = record[fields[0]]
        texts.append(None if text is None else text.encode("utf-8"))
        if len(fields) > 1:
            others.append(record.get(fields[1]))
        numbers.append(number)
        if len(texts) == batch_rows:
            yielded = True
            yield batch()
    if texts or not yielded:
        yield batch()


def read_records(uri: str, numbers: np.ndarray, storage_options: dict[str, Any]) -> list[dict]:
    """The records on the given lines, in the order given; reading stops after the last."""
    wanted = set(numbers.tolist())
    last = max(wanted, default=-1)
    records: dict[int, dict] = {}
    for number, line in lines(uri, storage_options):
        if number in wanted:
            records[number] = json.loads(line)
        if number >= last:
            break
    return [records[n] for n in numbers.tolist()]


def records_table(records: list[dict], schema: pa.Schema) -> pa.Table:
    """Records as ``schema``: fields a record lacks are nulls, string fields holding other
    JSON are JSON text."""
    return pa.Table.from_arrays(
        [_column([r.get(f.name) for r in records], f.type) for f in schema], schema=schema
    )


def write_records(uri: str, records: list[dict], storage_options: dict[str, Any]) -> None:
    """One JSON object per line, compressed as the name says (.gz, .zst: fsspec's names),
    written atomically. Values JSON has no type for: bytes as UTF-8 text (invalid bytes
    replaced), anything else (dates, decimals) as its string."""
    data = "".join(json.dumps(r, ensure_ascii=False, default=_plain) + "\n" for r in records)
    compression = fsspec.utils.infer_compression(uri)
    raw = data.encode("utf-8")
    if compression == "gzip":
        raw = gzip.compress(raw)
    elif compression == "zstd":
        raw = zstandard.ZstdCompressor().compress(raw)
    write_atomic(uri, raw, storage_options)


def _plain(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _column(values: list, data_type: pa.DataType) -> pa.Array:
    if pa.types.is_string(data_type):
        values = [
            v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for v in values
        ]
    return pa.array(values, type=data_type)


def note_kinds(record: dict, kinds: dict[str, set[str]]) -> None:
    """Add the JSON kind of each of the record's fields (nulls say nothing)."""
    for name, value in record.items():
        seen = kinds.setdefault(name, set())
        if value is not None:
            seen.add(_kind(value))


def merge_kinds(into: dict[str, list[str]], kinds: dict[str, list[str]]) -> None:
    """Add one unit's field kinds to those of the units before it (field order: first seen)."""
    for name, seen in kinds.items():
        into[name] = sorted({*into.get(name, ()), *seen})


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def schema(kinds: dict[str, list[str]]) -> pa.Schema:
    """One Arrow type per field, in the order given: strings, integers, numbers (integers
    with them), booleans; a field that holds anything else, or a mix, is JSON text; a field
    that was only ever null is a string column of nulls."""
    return pa.schema(
        [(name, TYPES.get(frozenset(seen), pa.string())) for name, seen in kinds.items()]
    )
