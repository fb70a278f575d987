"""--exclude-near: drop, before the cut, every scored row that is a near-duplicate of a row of
corpora the user already has (last month's selection, an existing fine-tuning set), by
--dedup's rule: a row and a corpus row are near-duplicates when they share an LSH bucket of
MinHash signatures of word 5-grams, banded for --dedup-threshold (selection/dedup.py).

The corpora can be as large as the pool, so they are handled like it, in tasks that write
their own files under OUT/_exclude/, and the driver only adds up counts:

1. corpus: each corpus shard's rows, one record per band, sorted by partition;
2. pool: each scored shard's rows (their bands were saved while scoring), likewise;
3. matched: each partition's pool records whose bucket holds a corpus record, with the
   first such corpus row, sorted by row id;
4. kept: each scored shard's rows without the matched ones, saved to select from; the
   matched ones listed under OUT/excluded/, each with the corpus row it is near.

No task holds more than PARTITION_MEMBERS bucket records. Nothing is checkpointed: a rerun
computes the corpus's buckets again (its cost per corpus row: docs/trust.md).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa

from zipfit_ray import storage
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import plan
from zipfit_ray.job.dedup import PARTITION_MEMBERS
from zipfit_ray.job.runtime import RayCluster
from zipfit_ray.progress import log
from zipfit_ray.selection import dedup, histograms, order
from zipfit_ray.storage import outputs

CORPUS_SHARD_ROWS = 8192
LISTED = 20  # excluded rows summary.json and the report name
MATCHED = np.dtype([("row_id", "<i8"), ("corpus_row", "<i8")])


@dataclass(frozen=True)
class Exclusion:
    """What the step needs: the corpora, their text column, the banding, where to write."""

    corpora: tuple[str, ...]
    column: str
    bands: dedup.Bands
    out: str
    max_bytes: int
    options: dict[str, Any]

    def uri(self, step: str, name: str) -> str:
        return storage.join(self.out, outputs.EXCLUDE, step, name + ".parquet")


@dataclass
class Excluded:
    """The rows kept to select from (per shard), their histograms, and what was dropped."""

    kept: list[str]
    rows: np.ndarray
    tokens: np.ndarray
    counts: Counter
    examples: list[dict[str, Any]]


def exclude(
    cluster: RayCluster, how: Exclusion, saved: list[str], shards: list[str], pool: list[str]
) -> Excluded:
    """The saved scores without the rows near a corpus row. ``pool``: the pool's files (to
    name the rows listed); ``shards``: the saved scores' shard names."""
    corpus_files = storage.list_pool_files(how.corpora, how.options, "--exclude-near")
    plans = plan.plan_in_tasks(cluster, corpus_files, how.column, how.options)
    try:
        scan = storage.combine(corpus_files, plans, how.column, adding=())
    except ZipfitError as exc:  # it names the pool's flags: these files are --exclude-near's
        raise ZipfitError(f"--exclude-near (column {how.column!r}): {exc}") from exc
    corpus_shards = storage.cut_shards(scan, CORPUS_SHARD_ROWS)
    corpus = [how.uri("corpus", f"{s.index:07d}") for s in corpus_shards]
    members = [how.uri("pool", name) for name in shards]
    jobs = [("corpus", s, u) for s, u in zip(corpus_shards, corpus)]
    jobs += [("pool", s, u) for s, u in zip(saved, members)]
    records = sum(n for _, n in cluster.map(_members, jobs, how))
    partitions = bucket_ranges(max(1, math.ceil(records / PARTITION_MEMBERS)))  # as --dedup
    matched = [how.uri("matched", f"{p:05d}") for p in range(len(partitions))]
    jobs = list(zip(partitions, matched))
    for _ in cluster.map(_match, jobs, members, corpus, how.options):
        pass
    kept = [how.uri("kept", name) for name in shards]
    listed = [storage.join(how.out, outputs.EXCLUDED, name + ".parquet") for name in shards]
    found = Excluded(kept, *histograms.rows_and_tokens(np.empty(0, order.ENTRY)), Counter(), [])
    jobs = list(zip(saved, kept, listed))
    for _, (shard_rows, shard_tokens, dropped, examples) in cluster.map(
        _keep, jobs, matched, pool, tuple(scan.files), how.options
    ):
        found.rows += shard_rows
        found.tokens += shard_tokens
        found.counts["rows_excluded_near"] += dropped
        found.examples = sorted(found.examples + examples, key=lambda e: e["row_id"])[:LISTED]
    log(
        f"exclude-near: {found.counts['rows_excluded_near']:,} scored rows are near a row of "
        f"{len(corpus_files)} corpus files ({scan.num_rows:,} rows planned)"
    )
    return found


