"""Parquet pool files (a PoolFormat: footers, the text column of a row group, rows by
position), and the job's own Parquet files (saved scores)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import fsspec.parquet
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from zipfit_ray.errors import ZipfitError
from zipfit_ray.storage.files import filesystem, write_atomic
from zipfit_ray.storage.formats import FilePlan, OnBadRow, Piece, PoolFormat

PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
# Bytes read from a file's end to find its footer (more is fetched if the footer is larger).
# fsspec's default sample is 1 MB and s3fs's read-ahead block several MB: per row group read,
# that was more than the row group itself (benchmarks/scale.py).
SORTED_GROUP_ROWS = 65_536  # write_scores(sorted_by=...): rows per row group
FOOTER_SAMPLE_BYTES = 64 * 1024


class ParquetFormat(PoolFormat):
    """A unit is a row group; only the columns asked for are fetched."""

    name = "Parquet"
    suffixes_note = ", ".join(PARQUET_SUFFIXES)
    has_footer = True

    def matches(self, path: str) -> bool:
        return path.endswith(PARQUET_SUFFIXES)

    def plan(self, uri: str, text_column: str, storage_options: dict[str, Any]) -> FilePlan:
        footer = read_footer(uri, storage_options)
        return FilePlan(
            tuple(footer.row_group(i).num_rows for i in range(footer.num_row_groups)),
            footer.schema.to_arrow_schema().serialize().to_pybytes(),
            footer_digest(footer),
            column_compressed_bytes(footer, text_column),
        )

    def units(self, file_index: int, uri: str, plan_row_groups: tuple[int, ...]) -> list[Piece]:
        starts = np.cumsum([0, *plan_row_groups])
        return [
            Piece(file_index, uri, rg, int(starts[rg]), n)
            for rg, n in enumerate(plan_row_groups)
            if n
        ]

    def texts(
        self,
        piece: Piece,
        columns: list[str],
        batch_rows: int,
        storage_options: dict[str, Any],
        on_bad_row: OnBadRow | None,
        kinds: dict[str, set[str]],
    ) -> Iterator[tuple[list[bytes | None], list | None, np.ndarray]]:
        with open_parquet(piece.path, storage_options, [piece.row_group], columns) as file:
            batches = file.iter_batches(
                batch_size=batch_rows, row_groups=[piece.row_group], columns=columns
            )
            next_row = piece.first_row
            for batch in batches:
                texts = column_bytes(field_values(batch, columns[0]))
                others = batch.column(1).to_pylist() if len(columns) > 1 else None
                yield texts, others, np.arange(next_row, next_row + len(texts))
                next_row += len(texts)

    def rows(
        self,
        path: str,
        row_group_sizes: tuple[int, ...],
        numbers: np.ndarray,
        storage_options: dict[str, Any],
    ) -> ParquetRows:
        return ParquetRows(read_rows(path, row_group_sizes, numbers, storage_options))


class ParquetRows:
    """Rows read from a Parquet file, with its own columns."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def table(self, schema: pa.Schema) -> pa.Table:
        return conform(self._table, schema)

    def records(self) -> list[dict]:
        return self._table.to_pylist()

    def texts(self, name: str) -> list[bytes | None]:
        return column_bytes(field_values(self._table, name))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table with exactly ``schema``'s columns, in order (missing ones as nulls)."""
    columns = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(len(table), field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def read_footer(uri: str, storage_options: dict[str, Any]) -> pq.FileMetaData:
    fs, path = filesystem(uri, storage_options)
    try:
        with fs.open(path, "rb", cache_type="bytes", block_size=FOOTER_SAMPLE_BYTES) as f:
            return pq.ParquetFile(f).metadata
    except (pa.ArrowException, OSError) as exc:
        raise ZipfitError(f"{uri}: not a readable Parquet file ({exc})") from exc


def footer_digest(footer: pq.FileMetaData) -> str:
    """A hash of the serialized footer: changes when a file is rewritten (row counts,
    offsets, statistics), so resumed work is never taken from a different file."""
    sink = pa.BufferOutputStream()
    footer.write_metadata_file(sink)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def is_text_type(data_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(data_type):  # dictionary-encoded (pandas' categoricals): values
        data_type = data_type.value_type
    return (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_binary(data_type)
        or pa.types.is_large_binary(data_type)
        or pa.types.is_string_view(data_type)
        or pa.types.is_binary_view(data_type)
    )


def find_field(schema: pa.Schema, name: str) -> pa.Field | None:
    """The field ``name`` names: a column of that name, or else, by its dots, a field of a
    struct column (``meta.text``: the field ``text`` of ``meta``); None if there is none."""
    if name in schema.names:
        return schema.field(name)
    top, *path = name.split(".")
    found = schema.field(top) if top in schema.names else None
    for part in path:
        if found is None or not pa.types.is_struct(found.type):
            return None
        index = found.type.get_field_index(part)
        found = found.type.field(index) if index >= 0 else None
    return found


def field_values(table: pa.Table | pa.RecordBatch, name: str) -> pa.Array | pa.ChunkedArray:
    """The values of the field ``name`` names (see ``find_field``); a null struct gives nulls."""
    if name in table.column_names:
        return table.column(name)
    top, *path = name.split(".")
    values = table.column(top)
    for part in path:
        values = pc.struct_field(values, part)
    return values


def check_column(schema: pa.Schema, column: str, uri: str, flag: str) -> None:
    if column not in schema.names:
        raise ZipfitError(f"{uri}: no column {column!r} ({flag}); columns are {schema.names}")


def check_text_column(schema: pa.Schema, column: str, uri: str, flag: str) -> None:
    found = find_field(schema, column)
    if found is None:
        raise ZipfitError(f"{uri}: no column {column!r} ({flag}); columns are {schema.names}")
    if not is_text_type(found.type):
        raise ZipfitError(
            f"{uri}: column {column!r} ({flag}) is {found.type}, not a string or binary column"
        )


def column_compressed_bytes(footer: pq.FileMetaData, column: str) -> int:
    """Compressed bytes of a column (or a struct's field: ``meta.text``) in one file, from
    its footer."""
    total = 0
    for g in range(footer.num_row_groups):
        group = footer.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if chunk.path_in_schema == column or chunk.path_in_schema.startswith(column + "."):
                total += chunk.total_compressed_size
    return total


def column_bytes(column: pa.ChunkedArray | pa.Array) -> list[bytes | None]:
    """A string/binary column as Python bytes (None for nulls), without decoding text."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_string_view(column.type) or pa.types.is_binary_view(column.type):
        column = column.cast(pa.large_binary())
    elif pa.types.is_large_string(column.type):
        column = column.view(pa.large_binary())
    elif pa.types.is_string(column.type):
        column = column.view(pa.binary())
    return column.to_pylist()


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


def write_scores(
    uri: str,
    scored: np.ndarray,
    storage_options: dict[str, Any],
    sorted_by: str | None = None,
) -> None:
    """Scored rows (a numpy structured array: score, row_id, tokens, length, ...), a column
    per field, for the cut, the writing and selecting again without scoring. ``sorted_by``:
    sorted on that field, in row groups of SORTED_GROUP_ROWS, so that read_scores reads
    only the row groups a range of it needs."""
    group_rows = None
    if sorted_by is not None:
        scored = scored[np.argsort(scored[sorted_by], kind="stable")]
        group_rows = SORTED_GROUP_ROWS
    table = pa.table({name: scored[name] for name in scored.dtype.names})
    write_atomic(uri, table, storage_options, row_group_size=group_rows)


def read_scores(
    uri: str, storage_options: dict[str, Any], between: tuple[str, Any, Any] | None = None
) -> np.ndarray:
    """What write_scores wrote, as the structured array it was; with ``between`` (field,
    low, high), only the rows whose field lies in [low, high], from the row groups whose
    statistics say they may hold some."""
    fs, path = filesystem(uri, storage_options)
    with fs.open(path, "rb") as f:
        parquet = pq.ParquetFile(f)
        if between is None:
            table = parquet.read()
        else:
            field, low, high = between
            index = parquet.schema_arrow.get_field_index(field)
            groups = [
                i
                for i in range(parquet.num_row_groups)
                if _may_hold(parquet.metadata.row_group(i).column(index).statistics, low, high)
            ]
            table = (
                parquet.read_row_groups(groups) if groups else parquet.schema_arrow.empty_table()
            )
    columns = {name: table.column(name).to_numpy() for name in table.column_names}
    found = np.empty(table.num_rows, dtype=[(n, c.dtype) for n, c in columns.items()])
    for name, column in columns.items():
        found[name] = column
    if between is not None:
        found = found[(found[field] >= low) & (found[field] <= high)]
    return found


def _may_hold(statistics: pq.Statistics | None, low: Any, high: Any) -> bool:
    if statistics is None or not statistics.has_min_max:
        return True
    return statistics.min <= high and statistics.max >= low


def first_row(uri: str, columns: list[str], storage_options: dict[str, Any]) -> dict | None:
    """The first row of a Parquet file (these columns), or None if it has no rows."""
    fs, path = filesystem(uri, storage_options)
    with fs.open(path, "rb") as f:
        parquet = pq.ParquetFile(f)
        if parquet.metadata.num_rows == 0:
            return None
        return parquet.read_row_group(0, columns=columns).slice(0, 1).to_pylist()[0]
