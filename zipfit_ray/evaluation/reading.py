"""Texts read from selections and pools for training, whatever the file's format: a whole
unit (a Parquet row group, a JSONL file) with the selection's own columns beside the text,
or chosen rows alone. Run in Ray tasks; the formats' own readers do the reading."""

from __future__ import annotations

from typing import Any

import numpy as np

from zipfit_ray import storage
from zipfit_ray.errors import ZipfitError
from zipfit_ray.storage import jsonl, parquet


def unit_columns(
    piece: storage.Piece, text_column: str, others: list[str], options: dict[str, Any]
) -> tuple[list[bytes | None], dict[str, list], np.ndarray]:
    """A unit's texts (None where null), the values of ``others`` (None where a row has no
    such field), and each row's number in its file. A bad JSONL line is an error naming it."""
    if storage.format_of(piece.path).has_footer:
        return _parquet_unit(piece, text_column, others, options)
    return _jsonl_unit(piece, text_column, others, options)


def _parquet_unit(
    piece: storage.Piece, text_column: str, others: list[str], options: dict[str, Any]
) -> tuple[list[bytes | None], dict[str, list], np.ndarray]:
    wanted = [text_column, *others]  # the byte ranges fetched: of these columns alone
    with parquet.open_parquet(piece.path, options, [piece.row_group], wanted) as file:
        present = [c for c in others if c in file.schema_arrow.names]
        table = file.read_row_group(piece.row_group, columns=[text_column, *present])
    texts = parquet.column_bytes(parquet.field_values(table, text_column))
    values = {
        c: table.column(c).to_pylist() if c in present else [None] * len(texts) for c in others
    }
    return texts, values, np.arange(piece.first_row, piece.first_row + len(texts))


def _jsonl_unit(
    piece: storage.Piece, text_column: str, others: list[str], options: dict[str, Any]
) -> tuple[list[bytes | None], dict[str, list], np.ndarray]:
    def refuse(number: int, why: str) -> None:
        raise ZipfitError(f"{piece.path} line {number + 1}: {why}")

    texts, values, numbers = [], {c: [] for c in others}, []
    for number, line in jsonl.lines(piece.path, options):
        record = jsonl.parse(number, line, text_column, refuse)
        texts.append(None if record[text_column] is None else record[text_column].encode())
        for c in others:
            values[c].append(record.get(c))
        numbers.append(number)
    return texts, values, np.array(numbers, np.int64)


def row_texts(
    path: str,
    row_group_sizes: tuple[int, ...],
    rows: np.ndarray,
    text_column: str,
    options: dict[str, Any],
) -> list[bytes | None]:
    """The texts of the given rows of one file (rows ascending), None where there is none
    (null, or a blank or bad JSONL line): only the text column of the row groups holding
    them is fetched; a JSONL file is read up to its last row wanted."""
    if storage.format_of(path).has_footer:
        table = parquet.read_rows(path, row_group_sizes, rows, options, columns=[text_column])
        return parquet.column_bytes(parquet.field_values(table, text_column))
    return _jsonl_rows(path, rows, text_column, options)


def _jsonl_rows(
    path: str, rows: np.ndarray, text_column: str, options: dict[str, Any]
) -> list[bytes | None]:
    wanted = {int(row): i for i, row in enumerate(rows)}
    found: list[bytes | None] = [None] * len(rows)
    if not wanted:
        return found
    for number, line in jsonl.lines(path, options):
        if number in wanted:
            record = jsonl.parse(number, line, text_column, lambda number, why: None)
            text = None if record is None else record[text_column]
            found[wanted[number]] = None if text is None else text.encode()
        if number >= rows[-1]:
            break
    return found


def line_count(path: str, options: dict[str, Any]) -> int:
    """A JSONL file's rows as the pool numbers them: its lines, up to the last one that is
    not blank (a blank or bad line is a row without text)."""
    numbers = (number for number, _ in jsonl.lines(path, options))
    return max(numbers, default=-1) + 1
