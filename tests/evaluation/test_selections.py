"""A selection read for training: its own order (zipfit_key, else zipfit_score, ties and
unscored rows in file order), the budget's cut, named sets, JSONL parts, and the errors."""

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.local_cluster import LocalCluster
from zipfit_ray import ZipfitError
from zipfit_ray.evaluation import selections
from zipfit_ray.selection.tokens import approximate_tokens
from zipfit_ray.storage import outputs

TEXTS = ["one two", "three four five", "six", "seven eight", "nine ten eleven twelve"]


def read(directory, budget, per_set=False):
    """{entry: texts} of the selection in ``directory``, cut to ``budget`` tokens."""
    selection = selections.plan("sel", str(directory), "text", {})
    found = selections.corpora(LocalCluster(), selection, budget, per_set, "text", None)
    return {name: [t.decode() for t in corpus.texts] for name, corpus in found.items()}


def write_parts(directory, *tables):
    directory.mkdir()
    for i, table in enumerate(tables):
        pq.write_table(pa.table(table), directory / f"part-{i:05d}.parquet", row_group_size=2)


def test_best_first_by_score_ties_in_file_order(tmp_path):
    write_parts(
        tmp_path / "s",
        {"text": TEXTS[:3], "zipfit_score": [0.1, 0.9, 0.5]},
        {"text": TEXTS[3:], "zipfit_score": [0.9, 0.2]},
    )
    assert read(tmp_path / "s", 100) == {"sel": [TEXTS[1], TEXTS[3], TEXTS[2], TEXTS[4], TEXTS[0]]}


def test_the_budget_stops_at_the_first_row_that_does_not_fit(tmp_path):
    write_parts(tmp_path / "s", {"text": TEXTS, "zipfit_score": [5.0, 4, 3, 2, 1]})
    tokens = [approximate_tokens(t.encode()) for t in TEXTS]  # 2, 3, 1, 2, 4
    assert read(tmp_path / "s", sum(tokens[:2]) + 0) == {"sel": TEXTS[:2]}
    assert read(tmp_path / "s", sum(tokens[:3]) + 1) == {"sel": TEXTS[:3]}  # the 4th: 2 > 1


class ReversedCluster(LocalCluster):
    """Tasks that finish last first."""

    def _run(self, function, keyed, common):
        return reversed(list(super()._run(function, keyed, common)))


