"""Every byte the job reads or writes goes through here: fsspec filesystems + pyarrow Parquet.

Local paths, s3://, gs:// and any other fsspec URL work the same way; ``storage_options``
are passed to fsspec for every filesystem opened, in the driver and in tasks alike.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import fsspec
import fsspec.parquet
import numpy as np
import pyarrow as pa
import pyarrow.fs
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from zipfit_ray.errors import ZipfitError

PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
ROW_BITS = 40  # a row id is file index << 40 | row within the file
SCORE_COLUMN = "zipfit_score"
POSITION_COLUMN = "zipfit_position"  # with --order score: file index << ROW_BITS | row in file
FOOTER_READERS = 16  # concurrent footer reads while planning (IO-bound)
# Bytes read from a file's end to find its footer (more is fetched if the footer is larger).
# fsspec's default sample is 1 MB and s3fs's read-ahead block several MB: per row group read,
# that was more than the row group itself (benchmarks/scale.py).
FOOTER_SAMPLE_BYTES = 64 * 1024


def pack_row_id(file_index: int, row_index: np.ndarray | int) -> np.ndarray:
    """A row's pool position as one int64; files keep their listed order, so ascending row
    id is ascending position in the pool."""
    return (np.int64(file_index) << ROW_BITS) | np.asarray(row_index, dtype=np.int64)


def unpack_row_id(row_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of pack_row_id: (file index, row index within the file)."""
    row_ids = np.asarray(row_ids, dtype=np.int64)
    return row_ids >> ROW_BITS, row_ids & ((1 << ROW_BITS) - 1)


