"""A selection read for training, in its own order: its parts listed, every row's rank and
tokens counted in tasks (texts are not kept), the best rows cut to the token budget, and
only their texts read back (the job's own shape: numbers first, texts last).

The order is the selection's ranking: best first by ``zipfit_key`` where it has one (a
--temperature selection was ranked by it), else by ``zipfit_score``; ties, and rows with
neither, in pool position, which is the order rows appear in the parts (select writes its
parts in pool order, named in that order). A selection without either column is taken in
file order. With --per-set, a named-set selection (``zipfit_target``) is one entry per set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from zipfit_ray import modes, storage
from zipfit_ray.analysis.dataset_alignment import SampleRead
from zipfit_ray.errors import ZipfitError
from zipfit_ray.evaluation import reading
from zipfit_ray.evaluation.corpus import Corpus, within_budget
from zipfit_ray.job.runtime import RayCluster
from zipfit_ray.selection import order
from zipfit_ray.selection.tokens import TokenCounter
from zipfit_ray.storage import columns, outputs, parquet
from zipfit_ray.storage.pool import is_pool_file

# the first a selection has ranks it: the soft key, else its mode's score column
RANKED_BY = (columns.KEY, *dict.fromkeys(mode.score_column for mode in modes.MODES.values()))
SET_COLUMN = columns.TARGET  # named target sets: the set a row was taken for
UNRANKED = -np.inf  # a row without a score: after every scored row, in file order


@dataclass(frozen=True)
class Selection:
    """A selection's part files, in pool order, planned (Parquet: row groups)."""

    name: str
    uri: str
    files: tuple[str, ...]
    row_groups: tuple[tuple[int, ...], ...]

    def units(self) -> list[storage.Piece]:
        return [
            piece
            for index, (path, groups) in enumerate(zip(self.files, self.row_groups))
            for piece in storage.format_of(path).units(index, path, groups)
        ]


def plan(name: str, uri: str, text_column: str, options: dict[str, Any]) -> Selection:
    """A selection's parts: the ``part-*`` files of a select --out (a finished one), or one
    Parquet or JSONL file; their footers read, their text column checked."""
    flag = f"--selections {name}"
    fs, path = storage.filesystem(uri, options)
    if fs.isdir(path):
        names = storage.list_names(uri, options)
        if outputs.RECORD in names and outputs.SUCCESS not in names:
            raise ZipfitError(
                f"{flag}: {uri} is an unfinished zipfit-ray output (no {outputs.SUCCESS}); "
                "rerun its select to finish it"
            )
        files = [storage.join(uri, n) for n in names if n.startswith("part-") and is_pool_file(n)]
    elif fs.isfile(path):
        files = [uri]
    else:
        raise ZipfitError(f"{flag}: no such directory or file: {uri}")
    if not files:
        raise ZipfitError(f"{flag}: {uri} holds no part-* Parquet or JSONL files")
    plans = storage.plan_files(files, text_column, options)
    for path, found in zip(files, plans):
        if isinstance(found, ZipfitError):
            raise ZipfitError(f"{flag}: {found}")
        if found.schema is not None:
            schema = pa.ipc.read_schema(pa.py_buffer(found.schema))
            parquet.check_text_column(schema, text_column, f"{flag}: {path}", "--text-column")
    return Selection(name, uri, tuple(files), tuple(p.row_groups for p in plans))


