"""ZIP-FIT as Ray Data building blocks, for pools held as a ``ray.data.Dataset`` (Iceberg,
Delta, Lance, BigQuery, a dedup step's output): the job's exact kernel as a
``map_batches`` scorer, a top-k and a threshold. Only Ray Data users import this module
(``pip install 'zipfit-ray[data]'``).

    scored = ds.map_batches(ZipFitScorer, fn_constructor_kwargs={"targets": targets},
                            compute=ray.data.ActorPoolStrategy(size=2), num_cpus=0.5,
                            batch_format="pyarrow")
    best = select_top_k(ds, targets, k=10_000)

As in ``select``, the contamination guard is on: a row holding a target item (or an item of
``eval_sets``, a dict of name -> texts) by either of its rules (a quarter of the item, or
most of a short row: selection/contamination.py) gets a null score, so no top-k or
threshold keeps it, and ``zipfit_contaminated`` names the set it matched
(``decontaminate="flag"``: scored all the same; ``"off"``: not checked, no column).
Near-duplicate removal needs the whole selection at once: it is ``select --dedup``'s, not
a per-batch step.

With named target sets (``targets`` a dict of name -> texts) the scorer adds one column per
set, ``zipfit_score_<name>``, all from one pass over the batch, and no ``zipfit_score``: the
assignment of rows to sets (``--mix``) and quotas per group need the whole pool's order, so
they are ``select``'s, not per-batch steps.

Rows are ordered as ``select`` orders them: score descending, then a stable key: the column
named by ``key``, or else the text itself (Ray Data has no global read position), so the
result does not depend on how the dataset is split into blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

try:
    import ray.data
except ImportError as exc:  # ray without its [data] extra (pandas, ...)
    raise ImportError(
        f"zipfit_ray.data needs Ray Data: pip install 'zipfit-ray[data]' ({exc})"
    ) from exc

from zipfit_ray import storage
from zipfit_ray.config import DECONTAMINATE, PoolReading, Trust
from zipfit_ray.errors import ZipfitError, require_positive_int
from zipfit_ray.job.runtime import cluster_cpus
from zipfit_ray.kernel.alignment import (
    Text,
    encode,
    ncd_to_targets,
    prepare_targets,
    set_alignments,
)
from zipfit_ray.kernel.backends import DEFAULT_COMPRESSOR
from zipfit_ray.selection.contamination import ContaminationIndex
from zipfit_ray.storage import columns

SCORE_COLUMN = columns.SCORE
CONTAMINATED_COLUMN = "zipfit_contaminated"


class ZipFitScorer:
    """A ``map_batches`` callable class: adds ``score_column`` (float64; null where the text
    is null, or holds a target or eval set item) to pyarrow batches, and with the guard on
    CONTAMINATED_COLUMN. The targets are prepared once per actor; texts longer than
    ``max_bytes`` are scored by their first ``max_bytes`` bytes, as in ``select``."""

    def __init__(
        self,
        targets: Sequence[Text] | Mapping[str, Sequence[Text]],
        text_column: str = "text",
        compressor: str = DEFAULT_COMPRESSOR,
        level: int | None = None,
        joint: str | None = None,
        max_bytes: int = PoolReading.max_bytes,
        score_column: str = SCORE_COLUMN,
        decontaminate: str = Trust.decontaminate,
        eval_sets: dict[str, Sequence[Text]] | None = None,
    ) -> None:
        if decontaminate not in DECONTAMINATE:
            raise ZipfitError(f"decontaminate: choose from {DECONTAMINATE}, got {decontaminate!r}")
        named = dict(targets) if isinstance(targets, Mapping) else {}
        empty = [name for name, set_texts in named.items() if not set_texts]
        if empty:
            raise ZipfitError(f"targets: the set {empty[0]!r} holds no texts")
        texts = [t for set_texts in named.values() for t in set_texts] if named else targets
        sizes = tuple((name, len(set_texts)) for name, set_texts in named.items())
        self.targets = prepare_targets(texts, compressor, level, joint, sizes)
        self.text_column, self.max_bytes, self.score_column = text_column, max_bytes, score_column
        self.decontaminate = decontaminate
        sets = {"targets": texts, **(eval_sets or {})}
        self.guard = None
        if decontaminate != "off":
            self.guard = ContaminationIndex({n: [encode(t) for t in s] for n, s in sets.items()})

    def __call__(self, batch: pa.Table) -> pa.Table:
        texts = [
            None if t is None else t[: self.max_bytes]
            for t in storage.column_bytes(batch.column(self.text_column))
        ]
        present = np.array([t is not None for t in texts], dtype=bool)
        if self.guard is not None:
            found = [None if t is None else self.guard.check(t) for t in texts]
            matched = [None if m is None else m.set_name for m in found]
            batch = batch.append_column(CONTAMINATED_COLUMN, pa.array(matched, pa.string()))
            if self.decontaminate == "drop":
                present &= np.array([m is None for m in matched], dtype=bool)
        ncd = ncd_to_targets([t for t, p in zip(texts, present) if p], self.targets)
        if self.targets.sets:
            found = {
                f"{self.score_column}_{n}": s for n, s in set_alignments(ncd, self.targets).items()
            }
        else:
            found = {self.score_column: 1.0 - ncd.mean(axis=1)}
        for column, values in found.items():
            scores = np.zeros(len(texts))
            scores[present] = values
            batch = batch.append_column(column, pa.array(scores, mask=~present))
        return batch


def score_dataset(
    ds: ray.data.Dataset,
    targets: Sequence[Text] | Mapping[str, Sequence[Text]],
    *,
    actors: int | None = None,
    **scorer_options: Any,
) -> ray.data.Dataset:
    """``ds`` with the score column added, by a pool of ZipFitScorer actors.

    The pool leaves one CPU's worth of logical CPUs to the read tasks (each asks for a whole
    one): on a small cluster, actors that take every CPU starve the reads and the pipeline
    waits forever. By default, one actor per CPU, sharing all CPUs but one."""
    cpus = cluster_cpus()
    size = actors or cpus
    return ds.map_batches(
        ZipFitScorer,
        fn_constructor_kwargs={
            "targets": dict(targets) if isinstance(targets, Mapping) else list(targets),
            **scorer_options,
        },
        compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=max(cpus - 1, 0.5) / size,
        batch_format="pyarrow",
    )


def select_top_k(
    ds: ray.data.Dataset,
    targets: Sequence[Text],
    k: int,
    *,
    key: str | None = None,
    actors: int | None = None,
    **scorer_options: Any,
) -> ray.data.Dataset:
    """The ``k`` best rows of ``ds`` with their scores, best first (rows with a null text are
    left out). Each block keeps its own best ``k``; only those meet in one final merge:
    no global sort, no shuffle."""
    require_positive_int("k", k)
    text_column = scorer_options.get("text_column", "text")
    score_column = scorer_options.get("score_column", SCORE_COLUMN)
    order = [(score_column, "descending"), (key or text_column, "ascending")]

    def best(batch: pa.Table) -> pa.Table:
        batch = batch.filter(pc.is_valid(batch.column(score_column)))
        return batch.sort_by(order).slice(0, k)

    scored = score_dataset(ds, targets, actors=actors, **scorer_options)
    partial = scored.map_batches(best, batch_size=None, batch_format="pyarrow")
    tables = [ray.get(ref) for ref in partial.to_arrow_refs()]
    if not tables:
        return scored.limit(0)
    return ray.data.from_arrow(pa.concat_tables(tables).sort_by(order).slice(0, k))


def select_threshold(
    ds: ray.data.Dataset,
    targets: Sequence[Text],
    min_score: float,
    *,
    actors: int | None = None,
    **scorer_options: Any,
) -> ray.data.Dataset:
    """The rows of ``ds`` scoring at least ``min_score``, with their scores, in the
    dataset's own order: a plain filter after the scorer."""
    score_column = scorer_options.get("score_column", SCORE_COLUMN)
    scored = score_dataset(ds, targets, actors=actors, **scorer_options)
    return scored.map_batches(
        lambda batch: batch.filter(pc.greater_equal(batch.column(score_column), min_score)),
        batch_format="pyarrow",
    )
