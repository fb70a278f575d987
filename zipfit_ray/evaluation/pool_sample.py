"""The random baseline: rows of the pool in a seeded random order, taken while their tokens
fit the budget, found without reading the pool. Rows are counted from the Parquet footers;
a JSONL file has no footer, so its lines are counted by reading it once (in a task; the
only full read, and it is logged). Then only rows drawn are fetched, a batch at a time,
each batch sized by the tokens per row seen so far."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zipfit_ray import storage
from zipfit_ray.analysis.dataset_alignment import SampleRead, reads_by_file
from zipfit_ray.evaluation import reading
from zipfit_ray.evaluation.corpus import Corpus, within_budget
from zipfit_ray.job.runtime import RayCluster
from zipfit_ray.job.survey import sample_batches
from zipfit_ray.progress import log
from zipfit_ray.selection.tokens import TokenCounter

FIRST_DRAW = 256  # rows drawn before the tokens per row are known
DRAW_MARGIN = 1.2  # later draws: this much more than the rows the budget seems to need


class RandomOrder:
    """Positions 0 .. total - 1 in a random order fixed by the seed, drawn a batch at a
    time without holding all of them: draws are rejected if taken before, until fewer than
    half are left, when the rest are shuffled once."""

    def __init__(self, total: int, seed: int) -> None:
        self.total = total
        self.random = np.random.default_rng(seed)
        self.taken = np.empty(0, np.int64)

    @property
    def left(self) -> int:
        return self.total - len(self.taken)

    def next(self, count: int) -> np.ndarray:
        count = min(count, self.left)
        if len(self.taken) + count > self.total // 2:
            rest = np.setdiff1d(np.arange(self.total), self.taken, assume_unique=True)
            drawn = self.random.permutation(rest)[:count]
        else:
            drawn = np.empty(0, np.int64)
            while len(drawn) < count:
                candidates = self.random.integers(0, self.total, 2 * (count - len(drawn)))
                _, first = np.unique(candidates, return_index=True)
                candidates = candidates[np.sort(first)]
                new = ~np.isin(candidates, self.taken) & ~np.isin(candidates, drawn)
                drawn = np.concatenate([drawn, candidates[new]])[:count]
        self.taken = np.concatenate([self.taken, drawn])
        return drawn


def plan(pool: tuple[str, ...], text_column: str, options: dict[str, Any]) -> storage.PoolScan:
    """The pool listed and its footers read (JSONL files: from the listing)."""
    return storage.scan_pool(storage.list_pool_files(pool, options), text_column, options)


def rows_per_file(cluster: RayCluster, scan: storage.PoolScan) -> list[int]:
    """Rows of each file: from the footers; a JSONL file's, by counting its lines."""
    footerless = [f for f in scan.files if not storage.format_of(f).has_footer]
    if footerless:
        log(
            f"random baseline: {len(footerless):,} JSONL files have no footer; counting their "
            "lines reads them once"
        )
    counted = dict(
        zip(
            footerless,
            cluster.map_in_order(reading.line_count, footerless, cluster.storage_options),
        )
    )
    return [counted.get(f, sum(groups)) for f, groups in zip(scan.files, scan.row_groups)]


def sample(
    cluster: RayCluster,
    scan: storage.PoolScan,
    budget: int,
    seed: int,
    text_column: str,
    tokenizer_json: str | None,
) -> Corpus:
    """Rows of the pool in the seed's random order (rows without text passed over) while
    their tokens fit in the budget; the whole pool where it holds less."""
    counts = rows_per_file(cluster, scan)
    positions = RandomOrder(sum(counts), seed)
    texts: list[bytes] = []
    tokens: list[int] = []
    used = 0
    while used <= budget and positions.left:
        per_row = max(1.0, used / len(tokens)) if tokens else None
        wanted = FIRST_DRAW if per_row is None else (budget - used) / per_row * DRAW_MARGIN
        drawn = positions.next(math.ceil(wanted) + 1)
        for found in _read_in_order(cluster, scan, counts, drawn, text_column, tokenizer_json):
            if found is not None:
                texts.append(found[0])
                tokens.append(found[1])
                used += found[1]
    if not positions.left:
        log(f"random baseline: the pool holds {used:,} tokens, all of them used")
    fitting = within_budget(np.array(tokens, np.int64), budget, "--pool")
    return Corpus(texts[:fitting], sum(tokens[:fitting]), sum(tokens), budget)


def _read_in_order(
    cluster: RayCluster,
    scan: storage.PoolScan,
    counts: list[int],
    drawn: np.ndarray,
    text_column: str,
    tokenizer_json: str | None,
) -> list[tuple[bytes, int] | None]:
    """(text, tokens) of each drawn row, in the order drawn (None: no text), read in tasks
    file by file."""
    ascending = np.argsort(drawn)
    reads = reads_by_file(scan.files, scan.row_groups, counts, drawn[ascending])
    batches = cluster.map_in_order(
        _batch_texts, sample_batches(reads), text_column, tokenizer_json, cluster.storage_options
    )
    found: list[tuple[bytes, int] | None] = [None] * len(drawn)
    for position, text in zip(ascending, (t for batch in batches for t in batch)):
        found[position] = text
    return found


def _batch_texts(
    reads: list[SampleRead], text_column: str, tokenizer_json: str | None, options: dict[str, Any]
) -> list[tuple[bytes, int] | None]:
    """A task: the texts of a batch of reads, in order, with their tokens."""
    texts = [
        text
        for read in reads
        for text in reading.row_texts(
            read.path, read.row_group_sizes, read.rows, text_column, options
        )
    ]
    present = [t for t in texts if t is not None]
    counted = iter(TokenCounter(tokenizer_json).count(present).tolist())
    return [None if t is None else (t, next(counted)) for t in texts]