def filesystem(uri: str, storage_options: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
    return fsspec.core.url_to_fs(uri, **storage_options)


def _uri(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path)


def join(base: str, *names: str) -> str:
    """Join URI path segments (fsspec URLs always use '/')."""
    return posixpath.join(base.rstrip("/"), *names)


# ---------------------------------------------------------------- planning the pool


@dataclass(frozen=True)
class Piece:
    """One row group of one pool file."""

    file_index: int
    path: str
    row_group: int
    first_row: int  # index within the file of the row group's first row
    num_rows: int


@dataclass(frozen=True)
class Shard:
    """The unit of work of one scoring task: consecutive row groups, possibly across files."""

    index: int
    pieces: tuple[Piece, ...]

    @property
    def num_rows(self) -> int:
        return sum(p.num_rows for p in self.pieces)


@dataclass(frozen=True)
class PoolScan:
    """What planning learns from the footers alone."""

    files: tuple[str, ...]
    row_groups: tuple[tuple[int, ...], ...]  # rows of each row group, per file
    schema: pa.Schema  # all files' schemas unified: the output's columns
    footer_digests: tuple[str, ...]
    skipped_files: tuple[str, ...] = ()  # unreadable, left out by --on-bad-file skip
    text_bytes: int = 0  # the text column's compressed bytes: what scoring fetches

    @property
    def num_rows(self) -> int:
        return sum(sum(groups) for groups in self.row_groups)


def list_pool_files(uris: Sequence[str], storage_options: dict[str, Any]) -> list[str]:
    """Expand files, directories (their Parquet files, recursively) and globs, in a fixed order:
    the URIs as given, each one's matches sorted, duplicates dropped."""
    files: list[str] = []
    for uri in uris:
        fs, path = filesystem(uri, storage_options)
        if any(ch in path for ch in "*?["):
            matches = [p for p in fs.glob(path) if fs.isfile(p)]
            if not matches:
                raise ZipfitError(f"--pool: no files match {uri}")
        elif fs.isdir(path):
            matches = [
                p
                for p in fs.find(path)
                if p.endswith(PARQUET_SUFFIXES) and not _hidden(p[len(path) :])
            ]
            if not matches:
                raise ZipfitError(f"--pool: no Parquet files under {uri}")
        elif fs.exists(path):
            matches = [path]
        else:
            raise ZipfitError(f"--pool: no such file or directory: {uri}")
        files.extend(_uri(fs, p) for p in sorted(matches))
    return list(dict.fromkeys(files))


def _hidden(relative_path: str) -> bool:
    """Spark/pyarrow convention: names starting with '_' or '.' are metadata, not data."""
    return any(part.startswith(("_", ".")) for part in relative_path.split("/") if part)


def read_footer(uri: str, storage_options: dict[str, Any]) -> pq.FileMetaData:
    fs, path = filesystem(uri, storage_options)
    try:
        with fs.open(path, "rb", cache_type="bytes", block_size=FOOTER_SAMPLE_BYTES) as f:
            return pq.ParquetFile(f).metadata
    except (pa.ArrowException, OSError) as exc:
        raise ZipfitError(f"{uri}: not a readable Parquet file ({exc})") from exc


def is_text_type(data_type: pa.DataType) -> bool:
    return (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_binary(data_type)
        or pa.types.is_large_binary(data_type)
        or pa.types.is_string_view(data_type)
        or pa.types.is_binary_view(data_type)
    )


def scan_pool(
    listed: Sequence[str],
    text_column: str,
    storage_options: dict[str, Any],
    skip_bad_files: bool = False,
    on_footer: Callable[[], None] = lambda: None,
    group_column: str | None = None,
) -> PoolScan:
    """Read the footer of every listed file (never the data) and check the columns.

    A file that is not readable Parquet is an error naming it, or, with ``skip_bad_files``,
    left out and listed in ``PoolScan.skipped_files``. ``on_footer`` is called per footer.
    """
    footers = []
    with ThreadPoolExecutor(FOOTER_READERS) as pool:
        for footer in pool.map(lambda f: _footer_or_error(f, storage_options), listed):
            footers.append(footer)
            on_footer()
    skipped = [uri for uri, footer in zip(listed, footers) if isinstance(footer, ZipfitError)]
    if skipped and not skip_bad_files:
        raise next(f for f in footers if isinstance(f, ZipfitError))
    good = [(uri, f) for uri, f in zip(listed, footers) if not isinstance(f, ZipfitError)]
    if not good:
        raise ZipfitError(f"--pool: none of the {len(listed)} files is readable Parquet")

    schema: pa.Schema | None = None
    for uri, footer in good:
        file_schema = footer.schema.to_arrow_schema()
        check_text_column(file_schema, text_column, uri, flag="--text-column")
        if group_column is not None:
            check_column(file_schema, group_column, uri, flag="--group-column")
        if SCORE_COLUMN in file_schema.names:
            raise ZipfitError(f"{uri}: already has a {SCORE_COLUMN!r} column; rename it first")
        try:
            schema = (
                file_schema
                if schema is None
                else pa.unify_schemas([schema, file_schema], promote_options="permissive")
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ZipfitError(f"{uri}: schema does not match the files before it ({exc})") from exc
    assert schema is not None
    return PoolScan(
        files=tuple(uri for uri, _ in good),
        row_groups=tuple(
            tuple(f.row_group(i).num_rows for i in range(f.num_row_groups)) for _, f in good
        ),
        schema=schema.remove_metadata(),
        footer_digests=tuple(footer_digest(f) for _, f in good),
        skipped_files=tuple(skipped),
        text_bytes=sum(_column_bytes(f, text_column) for _, f in good),
    )


def _column_bytes(footer: pq.FileMetaData, column: str) -> int:
    """Compressed bytes of a top-level column in one file, from its footer."""
    total = 0
    for g in range(footer.num_row_groups):
        group = footer.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if chunk.path_in_schema.split(".")[0] == column:
                total += chunk.total_compressed_size
    return total


def _footer_or_error(uri: str, storage_options: dict[str, Any]) -> pq.FileMetaData | ZipfitError:
    try:
        return read_footer(uri, storage_options)
    except ZipfitError as exc:
        return exc


def footer_digest(footer: pq.FileMetaData) -> str:
    """A hash of the serialized footer: changes when a file is rewritten (row counts,
    offsets, statistics), so resumed work is never taken from a different file."""
    sink = pa.BufferOutputStream()
    footer.write_metadata_file(sink)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def cut_shards(scan: PoolScan, shard_rows: int) -> tuple[Shard, ...]:
    """Consecutive row groups, in pool order, until a shard holds at least ``shard_rows`` rows
    (a larger row group is a shard of its own)."""
    shards: list[Shard] = []
    pending: list[Piece] = []
    for file_index, (uri, sizes) in enumerate(zip(scan.files, scan.row_groups)):
        first_row = 0
        for rg, n in enumerate(sizes):
            if n:
                pending.append(Piece(file_index, uri, rg, first_row, n))
            first_row += n
            if sum(p.num_rows for p in pending) >= shard_rows:
                shards.append(Shard(len(shards), tuple(pending)))
                pending = []
    if pending:
        shards.append(Shard(len(shards), tuple(pending)))
    return tuple(shards)


def check_column(schema: pa.Schema, column: str, uri: str, flag: str) -> None:
    if column not in schema.names:
        raise ZipfitError(f"{uri}: no column {column!r} ({flag}); columns are {schema.names}")


def check_text_column(schema: pa.Schema, column: str, uri: str, flag: str) -> None:
    check_column(schema, column, uri, flag)
    if not is_text_type(schema.field(column).type):
        raise ZipfitError(
            f"{uri}: column {column!r} ({flag}) is {schema.field(column).type}, "
            "not a string or binary column"
        )


# ---------------------------------------------------------------- reading for scoring


def column_bytes(column: pa.ChunkedArray | pa.Array) -> list[bytes | None]:
    """A string/binary column as Python bytes (None for nulls), without decoding text."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_string_view(column.type) or pa.types.is_binary_view(column.type):
        column = column.cast(pa.large_binary())
    elif pa.types.is_large_string(column.type):
        column = column.view(pa.large_binary())
    elif pa.types.is_string(column.type):
        column = column.view(pa.binary())
    return column.to_pylist()


def iter_piece_texts(
    piece: Piece, columns: list[str], batch_rows: int, storage_options: dict[str, Any]
) -> Iterator[tuple[list[bytes | None], list | None, np.ndarray]]:
    """One row group's texts (None where null), the values of a second column if one is
    named (else None), and the row ids, ``batch_rows`` rows at a time.

    Only these columns' bytes are fetched; rows are decoded ``batch_rows`` at a time.
    """
    with open_parquet(piece.path, storage_options, [piece.row_group], columns) as parquet:
        batches = parquet.iter_batches(
            batch_size=batch_rows, row_groups=[piece.row_group], columns=columns
        )
        next_row = piece.first_row
        for batch in batches:
            texts = column_bytes(batch.column(0))
            others = batch.column(1).to_pylist() if len(columns) > 1 else None
            rows = np.arange(next_row, next_row + len(texts))
            next_row += len(texts)
            yield texts, others, pack_row_id(piece.file_index, rows)


# ---------------------------------------------------------------- reading back selected rows


def read_rows(
    path: str,
    row_group_sizes: Sequence[int],
    rows: np.ndarray,
    storage_options: dict[str, Any],
    columns: list[str] | None = None,
) -> pa.Table:
    """The given rows of one file (all columns, or ``columns``), in the order given.

    Only the row groups holding those rows are fetched.
    """
    sizes = np.asarray(row_group_sizes, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    groups = np.searchsorted(starts, rows, side="right") - 1
    needed = np.unique(groups)
    with open_parquet(path, storage_options, needed.tolist(), columns) as parquet:
        table = parquet.read_row_groups(needed.tolist(), columns=columns)
    start_in_table = np.zeros(len(sizes), dtype=np.int64)
    start_in_table[needed] = np.cumsum(sizes[needed]) - sizes[needed]
    local = start_in_table[groups] + (rows - starts[groups])
    return table.take(local)


@contextmanager
def open_parquet(
    uri: str,
    storage_options: dict[str, Any],
    row_groups: list[int],
    columns: list[str] | None = None,
) -> Iterator[pq.ParquetFile]:
    """A Parquet file with the byte ranges of just these row groups and columns fetched up
    front, in a few concurrent range requests (fsspec.parquet), instead of many small reads
    over the network."""
    fs, path = filesystem(uri, storage_options)
    with fsspec.parquet.open_parquet_file(
        path,
        fs=fs,
        columns=columns,
        row_groups=row_groups,
        engine="pyarrow",
        footer_sample_size=FOOTER_SAMPLE_BYTES,
    ) as f:
        yield pq.ParquetFile(f)


def write_part(
    uri: str,
    selected: np.ndarray,
    files: dict[int, tuple[str, tuple[int, ...]]],
    schema: pa.Schema,
    storage_options: dict[str, Any],
    score_column: str = SCORE_COLUMN,
    with_position: bool = False,
) -> pa.Table:
    """Write selected rows as one Parquet file: every pool column (as ``schema``), in the
    order of ``selected`` (an ENTRY array), plus the score (and the pool position, for a
    sort that breaks ties as the job does). ``files`` maps file index to (path, row group
    sizes). Returns the table written."""
    file_index, row_index = unpack_row_id(selected["row_id"])
    tables, positions = [], []
    for f in np.unique(file_index):
        mine = np.flatnonzero(file_index == f)
        path, row_group_sizes = files[int(f)]
        tables.append(
            conform(read_rows(path, row_group_sizes, row_index[mine], storage_options), schema)
        )
        positions.append(mine)
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    if positions:
        table = table.take(np.argsort(np.concatenate(positions), kind="stable"))
    table = table.append_column(score_column, pa.array(selected["score"], pa.float64()))
    if with_position:
        table = table.append_column(POSITION_COLUMN, pa.array(selected["row_id"], pa.int64()))
    write_atomic(uri, table, storage_options)
    return table


def write_scores(uri: str, scored: np.ndarray, storage_options: dict[str, Any]) -> None:
    """Every scored row's (score, row_id, tokens, length), for selecting again without scoring."""
    table = pa.table({name: scored[name] for name in scored.dtype.names})
    write_atomic(uri, table, storage_options)


def read_scores(uri: str, storage_options: dict[str, Any]) -> pa.Table:
    fs, path = filesystem(uri, storage_options)
    with fs.open(path, "rb") as f:
        return pq.read_table(f)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table with exactly ``schema``'s columns, in order (missing ones as nulls)."""
    columns = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(len(table), field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


# ---------------------------------------------------------------- targets


def read_targets(uri: str, column: str, storage_options: dict[str, Any]) -> list[bytes]:
    """The target set: Parquet (``column``), JSONL (field ``column``), a JSON list, or plain
    text with one example per line (blank lines skipped). Nulls are dropped."""
    fs, path = filesystem(uri, storage_options)
    if not fs.isfile(path):
        raise ZipfitError(f"--targets: no such file: {uri}")
    try:
        if path.endswith(PARQUET_SUFFIXES):
            with fs.open(path, "rb") as f:
                parquet = pq.ParquetFile(f)
                check_text_column(parquet.schema_arrow, column, uri, flag="--target-column")
                texts = column_bytes(parquet.read(columns=[column]).column(column))
        else:
            with fs.open(path, "rb") as f:
                raw = f.read()
            texts = _parse_text_targets(raw, column, uri, path)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise ZipfitError(f"--targets: cannot read {uri} ({exc})") from exc
    texts = [t for t in texts if t is not None]
    if not texts:
        raise ZipfitError(f"--targets: {uri} holds no target texts")
    return texts


def _parse_text_targets(raw: bytes, column: str, uri: str, path: str) -> list[bytes | None]:
    text = raw.decode("utf-8")
    if path.endswith((".jsonl", ".ndjson")):
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ZipfitError(f"--targets: {uri} line {number}: not JSON ({exc})") from exc
        return [_target_field(r, column, uri) for r in records]
    if path.endswith(".json") or text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ZipfitError(f"--targets: {uri}: not a JSON list ({exc})") from exc
        if not isinstance(records, list):
            raise ZipfitError(f"--targets: {uri}: expected a JSON list of texts or objects")
        return [_target_field(r, column, uri) for r in records]
    return [line.encode("utf-8") for line in text.splitlines() if line.strip()]


def _target_field(record: Any, column: str, uri: str) -> bytes | None:
    if isinstance(record, dict):
        if column not in record:
            raise ZipfitError(
                f"--targets: {uri}: a record has no field {column!r} (--target-column)"
            )
        record = record[column]
    if record is None:
        return None
    if not isinstance(record, str):
        raise ZipfitError(f"--targets: {uri}: expected text, got {type(record).__name__}")
    return record.encode("utf-8")


# ---------------------------------------------------------------- writing outputs


def write_atomic(uri: str, data: bytes | pa.Table, storage_options: dict[str, Any]) -> None:
    """Write bytes or a Parquet table under a temporary name, then rename it into place."""
    fs, path = filesystem(uri, storage_options)
    parent, name = posixpath.split(path)
    fs.makedirs(parent, exist_ok=True)
    temporary = posixpath.join(parent, f".{name}.{uuid.uuid4().hex}.tmp")
    with fs.open(temporary, "wb") as f:
        if isinstance(data, pa.Table):
            pq.write_table(data, f)
        else:
            f.write(data)
    fs.mv(temporary, path)


def write_json(uri: str, value: Any, storage_options: dict[str, Any]) -> None:
    text = json.dumps(value, indent=2, sort_keys=True) + "\n"
    write_atomic(uri, text.encode(), storage_options)


def exists(uri: str, storage_options: dict[str, Any]) -> bool:
    fs, path = filesystem(uri, storage_options)
    fs.invalidate_cache(path)  # tasks in other processes may have written it since
    return fs.exists(path)


def list_names(directory: str, storage_options: dict[str, Any]) -> list[str]:
    """Names of the files directly in ``directory`` (empty if it does not exist)."""
    fs, path = filesystem(directory, storage_options)
    fs.invalidate_cache(path)  # tasks in other processes may have written to it since
    if not fs.isdir(path):
        return []
    return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False))


def read_bytes(uri: str, storage_options: dict[str, Any]) -> bytes:
    fs, path = filesystem(uri, storage_options)
    with fs.open(path, "rb") as f:
        return f.read()


def remove(uri: str, storage_options: dict[str, Any]) -> None:
    """Remove a file, or a directory and everything under it."""
    fs, path = filesystem(uri, storage_options)
    fs.rm(path, recursive=True)


def move(source: str, destination: str, storage_options: dict[str, Any]) -> None:
    fs, path = filesystem(source, storage_options)
    fs.mv(path, filesystem(destination, storage_options)[1])


def arrow_filesystem(uri: str, storage_options: dict[str, Any]) -> tuple[pa.fs.FileSystem, str]:
    """The same filesystem for libraries that take pyarrow's (Ray Data), and the path."""
    fs, path = filesystem(uri, storage_options)
    return pa.fs.PyFileSystem(pa.fs.FSSpecHandler(fs)), path


def first_row(uri: str, columns: list[str], storage_options: dict[str, Any]) -> dict | None:
    """The first row of a Parquet file (these columns), or None if it has no rows."""
    fs, path = filesystem(uri, storage_options)
    with fs.open(path, "rb") as f:
        parquet = pq.ParquetFile(f)
        if parquet.metadata.num_rows == 0:
            return None
        return parquet.read_row_group(0, columns=columns).slice(0, 1).to_pylist()[0]


def make_dirs(directory: str, storage_options: dict[str, Any]) -> None:
    fs, path = filesystem(directory, storage_options)
    try:
        fs.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ZipfitError(f"--out: cannot create {directory} ({exc})") from exc
