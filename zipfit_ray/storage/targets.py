"""Target sets and their files: Parquet, JSONL, a JSON list, or plain text.

--targets takes one URI (one set) or named sets, NAME=URI, repeatable. An argument is
NAME=URI when the text before its first "=" is a name (a letter, then letters, digits, "_"
or "-"); anything else is a URI as a whole. So targets/lang=en/part-0.parquet and
s3://b/lang=en/x.jsonl are paths (the text before "=" holds "/"); a relative path that starts
with a partition directory is written ./lang=en/x.jsonl, or named: code=lang=en/x.jsonl.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from zipfit_ray.errors import ZipfitError
from zipfit_ray.storage.files import filesystem
from zipfit_ray.storage.parquet import (
    PARQUET_SUFFIXES,
    check_text_column,
    column_bytes,
    field_values,
)

SET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def parse_target_sets(arguments: Sequence[str]) -> dict[str, str] | None:
    """--targets' arguments as {set name: URI} in the order given, or None for one plain
    URI (the job as before: no set names in its output)."""
    if len(arguments) == 1 and _split(arguments[0]) is None:
        return None
    found: dict[str, str] = {}
    for argument in arguments:
        named = _split(argument)
        if named is None:
            raise ZipfitError(
                f"--targets {argument}: name every set when giving several (NAME=URI)"
            )
        name, uri = named
        if name in found:
            raise ZipfitError(f"--targets: the set {name!r} is named twice")
        found[name] = uri
    if not found:
        raise ZipfitError("--targets: give a target file, or NAME=URI for each target set")
    return found


def _split(argument: str) -> tuple[str, str] | None:
    """(name, URI) of NAME=URI, or None where the argument is a URI as a whole."""
    head, equals, uri = argument.partition("=")
    if not (equals and SET_NAME.fullmatch(head)):
        return None
    if not uri:
        raise ZipfitError(f"--targets {argument}: no URI after {head}=")
    return head, uri


def read_targets(
    uri: str, column: str, storage_options: dict[str, Any], flag: str = "--targets"
) -> list[bytes]:
    """The target set: Parquet (``column``), JSONL (field ``column``), a JSON list, or plain
    text with one example per line (blank lines skipped). Nulls are dropped. Errors name
    ``flag``."""
    fs, path = filesystem(uri, storage_options)
    if not fs.isfile(path):
        raise ZipfitError(f"{flag}: no such file: {uri}")
    try:
        if path.endswith(PARQUET_SUFFIXES):
            with fs.open(path, "rb") as f:
                parquet = pq.ParquetFile(f)
                check_text_column(parquet.schema_arrow, column, uri, flag="--target-column")
                texts = column_bytes(field_values(parquet.read(columns=[column]), column))
        else:
            with fs.open(path, "rb") as f:
                raw = f.read()
            texts = _parse_text_targets(raw, column, uri, path, flag)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise ZipfitError(f"{flag}: cannot read {uri} ({exc})") from exc
    texts = [t for t in texts if t is not None]
    if not texts:
        raise ZipfitError(f"{flag}: {uri} holds no target texts")
    return texts


def read_target_sets(
    uris: dict[str, str] | str, column: str, storage_options: dict[str, Any]
) -> tuple[list[bytes], tuple[tuple[str, int], ...]]:
    """Every target text, set after set, and the sets as (name, texts), from {name: URI}
    (parse_target_sets), or from one URI (one unnamed set: no sets)."""
    if isinstance(uris, str):
        return read_targets(uris, column, storage_options), ()
    texts: list[bytes] = []
    sets = []
    for name, uri in uris.items():
        found = read_targets(uri, column, storage_options, flag=f"--targets {name}")
        texts += found
        sets.append((name, len(found)))
    return texts, tuple(sets)


def read_eval_sets(
    uris: Sequence[str], column: str, storage_options: dict[str, Any]
) -> dict[str, list[bytes]]:
    """--eval-sets, each named by its file's name without suffixes (humaneval.jsonl.gz:
    humaneval), a name taken twice (or "targets") numbered: "test", "test-2"."""
    found: dict[str, list[bytes]] = {}
    for uri in uris:
        stem = posixpath.basename(uri.rstrip("/")).split(".")[0] or "eval"
        name, number = stem, 1
        while name in found or name == "targets":
            number += 1
            name = f"{stem}-{number}"
        found[name] = read_targets(uri, column, storage_options, flag="--eval-sets")
    return found


def _parse_text_targets(
    raw: bytes, column: str, uri: str, path: str, flag: str
) -> list[bytes | None]:
    text = raw.decode("utf-8-sig")  # a byte-order mark is not part of the first text
    if path.endswith((".jsonl", ".ndjson")):
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ZipfitError(f"{flag}: {uri} line {number}: not JSON ({exc})") from exc
        return [_target_field(r, column, uri, flag) for r in records]
    if path.endswith(".json") or text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ZipfitError(f"{flag}: {uri}: not a JSON list ({exc})") from exc
        if not isinstance(records, list):
            raise ZipfitError(f"{flag}: {uri}: expected a JSON list of texts or objects")
        return [_target_field(r, column, uri, flag) for r in records]
    return [line.encode("utf-8") for line in text.splitlines() if line.strip()]


def _target_field(record: Any, column: str, uri: str, flag: str) -> bytes | None:
    if isinstance(record, dict):
        if column not in record:
            raise ZipfitError(f"{flag}: {uri}: a record has no field {column!r} (--target-column)")
        record = record[column]
    if record is None:
        return None
    if not isinstance(record, str):
        raise ZipfitError(f"{flag}: {uri}: expected text, got {type(record).__name__}")
    return record.encode("utf-8")
