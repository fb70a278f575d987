"""The pool: its files listed and planned into shards, the texts of a unit of work, and
selected rows read back and written out, whatever their format (FORMATS: each format's own
reading is in its module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from zipfit_ray.errors import ZipfitError
from zipfit_ray.storage import columns, jsonl, parquet
from zipfit_ray.storage.files import filesystem, uri_of, write_atomic
from zipfit_ray.storage.formats import FilePlan, OnBadRow, Piece, PoolFormat

ROW_BITS = 40  # a row id is file index << 40 | row within the file
FOOTER_READERS = 16  # concurrent footer reads while planning (IO-bound)
FORMATS: tuple[PoolFormat, ...] = (parquet.ParquetFormat(), jsonl.JsonlFormat())


def format_of(path: str) -> PoolFormat:
    """The format a file's name says, Parquet where it says none (a file named as such)."""
    return next((f for f in FORMATS if f.matches(path)), FORMATS[0])


def pack_row_id(file_index: int, row_index: np.ndarray | int) -> np.ndarray:
    """A row's pool position as one int64; files keep their listed order, so ascending row
    id is ascending position in the pool."""
    return (np.int64(file_index) << ROW_BITS) | np.asarray(row_index, dtype=np.int64)


def unpack_row_id(row_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of pack_row_id: (file index, row index within the file)."""
    row_ids = np.asarray(row_ids, dtype=np.int64)
    return row_ids >> ROW_BITS, row_ids & ((1 << ROW_BITS) - 1)


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
    """What planning learns without reading any data: Parquet footers, JSONL listings."""

    files: tuple[str, ...]
    row_groups: tuple[tuple[int, ...], ...]  # rows of each row group, per file (JSONL: ())
    schema: pa.Schema  # the Parquet files' schemas unified (JSONL fields join after scoring)
    footer_digests: tuple[str, ...]  # per file: its footer's hash, or a JSONL file's stamp
    skipped_files: tuple[str, ...] = ()  # unreadable, left out by --on-bad-file skip
    text_bytes: int = 0  # the text column's compressed bytes (JSONL: whole files)

    @property
    def num_rows(self) -> int:
        """Rows known before scoring: the Parquet files' (JSONL rows are counted as read)."""
        return sum(sum(groups) for groups in self.row_groups)

    @property
    def footerless_files(self) -> int:
        """Files whose rows and columns are known only once they are read (JSONL)."""
        return sum(not format_of(f).has_footer for f in self.files)


def is_pool_file(path: str) -> bool:
    return any(f.matches(path) for f in FORMATS)


def list_pool_files(
    uris: Sequence[str], storage_options: dict[str, Any], flag: str = "--pool"
) -> list[str]:
    """Expand files, directories (their Parquet and JSONL files, recursively) and globs, in
    a fixed order: the URIs as given, each one's matches sorted, duplicates dropped. An
    error names ``flag`` (the pool's, or another input's read the same way)."""
    files: list[str] = []
    for uri in uris:
        fs, path = filesystem(uri, storage_options)
        if any(ch in path for ch in "*?["):
            matches = [p for p in fs.glob(path) if fs.isfile(p)]
            if not matches:
                raise ZipfitError(f"{flag}: no files match {uri}")
        elif fs.isdir(path):
            matches = [p for p in fs.find(path) if is_pool_file(p) and not _hidden(p[len(path) :])]
            if not matches:
                raise ZipfitError(
                    f"{flag}: no {' or '.join(f.name for f in FORMATS)} files under {uri} (by "
                    f"their names: {'; '.join(f.suffixes_note for f in FORMATS)})"
                )
        elif fs.exists(path):
            matches = [path]
        else:
            raise ZipfitError(f"{flag}: no such file or directory: {uri}")
        files.extend(uri_of(fs, p) for p in sorted(matches))
    return list(dict.fromkeys(files))


def _hidden(relative_path: str) -> bool:
    """Spark/pyarrow convention: names starting with '_' or '.' are metadata, not data."""
    return any(part.startswith(("_", ".")) for part in relative_path.split("/") if part)


def plan_files(
    listed: Sequence[str],
    text_column: str,
    storage_options: dict[str, Any],
    on_file: Callable[[], None] = lambda: None,
) -> list[FilePlan | ZipfitError]:
    """Each file's plan, or why it cannot be had, in order, FOOTER_READERS at a time
    (IO-bound)."""
    with ThreadPoolExecutor(FOOTER_READERS) as pool:
        plans = []
        for plan in pool.map(lambda f: _plan_or_error(f, text_column, storage_options), listed):
            plans.append(plan)
            on_file()
        return plans


def _plan_or_error(
    uri: str, text_column: str, storage_options: dict[str, Any]
) -> FilePlan | ZipfitError:
    try:
        return format_of(uri).plan(uri, text_column, storage_options)
    except ZipfitError as exc:
        return exc


def scan_pool(
    listed: Sequence[str],
    text_column: str,
    storage_options: dict[str, Any],
    skip_bad_files: bool = False,
    on_footer: Callable[[], None] = lambda: None,
    group_column: str | None = None,
) -> PoolScan:
    """Plan every listed file here (see plan_files) and check the columns (see combine)."""
    plans = plan_files(listed, text_column, storage_options, on_footer)
    return combine(listed, plans, text_column, skip_bad_files, group_column)


def combine(
    listed: Sequence[str],
    plans: Sequence[FilePlan | ZipfitError],
    text_column: str,
    skip_bad_files: bool = False,
    group_column: str | None = None,
    adding: Sequence[str] = (columns.SCORE,),
) -> PoolScan:
    """The pool from its files' plans. A file that cannot be read is an error naming it, or,
    with ``skip_bad_files``, left out and listed in ``PoolScan.skipped_files``. The Parquet
    files' columns are checked (none may be one the job is ``adding``) and their schemas
    unified (each distinct schema once)."""
    skipped = [uri for uri, plan in zip(listed, plans) if isinstance(plan, ZipfitError)]
    if skipped and not skip_bad_files:
        raise next(p for p in plans if isinstance(p, ZipfitError))
    good = [(uri, p) for uri, p in zip(listed, plans) if isinstance(p, FilePlan)]
    if not good:
        raise ZipfitError(f"--pool: none of the {len(listed)} files can be read")

    schema, seen = pa.schema([]), set()
    for uri, plan in good:
        if plan.schema is None or plan.schema in seen:
            continue
        seen.add(plan.schema)
        file_schema = pa.ipc.read_schema(pa.py_buffer(plan.schema))
        parquet.check_text_column(file_schema, text_column, uri, flag="--text-column")
        if group_column is not None:
            parquet.check_column(file_schema, group_column, uri, flag="--group-column")
        columns.check_no_clash(file_schema.names, adding, f"{uri}: has a column")
        try:
            schema = pa.unify_schemas([schema, file_schema], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ZipfitError(f"{uri}: schema does not match the files before it ({exc})") from exc
    return PoolScan(
        files=tuple(uri for uri, _ in good),
        row_groups=tuple(p.row_groups for _, p in good),
        schema=schema.remove_metadata(),
        footer_digests=tuple(p.digest for _, p in good),
        skipped_files=tuple(skipped),
        text_bytes=sum(p.text_bytes for _, p in good),
    )


def output_schema(
    scan_schema: pa.Schema, kinds: dict[str, list[str]], adding: Sequence[str] = (columns.SCORE,)
) -> pa.Schema:
    """The output's columns: the Parquet files' unified with the JSONL records' fields (none
    may be one the job is ``adding``)."""
    found = jsonl.schema({name: set(seen) for name, seen in kinds.items()})
    columns.check_no_clash(found.names, adding, "--pool: a JSONL record has a field")
    try:
        return pa.unify_schemas([scan_schema, found], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ZipfitError(
            f"--pool: the JSONL records' fields do not match the Parquet files' columns ({exc})"
        ) from exc


def cut_shards(scan: PoolScan, shard_rows: int) -> tuple[Shard, ...]:
    """Consecutive units (row groups), in pool order, until a shard holds at least
    ``shard_rows`` rows (a larger unit is a shard of its own); a file without a footer is a
    shard of its own."""
    shards: list[Shard] = []
    pending: list[Piece] = []

    def flush() -> None:
        nonlocal pending
        if pending:
            shards.append(Shard(len(shards), tuple(pending)))
            pending = []

    for file_index, (uri, sizes) in enumerate(zip(scan.files, scan.row_groups)):
        file_format = format_of(uri)
        if not file_format.has_footer:
            flush()
        for piece in file_format.units(file_index, uri, sizes):
            pending.append(piece)
            if not file_format.has_footer or sum(p.num_rows for p in pending) >= shard_rows:
                flush()
    flush()
    return tuple(shards)


def iter_piece_texts(
    piece: Piece,
    columns: list[str],
    batch_rows: int,
    storage_options: dict[str, Any],
    on_bad_row: OnBadRow | None = None,
    kinds: dict[str, set[str]] | None = None,
) -> Iterator[tuple[list[bytes | None], list | None, np.ndarray]]:
    """One unit's texts (None where null), the values of a second column if one is named
    (else None), and the row ids, ``batch_rows`` rows at a time (see PoolFormat.texts)."""
    for texts, others, numbers in format_of(piece.path).texts(
        piece, columns, batch_rows, storage_options, on_bad_row, {} if kinds is None else kinds
    ):
        yield texts, others, pack_row_id(piece.file_index, numbers)


def read_texts(
    path: str,
    row_group_sizes: Sequence[int],
    rows: np.ndarray,
    column: str,
    max_bytes: int,
    storage_options: dict[str, Any],
) -> list[bytes]:
    """The non-null texts of the given rows of one file, cut to max_bytes as in scoring."""
    found = format_of(path).rows(path, tuple(row_group_sizes), rows, storage_options)
    return [t[:max_bytes] for t in found.texts(column) if t is not None]


def write_part(
    uri: str,
    selected: np.ndarray,
    files: dict[int, tuple[str, tuple[int, ...]]],
    schema: pa.Schema,
    storage_options: dict[str, Any],
    score_column: str = columns.SCORE,
    with_position: bool = False,
    out_format: str = "parquet",
    more_columns: dict[str, np.ndarray] | None = None,
) -> pa.Table:
    """Write selected rows as one part, in the order of ``selected`` (an ENTRY array), plus
    the score (and for Parquet, the pool position, for a sort that breaks ties as the job
    does). Parquet holds every pool column (as ``schema``); JSON lines hold each row's own
    fields as they were (a JSONL record, a Parquet file's columns). ``files`` maps file index
    to (path, row group sizes); ``more_columns`` are written after the score. Returns the
    rows as ``schema``, plus the score."""
    file_index, row_index = unpack_row_id(selected["row_id"])
    tables, records, positions = [], [], []
    for f in np.unique(file_index):
        mine = np.flatnonzero(file_index == f)
        path, row_group_sizes = files[int(f)]
        rows = format_of(path).rows(path, row_group_sizes, row_index[mine], storage_options)
        tables.append(rows.table(schema))
        records += rows.records() if out_format != "parquet" else []
        positions.append(mine)
    order = np.argsort(np.concatenate(positions), kind="stable") if positions else []
    table = pa.concat_tables(tables).take(order) if tables else schema.empty_table()
    added = {score_column: selected["score"], **(more_columns or {})}
    for name, values in added.items():
        table = table.append_column(name, pa.array(values))
    if out_format == "parquet":
        if with_position:
            positions_column = pa.array(selected["row_id"], pa.int64())
            table = table.append_column(columns.POSITION, positions_column)
        write_atomic(uri, table, storage_options)
    else:
        values = {name: v.tolist() for name, v in added.items()}
        rows = [
            records[i] | {name: v[n] for name, v in values.items()} for n, i in enumerate(order)
        ]
        jsonl.write_records(uri, rows, storage_options)
    return table
