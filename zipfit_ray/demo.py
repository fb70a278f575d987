"""A small, redistributable sample pool and target set, made from Python's own distribution.

Pool rows are Python functions from the standard library, English prose from its
docstrings and bundled documentation (pydoc_data) and C from its headers; the targets are
Python functions from modules held out of the pool. Everything is PSF-licensed text already
on the machine, and the output is the same on every run with the same Python.
"""

from __future__ import annotations

import ast
import functools
import json
import random
import sysconfig
import textwrap
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from zipfit_ray.errors import ZipfitError

MIN_CHARS, MAX_CHARS = 200, 4000
POOL_FILES = 4
TEST_DIRS = {"test", "tests", "idle_test"}  # skipped: large, slow to parse, repetitive
ROW_GROUP_ROWS = 1000


def python_sources(stdlib: Path) -> list[tuple[str, str, ast.Module]]:
    """(module path, source, syntax tree) of every parsable standard library module."""
    modules = []
    for path in sorted(stdlib.rglob("*.py")):
        relative = path.relative_to(stdlib).as_posix()
        if relative.startswith("site-packages/") or TEST_DIRS & set(relative.split("/")):
            continue
        try:
            source = path.read_text(encoding="utf-8")
            modules.append((relative, source, ast.parse(source)))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
    return modules


def python_functions(modules: list[tuple[str, str, ast.Module]]) -> list[tuple[str, str]]:
    """(module path, function source) for every function of a sensible size."""
    found = []
    for relative, source, tree in modules:
        lines = source.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                segment = textwrap.dedent("\n".join(lines[node.lineno - 1 : node.end_lineno]))
                if MIN_CHARS <= len(segment) <= MAX_CHARS:
                    found.append((relative, segment))
    return found


def documentation_prose(
    stdlib: Path, modules: list[tuple[str, str, ast.Module]]
) -> list[tuple[str, str]]:
    """English prose: long docstrings, and the language reference bundled in pydoc_data."""
    found = []
    for relative, _, tree in modules:
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= MIN_CHARS:
                    found.append((relative, doc[:MAX_CHARS]))
    namespace: dict = {}
    topics_file = stdlib / "pydoc_data" / "topics.py"
    if topics_file.exists():
        exec(compile(topics_file.read_text(encoding="utf-8"), str(topics_file), "exec"), namespace)
    for topic in sorted(namespace.get("topics", {})):
        chunk = ""
        for paragraph in namespace["topics"][topic].split("\n\n"):
            chunk = f"{chunk}\n\n{paragraph}" if chunk else paragraph
            if len(chunk) >= MIN_CHARS * 2:
                found.append((f"pydoc_data/topics.py:{topic}", chunk[:MAX_CHARS]))
                chunk = ""
    return found


def c_headers(include: Path, lines_per_chunk: int = 30) -> list[tuple[str, str]]:
    found = []
    for path in sorted(include.rglob("*.h")):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for start in range(0, len(lines), lines_per_chunk):
            chunk = "\n".join(lines[start : start + lines_per_chunk])
            if len(chunk) >= MIN_CHARS:
                found.append((f"include/{path.relative_to(include).as_posix()}", chunk[:MAX_CHARS]))
    return found


def is_held_out(module: str) -> bool:
    """One module in ten, chosen by a stable hash of its path, supplies the targets."""
    return zlib.crc32(module.encode()) % 10 == 0


@functools.cache
def _texts() -> tuple[list, list, list, list]:
    """(pool functions, held-out functions, prose, C), each [(source, text)]: parsing the
    standard library takes seconds, so a process does it once."""
    paths = sysconfig.get_paths()
    stdlib, include = Path(paths["stdlib"]), Path(paths["include"])
    modules = python_sources(stdlib)
    functions = python_functions(modules)
    held_out = [f for f in functions if is_held_out(f[0])]
    kept = [f for f in functions if not is_held_out(f[0])]
    return kept, held_out, documentation_prose(stdlib, modules), c_headers(include)


def build_sample(rows: int, targets: int, seed: int = 0) -> tuple[pa.Table, list[dict]]:
    """(pool table, target records): rows drawn half Python, 35% prose, 15% C, shuffled."""
    kept, held_out, prose, c_code = _texts()

    rng = random.Random(seed)
    want = {"python": rows // 2, "prose": rows * 35 // 100}
    want["c"] = rows - want["python"] - want["prose"]
    chosen = []
    for kind, items in (("python", kept), ("prose", prose), ("c", c_code)):
        chosen += [(kind, *item) for item in rng.sample(items, min(want[kind], len(items)))]
    rng.shuffle(chosen)
    pool = pa.table(
        {
            "id": pa.array(range(len(chosen)), pa.int64()),
            "text": [text for _, _, text in chosen],
            "kind": [kind for kind, _, _ in chosen],
            "source": [source for _, source, _ in chosen],
        }
    )
    target_records = [
        {"text": text, "source": source}
        for source, text in rng.sample(held_out, min(targets, len(held_out)))
    ]
    return pool, target_records


def write_sample(out: str, rows: int = 10_000, targets: int = 50) -> tuple[str, str]:
    """Write <out>/pool/part-*.parquet and <out>/targets.jsonl; returns their paths. Refuses
    to write over either: they may be a user's own pool."""
    pool_dir, targets_path = Path(out) / "pool", Path(out) / "targets.jsonl"
    for path in (pool_dir, targets_path):
        if path.exists():
            raise ZipfitError(f"--out: {path} exists already; choose a new directory")
    pool, target_records = build_sample(rows, targets)
    pool_dir.mkdir(parents=True)
    per_file = -(-len(pool) // POOL_FILES)
    for i in range(POOL_FILES):
        pq.write_table(
            pool.slice(i * per_file, per_file),
            pool_dir / f"part-{i:05d}.parquet",
            row_group_size=ROW_GROUP_ROWS,
        )
    with open(targets_path, "w", encoding="utf-8") as f:
        for record in target_records:
            f.write(json.dumps(record) + "\n")
    return str(pool_dir), str(targets_path)
