"""Resume: every finished shard's notes (counts, histograms) are saved under
<out>/_checkpoints/, beside its scored rows under <out>/scores/.

The directory belongs to one job, named by a fingerprint of its inputs (pool file footers,
target texts) and scoring arguments. A rerun with the same fingerprint reuses finished
shards; a different job is refused unless --overwrite, so results never mix.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, fields
from typing import Any

import numpy as np

from zipfit_ray import storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job.notes import ShardNotes
from zipfit_ray.kernel import backends
from zipfit_ray.kernel.alignment import PreparedTargets
from zipfit_ray.selection import contamination, dedup
from zipfit_ray.storage.outputs import CHECKPOINTS

JOB_FILE = "job.json"
POOL_FILE = "pool.json"  # each pool file's digest, to name the files a rerun finds changed
SHOWN_FILES = 3
FORMAT = 6  # 6: the fingerprint derived from the plan; 5: rows carry their group and sets


def fingerprint(
    config: SelectConfig,
    scan: storage.PoolScan,
    targets: PreparedTargets,
    tokenizer_json: str | None,
    eval_sets: dict[str, list[bytes]] | None = None,
) -> dict[str, Any]:
    """What decides every shard's result: the same fingerprint gives the same outcome.

    Derived from the plan: every flag but those config.SHARD_NEUTRAL names (each with its
    reason), with the flags that name inputs (config.BY_CONTENT) fingerprinted by what they
    hold; plus the compressor library's version (another may give other lengths) and the
    constants of the guard and of the near-duplicate bands."""
    named_sets = sorted((eval_sets or {}).items())
    contents = {
        "pool": pool_digest(scan),
        "targets": _digest(targets.texts),
        "eval_sets": _digest(
            text for name, texts in named_sets for text in (f"{name}:{len(texts)}".encode(), *texts)
        )
        if named_sets
        else None,
        "tokenizer": tokenizer_json and hashlib.sha256(tokenizer_json.encode()).hexdigest(),
    }
    found = {
        "format": FORMAT,
        **config.shard_flags(),
        **contents,
        "target_sets": [list(named) for named in targets.sets],
        "compressor_versions": backends.backend(config.scoring.compressor).version(),
        # what code decides beside the flags: the guard's rules, the near-duplicate bands
        "guard": contamination.RULES if config.trust.decontaminate != "off" else None,
        "bands": dedup.SIGNATURE if config.trust.banded else None,
    }
    return json.loads(json.dumps(found))  # as job.json holds it, to compare with a rerun's


def _digest(texts: Iterable[bytes]) -> str:
    """A digest of a sequence of texts (each length-prefixed, so no two sequences meet)."""
    found = hashlib.sha256()
    for text in texts:
        found.update(len(text).to_bytes(8, "little") + text)
    return found.hexdigest()


def pool_digest(scan: storage.PoolScan) -> str:
    """Names the pool's files and their exact content (by their footers)."""
    return hashlib.sha256(json.dumps([scan.files, scan.footer_digests]).encode()).hexdigest()


def open_for_job(
    out: str,
    job: dict[str, Any],
    overwrite: bool,
    options: dict,
    scan: storage.PoolScan,
) -> set[str]:
    """Claim <out>/_checkpoints for ``job``; returns the names of shards already finished.

    Raises ZipfitError if it holds another job's checkpoints and ``overwrite`` is not set
    (with ``overwrite``, all earlier checkpoints are dropped). Each file of the pool's
    ``scan`` is kept beside the job with its digest, so that the error names the files
    that changed.
    """
    directory = storage.join(out, CHECKPOINTS)
    job_uri = storage.join(directory, JOB_FILE)
    if storage.exists(job_uri, options):
        previous = json.loads(storage.read_bytes(job_uri, options))
        if previous == job and not overwrite:
            names = storage.list_names(directory, options)
            return {name.removesuffix(".npz") for name in names if name.endswith(".npz")}
        if not overwrite:
            changed = sorted(
                key for key in job.keys() | previous.keys() if job.get(key) != previous.get(key)
            )
            if "pool" in changed:
                changed[changed.index("pool")] = _pool_changes(directory, scan, options)
            raise ZipfitError(
                f"--out: {out} holds checkpoints of a different job (changed: "
                f"{', '.join(changed)}); rerun with the same arguments to resume, "
                "or pass --overwrite to start over"
            )
    if storage.exists(directory, options):
        storage.remove(directory, options)
    storage.make_dirs(directory, options)
    storage.write_json(job_uri, job, options)
    files = dict(zip(scan.files, scan.footer_digests))
    storage.write_json(storage.join(directory, POOL_FILE), files, options)
    return set()


def _pool_changes(directory: str, scan: storage.PoolScan, options: dict) -> str:
    """What the error says of the pool: which files were rewritten, added or are gone, if
    the checkpoints recorded them (the first few: the error stays one line)."""
    uri = storage.join(directory, POOL_FILE)
    if not storage.exists(uri, options):
        return "pool"
    before = json.loads(storage.read_bytes(uri, options))
    now = dict(zip(scan.files, scan.footer_digests))
    changes = [f"{f} rewritten" for f in now if f in before and before[f] != now[f]]
    changes += [f"{f} added" for f in now if f not in before]
    changes += [f"{f} gone" for f in before if f not in now]
    shown = "; ".join(changes[:SHOWN_FILES]) or "the files' order"
    if len(changes) > SHOWN_FILES:
        shown += f"; {len(changes) - SHOWN_FILES} more"
    return f"pool: {shown}"


def shard_name(shard: storage.Shard) -> str:
    """Shards are runs of consecutive row groups, so the first and last name one."""
    first, last = shard.pieces[0], shard.pieces[-1]
    return (
        f"shard-{first.file_index:07d}-{first.row_group:06d}"
        f"-{last.file_index:07d}-{last.row_group:06d}"
    )


def uri(out: str, name: str) -> str:
    """Where the checkpoint of the shard called ``name`` lives."""
    return storage.join(out, CHECKPOINTS, name + ".npz")


def save(uri: str, notes: ShardNotes, options: dict) -> None:
    """Its arrays as they are, every other field as JSON (the part it wrote as a dict)."""
    values = {f.name: getattr(notes, f.name) for f in fields(ShardNotes) if f.name != "resumed"}
    values["selected"] = notes.selected and asdict(notes.selected)
    saved = {
        name: value if name in ShardNotes.ARRAYS else np.array(json.dumps(value))
        for name, value in values.items()
    }
    buffer = io.BytesIO()
    np.savez(buffer, **saved)
    storage.write_atomic(uri, buffer.getvalue(), options)


def load(uri: str, options: dict) -> ShardNotes:
    """A finished shard's notes, as it saved them (resumed)."""
    with np.load(io.BytesIO(storage.read_bytes(uri, options)), allow_pickle=False) as saved:
        values = {
            name: saved[name] if name in ShardNotes.ARRAYS else json.loads(str(saved[name]))
            for name in saved.files
        }
    return ShardNotes(**values, resumed=True)


def remove_all(out: str, options: dict) -> None:
    """Drop the checkpoints once the result they built is complete."""
    directory = storage.join(out, CHECKPOINTS)
    if storage.exists(directory, options):
        storage.remove(directory, options)
