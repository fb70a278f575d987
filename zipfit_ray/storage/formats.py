"""What a pool file format is to the job: one subclass of PoolFormat per format (parquet.py,
jsonl.py), listed in pool.FORMATS. A third format (Arrow IPC, WebDataset) is one more
module: recognise the file, plan it, cut it into units, read a unit's texts, read rows by
their number in the file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import pyarrow as pa

# (0-based line or row number, why) -> None, for a row that cannot be read: raise or count
OnBadRow = Callable[[int, str], None]


@dataclass(frozen=True)
class Piece:
    """A unit of reading: a Parquet row group, or a whole file of a format without row
    groups (rows unknown until read: num_rows 0)."""

    file_index: int
    path: str
    row_group: int
    first_row: int  # index within the file of the unit's first row
    num_rows: int
    whole_file: bool = False

    def describe(self) -> str:
        """How errors name it: the file, and the row group if the file has them."""
        return self.path if self.whole_file else f"{self.path} row group {self.row_group}"


@dataclass(frozen=True)
class FilePlan:
    """What planning learns of one file without reading its data: small, so that tasks can
    plan many files and hand the driver only this."""

    row_groups: tuple[int, ...]  # rows per row group (no footer: ())
    schema: bytes | None  # the Arrow schema, serialized (no footer: None)
    digest: str  # what changes when the file is rewritten: a footer's hash, a listing stamp
    text_bytes: int  # the text column's compressed bytes (no footer: the file's)


class Rows(Protocol):
    """Rows read back from one file by number, for the selection's output."""

    def table(self, schema: pa.Schema) -> pa.Table:
        """As ``schema`` (the output's columns; missing ones null)."""

    def records(self) -> list[dict]:
        """Each row's own fields, as they were (for JSON lines output)."""

    def texts(self, name: str) -> list[bytes | None]:
        """Each row's text in the column (or nested field) ``name``, as scoring reads it."""


class PoolFormat:
    """One kind of pool file."""

    # a footer tells rows and columns before any data is read; without one, a file is one
    # unit, its rows counted and its columns learnt as it is scored, and it is planned from
    # the listing alone (cheap in the driver, a request per file in a task)
    has_footer: ClassVar[bool]

    def matches(self, path: str) -> bool:
        """Whether a file is of this format, by its name."""
        raise NotImplementedError

    def plan(self, uri: str, text_column: str, storage_options: dict[str, Any]) -> FilePlan:
        """The file's plan; a ZipfitError naming it if it cannot be read."""
        raise NotImplementedError

    def units(self, file_index: int, uri: str, plan_row_groups: tuple[int, ...]) -> list[Piece]:
        """The file's units of reading, in order."""
        raise NotImplementedError

    def texts(
        self,
        piece: Piece,
        columns: list[str],
        batch_rows: int,
        storage_options: dict[str, Any],
        on_bad_row: OnBadRow | None,
        kinds: dict[str, set[str]],
    ) -> Iterator[tuple[list[bytes | None], list | None, np.ndarray]]:
        """A unit's texts (``columns[0]``; None where null), the values of a second column
        if one is named (else None), and the rows' numbers within the file, ``batch_rows``
        at a time. Rows that cannot be read go to ``on_bad_row`` (None: an error); fields
        seen go to ``kinds`` (formats without a footer)."""
        raise NotImplementedError

    def rows(
        self,
        path: str,
        row_group_sizes: tuple[int, ...],
        numbers: np.ndarray,
        storage_options: dict[str, Any],
    ) -> Rows:
        """The rows with these numbers, in the order given, reading no more than needed."""
        raise NotImplementedError