def bucket_ranges(partitions: int) -> list[tuple[int, int]]:
    """The buckets (uniform uint64 hashes) cut into ``partitions`` equal ranges, inclusive."""
    edges = [i * 2**64 // partitions for i in range(partitions + 1)]
    return [(low, high - 1) for low, high in pairwise(edges)]


def _members(job: tuple[str, Any, str], how: Exclusion) -> int:
    """Steps 1 and 2, a task per corpus or scored shard: its rows' bucket records, sorted by
    bucket (a matching task reads the row groups of its range). Returns the records
    written."""
    kind, source, uri = job
    if kind == "corpus":
        texts, row_ids = [], []
        for piece in source.pieces:
            for batch, _, ids in storage.iter_piece_texts(piece, [how.column], 4096, how.options):
                present = [i for i, t in enumerate(batch) if t is not None]
                texts += [batch[i][: how.max_bytes] for i in present]
                row_ids.append(ids[present])
        entries = order.entries(np.zeros(len(texts)), order.concatenate(row_ids, np.int64))
        entries = dedup.with_bands(entries, how.bands.hashes(texts), how.bands)
    else:
        entries = storage.read_scores(source, how.options)
    records = dedup.bucket_members(entries, how.bands, 1)
    storage.write_scores(uri, records, how.options, "bucket")
    return len(records)


def _match(
    job: tuple[tuple[int, int], str], pool: list[str], corpus: list[str], options: dict
) -> None:
    """Step 3, a task per range of buckets: its pool records whose bucket holds a corpus
    record, each with the lowest such corpus row, one per pool row, sorted by row id."""
    (low, high), matched = job
    span = ("bucket", np.uint64(low), np.uint64(high))
    found = order.concatenate((storage.read_scores(u, options, span) for u in pool), dedup.MEMBER)
    near = order.concatenate((storage.read_scores(u, options, span) for u in corpus), dedup.MEMBER)
    near = near[np.lexsort((near["row_id"], near["bucket"]))]
    found = found[np.isin(found["bucket"], near["bucket"])]
    out = np.empty(len(found), dtype=MATCHED)
    out["row_id"] = found["row_id"]
    out["corpus_row"] = near["row_id"][np.searchsorted(near["bucket"], found["bucket"])]
    out = out[np.lexsort((out["corpus_row"], out["row_id"]))]
    first = np.ones(len(out), dtype=bool)
    first[1:] = out["row_id"][1:] != out["row_id"][:-1]
    storage.write_scores(matched, out[first], options, "row_id")


def _keep(
    uris: tuple[str, str, str],
    matched: list[str],
    pool: list[str],
    corpus: tuple[str, ...],
    options: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, int, list[dict[str, Any]]]:
    """Step 4, a task per scored shard: its rows without the matched ones (saved), the
    matched ones listed; their histograms, count and the first few."""
    saved, kept_uri, listed_uri = uris
    entries = storage.read_scores(saved, options)
    near = np.empty(0, dtype=MATCHED)
    if len(entries):
        span = ("row_id", int(entries["row_id"].min()), int(entries["row_id"].max()))
        near = order.concatenate((storage.read_scores(u, options, span) for u in matched), MATCHED)
        near = near[np.argsort(near["row_id"], kind="stable")]
    dropped = np.isin(entries["row_id"], near["row_id"])
    storage.write_scores(kept_uri, entries[~dropped], options)
    corpus_row = near["corpus_row"][np.searchsorted(near["row_id"], entries["row_id"][dropped])]
    listed = _listing(entries["row_id"][dropped], corpus_row, pool, corpus)
    if listed:
        storage.write_atomic(listed_uri, pa.Table.from_pylist(listed), options)
    return (*histograms.rows_and_tokens(entries[~dropped]), len(listed), listed[:LISTED])


def _listing(
    row_ids: np.ndarray, corpus_rows: np.ndarray, pool: list[str], corpus: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Each dropped row: where it is in the pool, and the corpus row it is near."""
    files, rows = storage.unpack_row_id(row_ids)
    near_files, near_rows = storage.unpack_row_id(corpus_rows)
    return [
        {"row_id": int(r), "source": pool[f], "row": int(i), "near": corpus[g], "near_row": int(j)}
        for r, f, i, g, j in zip(row_ids, files, rows, near_files, near_rows)
    ]