def rank_unit(
    piece: storage.Piece,
    text_column: str,
    tokenizer_json: str | None,
    budget: int,
    per_set: bool,
    options: dict[str, Any],
) -> dict[str | None, tuple[np.ndarray, int]]:
    """A task: the unit's rows that hold text as order.ENTRY records (score: what ranks the
    row; tokens; length in bytes), by the set each was selected for (with ``per_set``; else
    all under None): the rows of each that can be in the budget's cut (``candidates``), and
    the tokens it holds in all."""
    texts, values, numbers = reading.unit_columns(
        piece, text_column, [*RANKED_BY, SET_COLUMN], options
    )
    kept = [i for i, text in enumerate(texts) if text is not None]
    ranks = [
        next((values[c][i] for c in RANKED_BY if values[c][i] is not None), UNRANKED) for i in kept
    ]
    found = [texts[i] for i in kept]
    entries = order.entries(
        np.array(ranks, np.float64),
        storage.pack_row_id(piece.file_index, numbers[kept]),
        TokenCounter(tokenizer_json).count(found),
        np.fromiter((len(t) for t in found), np.int64, len(found)),
    )
    labels = np.array([values[SET_COLUMN][i] if per_set else None for i in kept], dtype=object)
    return {
        label: (
            candidates(entries[labels == label], budget),
            int(entries["tokens"][labels == label].sum()),
        )
        for label in dict.fromkeys(labels.tolist())
    }


def candidates(entries: np.ndarray, budget: int) -> np.ndarray:
    """The rows, best first, that fit the budget, and the first that does not (where the cut
    stops). Any part of the rows holds, in these, every row of its own at or before where
    the cut of all rows stops (fewer rows are ahead of each there); so parts are cut alone,
    their cuts merged in any order and cut again, and the cut of the merge is that of all."""
    best = order.best_first(entries)
    fitting = int(np.searchsorted(np.cumsum(best["tokens"]), budget, side="right"))
    return best[: fitting + 1]


def corpora(
    cluster: RayCluster,
    selection: Selection,
    budget: int,
    per_set: bool,
    text_column: str,
    tokenizer_json: str | None,
) -> dict[str, Corpus]:
    """The selection's entries (itself, or with ``per_set`` each of its named sets,
    NAME/SET), each cut to the budget: every unit's candidates are merged as its task
    finishes (the driver holds at most two budgets' rows per entry, whatever the
    selection's size), then the chosen rows' texts are read."""
    merged: dict[str | None, tuple[np.ndarray, int]] = {}  # label: candidates, all tokens
    options = cluster.storage_options
    units = selection.units()
    for _, found in cluster.map(
        rank_unit, units, text_column, tokenizer_json, budget, per_set, options
    ):
        for label, (rows, tokens) in found.items():
            before, total = merged.get(label, (order.concatenate([]), 0))
            merged[label] = (candidates(order.concatenate([before, rows]), budget), total + tokens)
    named = sorted(label for label in merged if label is not None)
    names = {f"{selection.name}/{s}": s for s in named} if named else {selection.name: None}
    found = {}
    for name, label in names.items():
        best, available = merged.get(label, (order.concatenate([]), 0))
        chosen = best[: within_budget(best["tokens"], budget, f"--selections {name}")]
        found[name] = read_corpus(cluster, selection, chosen, available, budget, text_column)
    return found


def read_corpus(
    cluster: RayCluster,
    selection: Selection,
    chosen: np.ndarray,
    available_tokens: int,
    budget: int,
    text_column: str,
) -> Corpus:
    """The chosen rows' texts (ENTRY records, best first), read back file by file in tasks,
    in pool order, then put in the order chosen."""
    ascending = np.sort(chosen["row_id"])
    file_index, rows = storage.unpack_row_id(ascending)
    reads = [
        SampleRead(selection.files[f], selection.row_groups[f], rows[file_index == f])
        for f in np.unique(file_index)
    ]
    found = cluster.map_in_order(_texts_of, reads, text_column, cluster.storage_options)
    in_pool_order = [text for texts in found for text in texts]
    texts = [in_pool_order[i] for i in np.searchsorted(ascending, chosen["row_id"])]
    return Corpus(texts, int(chosen["tokens"].sum()), available_tokens, budget)


def _texts_of(read: SampleRead, text_column: str, options: dict[str, Any]) -> list[bytes | None]:
    return reading.row_texts(read.path, read.row_group_sizes, read.rows, text_column, options)
