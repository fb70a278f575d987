"""Where inputs and outputs are, compared without listing or reading anything: an output
must never lie in, be, or contain an input, or the job would write over the user's data.

Two URIs are compared by the store they name (fsspec protocols that open the same
filesystem are one store: ``s3``/``s3a``, ``file``/local paths) and a normalized path: for
local paths absolute, with ``..`` and symlinks resolved; elsewhere with ``..``, doubled and
trailing slashes folded; for ``hf://``, without the revision (``repo@main`` is ``repo``).
A glob stands for its base: the folder before its first wildcard.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable

import fsspec.core
from fsspec.registry import known_implementations, registry

from zipfit_ray.errors import ZipfitError

LOCAL = "fsspec.implementations.local.LocalFileSystem"
GLOB_CHARACTERS = "*?["


def _store(protocol: str) -> str:
    """The filesystem class a protocol opens, by the name fsspec knows it by (nothing is
    imported); a protocol registered by hand, by its class; else the protocol itself."""
    if protocol in known_implementations:
        return known_implementations[protocol]["class"]
    loaded = registry.get(protocol)
    return f"{loaded.__module__}.{loaded.__qualname__}" if loaded else protocol


def location(uri: str) -> tuple[str, str]:
    """(store, normalized path) of a URI; a glob's is its base folder's."""
    protocol, path = fsspec.core.split_protocol(uri.rsplit("::", 1)[-1])
    wildcard = min((path.find(c) for c in GLOB_CHARACTERS if c in path), default=-1)
    if wildcard >= 0:
        path = path[:wildcard].rpartition("/")[0] or ("." if protocol is None else "")
    store = _store(protocol or "file")
    if store == LOCAL:
        return LOCAL, os.path.realpath(os.path.expanduser(path or "."))
    path = posixpath.normpath("/" + path.strip("/"))
    if protocol == "hf":
        path = re.sub(r"@[^/]*", "", path, count=1)
    return store, path


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def check_apart(out: str, out_flag: str, inputs: Iterable[str], input_flag: str) -> None:
    """Refuse an output that is an input, lies inside one, or contains one."""
    out_store, out_path = location(out)
    for uri in inputs:
        store, path = location(uri)
        if store != out_store:
            continue
        if out_path == path:
            relation = "is the same place as"
        elif _inside(out_path, path):
            relation = "lies inside"
        elif _inside(path, out_path):
            relation = "contains"
        else:
            continue
        raise ZipfitError(
            f"{out_flag}: {out} {relation} {input_flag} {uri}; writing there could replace "
            f"or remove the input's files: choose an {out_flag} outside it"
        )
