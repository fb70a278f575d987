"""The pool: its files listed and planned into shards, the texts of a unit of work, and
selected rows read back and written out. Each format's own reading is in its module."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zipfit_ray.errors import ZipfitError
from zipfit_ray.storage import parquet
from zipfit_ray.storage.files import filesystem, uri_of, write_atomic

ROW_BITS = 40  # a row id is file index << 40 | row within the file
SCORE_COLUMN = "zipfit_score"
POSITION_COLUMN = "zipfit_position"  # with --order score: file index << ROW_BITS | row in file
FOOTER_READERS = 16  # concurrent footer reads while planning (IO-bound)


def pack_row_id(file_index: int, row_index: np.ndarray | int) -> np.ndarray:
    """A row's pool position as one int64; files keep their listed order, so ascending row
    id is ascending position in the pool."""
    return (np.int64(file_index) << ROW_BITS) | np.asarray(row_index, dtype=np.int64)


def unpack_row_id(row_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of pack_row_id: (file index, row index within the file)."""
    row_ids = np.asarray(row_ids, dtype=np.int64)
    return row_ids >> ROW_BITS, row_ids & ((1 << ROW_BITS) - 1)


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
                if p.endswith(parquet.PARQUET_SUFFIXES) and not _hidden(p[len(path) :])
            ]
            if not matches:
                raise ZipfitError(f"--pool: no Parquet files under {uri}")
        elif fs.exists(path):
            matches = [path]
        else:
            raise ZipfitError(f"--pool: no such file or directory: {uri}")
        files.extend(uri_of(fs, p) for p in sorted(matches))
    return list(dict.fromkeys(files))


def _hidden(relative_path: str) -> bool:
    """Spark/pyarrow convention: names starting with '_' or '.' are metadata, not data."""
    return any(part.startswith(("_", ".")) for part in relative_path.split("/") if part)


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
        parquet.check_text_column(file_schema, text_column, uri, flag="--text-column")
        if group_column is not None:
            parquet.check_column(file_schema, group_column, uri, flag="--group-column")
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
        footer_digests=tuple(parquet.footer_digest(f) for _, f in good),
        skipped_files=tuple(skipped),
        text_bytes=sum(parquet.column_compressed_bytes(f, text_column) for _, f in good),
    )


def _footer_or_error(uri: str, storage_options: dict[str, Any]) -> pq.FileMetaData | ZipfitError:
    try:
        return parquet.read_footer(uri, storage_options)
    except ZipfitError as exc:
        return exc


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


def iter_piece_texts(
    piece: Piece, columns: list[str], batch_rows: int, storage_options: dict[str, Any]
) -> Iterator[tuple[list[bytes | None], list | None, np.ndarray]]:
    """One row group's texts (None where null), the values of a second column if one is
    named (else None), and the row ids, ``batch_rows`` rows at a time.

    Only these columns' bytes are fetched; rows are decoded ``batch_rows`` at a time.
    """
    with parquet.open_parquet(piece.path, storage_options, [piece.row_group], columns) as file:
        batches = file.iter_batches(
            batch_size=batch_rows, row_groups=[piece.row_group], columns=columns
        )
        next_row = piece.first_row
        for batch in batches:
            texts = parquet.column_bytes(batch.column(0))
            others = batch.column(1).to_pylist() if len(columns) > 1 else None
            rows = np.arange(next_row, next_row + len(texts))
            next_row += len(texts)
            yield texts, others, pack_row_id(piece.file_index, rows)


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
            conform(
                parquet.read_rows(path, row_group_sizes, row_index[mine], storage_options), schema
            )
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


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table with exactly ``schema``'s columns, in order (missing ones as nulls)."""
    columns = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(len(table), field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