@pytest.mark.parametrize("cluster", [LocalCluster, ReversedCluster])
@pytest.mark.parametrize("budget", [7, 40, 131, 10_000])
def test_many_units_merged_as_they_finish_cut_as_all_rows_at_once(tmp_path, cluster, budget):
    """Units' own cuts merged in any order: the cut of every row, best first (ties in file
    order), sets apart."""
    rng = np.random.default_rng(budget)
    words = [" ".join(["w"] * int(n)) for n in rng.integers(1, 12, 120)]
    scores = np.round(rng.random(120), 1)  # ties
    sets = [f"s{i}" for i in rng.integers(0, 3, 120)]
    directory = tmp_path / "s"
    write_parts(
        directory,
        *(
            {"text": words[i::3], "zipfit_score": scores[i::3], "zipfit_target": sets[i::3]}
            for i in range(3)
        ),
    )
    position = [(i % 3, i // 3) for i in range(120)]  # (part, row) of each row
    tokens = [approximate_tokens(w.encode()) for w in words]
    selection = selections.plan("sel", str(directory), "text", {})
    for per_set, members in (
        (False, {"sel": range(120)}),
        (True, {f"sel/{s}": [i for i in range(120) if sets[i] == s] for s in sorted(set(sets))}),
    ):
        found = selections.corpora(cluster(), selection, budget, per_set, "text", None)
        assert list(found) == list(members)
        for name, rows in members.items():
            best = sorted(rows, key=lambda i: (-scores[i], position[i]))
            fitting = np.searchsorted(np.cumsum([tokens[i] for i in best]), budget, side="right")
            assert [t.decode() for t in found[name].texts] == [words[i] for i in best[:fitting]]
            assert found[name].available_tokens == sum(tokens[i] for i in rows)


def test_a_temperature_selection_goes_by_its_key(tmp_path):
    write_parts(
        tmp_path / "s",
        {"text": TEXTS[:3], "zipfit_score": [0.9, 0.5, 0.1], "zipfit_key": [1.0, 3.0, 2.0]},
    )
    assert read(tmp_path / "s", 100) == {"sel": [TEXTS[1], TEXTS[2], TEXTS[0]]}


def test_without_scores_file_order_and_nulls_skipped(tmp_path):
    write_parts(tmp_path / "s", {"text": [TEXTS[0], None, TEXTS[1]]}, {"text": TEXTS[2:]})
    assert read(tmp_path / "s", 100) == {"sel": TEXTS}


def test_jsonl_parts_and_unscored_rows_last(tmp_path):
    (tmp_path / "s").mkdir()
    records = [
        {"text": TEXTS[0], "zipfit_score": 0.2},
        {"text": TEXTS[1]},
        {"text": TEXTS[2], "zipfit_score": 0.7},
    ]
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (tmp_path / "s" / "part-00000.jsonl").write_text(lines)
    assert read(tmp_path / "s", 100) == {"sel": [TEXTS[2], TEXTS[0], TEXTS[1]]}


def test_named_sets_one_entry_each_with_per_set(tmp_path):
    write_parts(
        tmp_path / "s",
        {
            "text": TEXTS,
            "zipfit_score": [0.1, 0.9, 0.5, 0.8, 0.3],
            "zipfit_target": ["a", "b", "a", "b", "a"],
        },
    )
    assert read(tmp_path / "s", 100, per_set=True) == {
        "sel/a": [TEXTS[2], TEXTS[4], TEXTS[0]],
        "sel/b": [TEXTS[1], TEXTS[3]],
    }
    assert read(tmp_path / "s", 100) == {"sel": [TEXTS[1], TEXTS[3], TEXTS[2], TEXTS[4], TEXTS[0]]}


def test_other_files_of_a_select_output_are_not_read(tmp_path):
    write_parts(tmp_path / "s", {"text": TEXTS[:2], "zipfit_score": [0.1, 0.2]})
    (tmp_path / "s" / "ranked").mkdir()
    pq.write_table(pa.table({"text": ["not me"]}), tmp_path / "s" / "ranked" / "part-00000.parquet")
    (tmp_path / "s" / outputs.SUCCESS).write_text("")
    (tmp_path / "s" / outputs.RECORD).write_text("{}")
    assert read(tmp_path / "s", 100) == {"sel": [TEXTS[1], TEXTS[0]]}


def test_a_budget_larger_than_the_selection_takes_all_of_it(tmp_path):
    write_parts(tmp_path / "s", {"text": TEXTS})
    selection = selections.plan("sel", str(tmp_path / "s"), "text", {})
    (corpus,) = selections.corpora(LocalCluster(), selection, 1000, False, "text", None).values()
    assert corpus.short and corpus.rows == len(TEXTS) and corpus.tokens == corpus.available_tokens


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: write_parts(d, {"text": pa.array([], pa.string())}), "holds no rows with text"),
        (
            lambda d: write_parts(d, {"text": pa.array([None, None], pa.string())}),
            "holds no rows with text",
        ),
        (lambda d: write_parts(d, {"text": ["a b c d e f g h i j k"]}), "alone holds 11 tokens"),
        (lambda d: d.mkdir(), "holds no part-* Parquet or JSONL files"),
        (lambda d: None, "no such directory or file"),
        (lambda d: write_parts(d, {"body": ["x"]}), "no column 'text' (--text-column)"),
    ],
)
def test_errors_name_the_selection(tmp_path, make, message):
    make(tmp_path / "s")
    with pytest.raises(ZipfitError, match=re.escape(message)) as error:
        read(tmp_path / "s", 10)
    assert "--selections sel" in str(error.value)


def test_an_unfinished_select_output_is_refused(tmp_path):
    write_parts(tmp_path / "s", {"text": TEXTS})
    (tmp_path / "s" / outputs.RECORD).write_text("{}")
    with pytest.raises(ZipfitError, match="unfinished zipfit-ray output"):
        read(tmp_path / "s", 10)
