"""The filesystem side of storage: fsspec URLs in, atomic writes out.

Local paths, s3://, gs:// and any other fsspec URL work the same way; ``storage_options``
are passed to fsspec for every filesystem opened, in the driver and in tasks alike.
"""

from __future__ import annotations

import json
import posixpath
import uuid
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.fs
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from zipfit_ray.errors import ZipfitError


def filesystem(uri: str, storage_options: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
    return fsspec.core.url_to_fs(uri, **storage_options)


def uri_of(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path)


def join(base: str, *names: str) -> str:
    """Join URI path segments (fsspec URLs always use '/')."""
    return posixpath.join(base.rstrip("/"), *names)


def write_atomic(
    uri: str,
    data: bytes | pa.Table,
    storage_options: dict[str, Any],
    row_group_size: int | None = None,
) -> None:
    """Write bytes or a Parquet table under a temporary name, then rename it into place."""
    fs, path = filesystem(uri, storage_options)
    parent, name = posixpath.split(path)
    fs.makedirs(parent, exist_ok=True)
    temporary = posixpath.join(parent, f".{name}.{uuid.uuid4().hex}.tmp")
    with fs.open(temporary, "wb") as f:
        if isinstance(data, pa.Table):
            pq.write_table(data, f, row_group_size=row_group_size)
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


def make_dirs(directory: str, storage_options: dict[str, Any]) -> None:
    fs, path = filesystem(directory, storage_options)
    try:
        fs.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ZipfitError(f"--out: cannot create {directory} ({exc})") from exc
