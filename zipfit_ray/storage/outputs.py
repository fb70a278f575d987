"""Everything a job writes under --out, named in one place, and the record that proves the
job wrote it: the job removes or replaces only what that record lists.

    part-00000.parquet, ...  the selection (with --min-score: part-<shard>.parquet)
    ranked/                  --order score: the selection best first
    report.html, summary.json
    _SUCCESS                 written last: the result is complete
    scores/                  every shard's scored rows (kept with --all-scores, + _job.json)
    _checkpoints/            finished shards' notes, for resume; removed at the end
    _checks/, _rescored/     early exit's check, the cascade's exact pass; removed at the end
    _dedup/                  --dedup's buckets and what each shard keeps; removed at the end
    _exclude/                --exclude-near's buckets and what each shard keeps; removed too
    excluded/                rows --exclude-near dropped, and the corpus row each is near
    contaminated/            rows the contamination guard flagged, and the item each holds
    _zipfit_outputs.json     the record: the names above that this job, or an earlier run
                             into the same --out, wrote (or was about to write)

Only the driver writes the record, and it names a file before any task writes it, so a
killed run's files are recorded too. An --out is taken only if it is new, empty, or holds
nothing but what its record names (a folder written before the record existed is
recognised by its summary.json, which lists its parts).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from zipfit_ray.errors import ZipfitError
from zipfit_ray.storage.files import (
    exists,
    join,
    list_names,
    make_dirs,
    read_bytes,
    remove,
    write_json,
)

SUCCESS = "_SUCCESS"
SUMMARY = "summary.json"
REPORT = "report.html"
SCORES = "scores"
SCORES_JOB = "_job.json"  # in SCORES: what reselect needs of the job that saved them
CHECKPOINTS = "_checkpoints"
CHECKS = "_checks"
RESCORED = "_rescored"
DEDUP = "_dedup"
EXCLUDE = "_exclude"
EXCLUDED = "excluded"
RANKED = "ranked"
CONTAMINATED = "contaminated"
RECORD = "_zipfit_outputs.json"
FIXED = (
    RECORD, SUCCESS, SUMMARY, REPORT, SCORES, CHECKPOINTS, CHECKS, RESCORED, DEDUP, EXCLUDE,
    RANKED, CONTAMINATED, EXCLUDED,
)  # fmt: skip
WRITTEN_BY = "zipfit-ray"
TEMPORARY = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")  # files.write_atomic's name mid-write
NAMES_SHOWN = 5


def part_name(index: int, suffix: str) -> str:
    """The index-th part of the selection, written after the cut."""
    return f"part-{index:05d}{suffix}"


def streamed_part_name(shard: str, suffix: str) -> str:
    """--min-score: the part a shard writes as soon as it is scored."""
    return f"part-{shard}{suffix}"


def scores_uri(out: str, shard: str) -> str:
    """A shard's scored rows: what the cut counts, what the writing reads, what reselect
    reads with --all-scores."""
    return join(out, SCORES, shard + ".parquet")


def checks_uri(out: str, shard: str) -> str:
    """approx-early-exit: exact scores of a sample of the rows the shard dropped."""
    return join(out, CHECKS, shard + ".parquet")


def contaminated_uri(out: str, shard: str) -> str:
    """The rows of a shard the contamination guard flagged."""
    return join(out, CONTAMINATED, shard + ".parquet")


def rescored_uri(out: str, shard: str) -> str:
    """approx-cascade: exact scores of the shard's shortlisted rows."""
    return join(out, RESCORED, shard + ".parquet")


def dedup_uri(out: str, step: str, name: str) -> str:
    """--dedup: a shard's or a partition's file of one step (members, resolved, kept, ...)."""
    return join(out, DEDUP, step, name + ".parquet")


def claim(out: str, overwrite: bool, options: dict[str, Any]) -> None:
    """Take --out for a job, or raise ZipfitError: it must be new, empty or hold only what
    an earlier run recorded; a finished result is replaced only with ``overwrite``."""
    present = list_names(out, options)
    owned = _recorded(out, present, options)
    if owned is None and present:
        raise ZipfitError(
            f"--out: {out} is not empty ({_some(present)}) and holds no record of a zipfit-ray "
            "run; the job only replaces files it wrote: choose a new or empty directory"
        )
    foreign = [n for n in present if n not in (owned or ()) and not TEMPORARY.fullmatch(n)]
    if foreign:
        raise ZipfitError(
            f"--out: {out} holds files zipfit-ray did not write ({_some(foreign)}); the job "
            "only replaces files it wrote: move them, or choose another directory"
        )
    if SUCCESS in present:
        if not overwrite:
            raise ZipfitError(f"--out: {out} already holds a finished result (--overwrite)")
        remove(join(out, SUCCESS), options)  # the old result stops being complete right away
    make_dirs(out, options)
    _write_record(out, set(FIXED) | ((owned or set()) & set(present)), options)


def record(out: str, names: Iterable[str], options: dict[str, Any]) -> None:
    """Add ``names`` to the record, before anything is written under them."""
    _write_record(out, _read_record(out, options) | set(names), options)


def remove_stale(out: str, keep: set[str], options: dict[str, Any]) -> None:
    """Remove recorded parts not in ``keep`` (an earlier or killed run's), and an earlier
    summary: they do not belong to the result being written."""
    recorded = _read_record(out, options)
    for name in sorted(set(list_names(out, options)) & recorded):
        if (name not in FIXED and name not in keep) or name in (SUMMARY, SUCCESS):
            remove(join(out, name), options)
    _write_record(out, set(FIXED) | keep, options)


def write_owned_json(uri: str, value: dict[str, Any], flag: str, options: dict[str, Any]) -> None:
    """A JSON file of ours (compare-datasets, estimate, evaluate), marked as such; an
    existing file is replaced only if it carries the mark."""
    check_owned(uri, flag, options)
    write_json(uri, {**value, "written_by": WRITTEN_BY}, options)


def check_owned(uri: str, flag: str, options: dict[str, Any]) -> None:
    """Refuse a path that holds a file without write_owned_json's mark (checked before a
    long job, not only when it writes)."""
    if exists(uri, options) and not _ours(uri, options):
        raise ZipfitError(
            f"{flag}: {uri} exists and zipfit-ray did not write it; choose another path"
        )


def _recorded(out: str, present: list[str], options: dict[str, Any]) -> set[str] | None:
    """The names an earlier run recorded, or None where there is no record."""
    if RECORD in present:
        return _read_record(out, options) if _ours(join(out, RECORD), options) else None
    if SUMMARY in present:  # written before the record existed: the summary lists the parts
        summary = _json(join(out, SUMMARY), options)
        if isinstance(summary, dict) and isinstance(summary.get("parts"), list):
            return set(FIXED) | set(summary["parts"])
    return None


def _read_record(out: str, options: dict[str, Any]) -> set[str]:
    return set(_json(join(out, RECORD), options)["names"])


def _write_record(out: str, names: set[str], options: dict[str, Any]) -> None:
    write_json(join(out, RECORD), {"written_by": WRITTEN_BY, "names": sorted(names)}, options)


def _ours(uri: str, options: dict[str, Any]) -> bool:
    value = _json(uri, options)
    return isinstance(value, dict) and value.get("written_by") == WRITTEN_BY


def _json(uri: str, options: dict[str, Any]) -> Any:
    try:
        return json.loads(read_bytes(uri, options))
    except (OSError, ValueError):  # unreadable, a folder, not JSON, not UTF-8: not ours
        return None


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")
