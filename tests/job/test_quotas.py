"""Quotas per group on a real local Ray: the job against a walk down naive scores, the
best share of every group, shortfalls in summary.json and the report, reselect, errors."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.naive import naive_alignment
from tests.selection.test_quotas import naive_quotas
from zipfit_ray import SelectConfig, ZipfitError, run_select
from zipfit_ray.cli import main as cli_main
from zipfit_ray.job.select import run_reselect
from zipfit_ray.selection import order, quotas
from zipfit_ray.selection.amounts import Amount

LZ4 = {"compressor": "lz4", "decontaminate": "off"}


@pytest.fixture(scope="module")
def naive(corpus):
    """(every non-null row's entry by lz4-0 score, row id its position; its kind)."""
    kinds = pq.read_table(corpus.pool_dir).column("kind").to_pylist()
    present = [i for i, t in enumerate(corpus.texts) if t is not None]
    scores = [naive_alignment(corpus.texts[i], corpus.targets, "lz4", 0) for i in present]
    return order.entries(np.array(scores), np.array(present)), np.array(kinds)[present]


def select(corpus, out, **options):
    return run_select(
        SelectConfig.from_flags(
            pool=(str(corpus.pool_dir),), targets=str(corpus.targets_path), out=str(out),
            group_column="kind", **{**LZ4, **options},
        )
    )  # fmt: skip


def selected_ids(out) -> list[int]:
    table = pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read()
    return table.column("id").to_pylist()


def sizes_of(labels):
    return {g: quotas.GroupSize(int((labels == g).sum()), 0) for g in set(labels.tolist())}


@pytest.mark.parametrize(
    "options",
    [
        {"group_quota": {"c": 0.3, "prose": 10}, "group_max": 0.5},
        {"group_quota": {"c": 0.3, "prose": 10}, "group_max": 0.5, "shard_rows": 7},
        {"group_max": 0.4},
    ],
)
def test_quotas_select_what_walking_naive_scores_selects(
    ray_session, corpus, naive, tmp_path, options
):
    entries, labels = naive
    summary = select(corpus, tmp_path, k=60, **options)
    plan = quotas.plan(
        Amount(k=60), sizes_of(labels), options.get("group_quota"),
        options.get("group_max"), False,
    )  # fmt: skip
    assert selected_ids(tmp_path) == sorted(naive_quotas(entries, labels, plan))
    assert summary["rows_selected"] == 60
    selected = summary["groups"]["selected"]
    assert all(n <= 24 for n in selected.values()) if "group_quota" not in options else True
    assert summary["sections"]["group"]["c"]["rows"] == selected["c"]


def test_per_group_takes_the_best_share_of_every_group(ray_session, corpus, naive, tmp_path):
    entries, labels = naive
    summary = select(corpus, tmp_path, fraction=0.1, per_group=True)
    expected = []
    for kind in set(labels.tolist()):
        mine = entries[labels == kind]
        expected += order.best_first(mine)["row_id"][: int(0.1 * len(mine))].tolist()
    assert selected_ids(tmp_path) == sorted(expected)
    assert summary["group_quotas"]["short"] == {}


def test_a_short_group_is_reported_and_refilled_or_left(
    ray_session, corpus, naive, tmp_path, capsys
):
    _, labels = naive
    c_rows = int((labels == "c").sum())
    wanted = {"c": c_rows + 7, "elsewhere": 3}
    refilled = select(corpus, tmp_path / "refill", k=c_rows + 40, group_quota=wanted)
    assert refilled["group_quotas"]["short"] == {"c": 7, "elsewhere": 3}
    assert refilled["rows_selected"] == c_rows + 40
    assert refilled["groups"]["selected"]["c"] == c_rows
    assert "no scored row has kind = 'elsewhere'" in capsys.readouterr().err
    page = (tmp_path / "refill" / "report.html").read_text()
    assert "Short of their quota" in page and "went to the other groups" in page
    left = select(
        corpus, tmp_path / "leave", k=c_rows + 40, group_quota=wanted, quota_shortfall="leave"
    )
    assert left["rows_selected"] == c_rows + 40 - 10


def test_reselect_applies_quotas_to_saved_scores(ray_session, corpus, tmp_path):
    select(corpus, tmp_path / "first", k=10, all_scores=True)
    new = {"k": 50, "group_quota": {"prose": 0.5}}
    run_reselect(
        str(tmp_path / "first"), {"out": str(tmp_path / "re"), "group_column": "kind", **new}
    )
    select(corpus, tmp_path / "fresh", **new)
    assert selected_ids(tmp_path / "re") == selected_ids(tmp_path / "fresh")
    with pytest.raises(ZipfitError, match="saved without the groups of 'source'"):
        run_reselect(
            str(tmp_path / "first"),
            {"out": str(tmp_path / "re2"), **new, "group_column": "source"},
        )


def test_the_cli_per_group_names_its_column(ray_session, corpus, naive, tmp_path):
    cli_main(
        ["select", "--pool", str(corpus.pool_dir), "--targets", str(corpus.targets_path),
         "--k", "4", "--per-group", "kind", "--compressor", "lz4", "--decontaminate", "off",
         "--out", str(tmp_path)]
    )  # fmt: skip
    _, labels = naive
    assert len(selected_ids(tmp_path)) == 4 * len(set(labels.tolist()))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 5, "group_quota": "a=0.5"}, "--group-quota: name the groups' column"),
        ({"min_score": 0.1, "per_group": True, "group_column": "g"}, "not with --min-score"),
        ({"k": 5, "group_max": 0.2, "group_column": "g", "dedup": True}, "not with --dedup"),
        ({"k": 5, "per_group": True, "group_max": 0.5, "group_column": "g"}, "not with --group"),
        ({"k": 5, "group_max": 1.5, "group_column": "g"}, r"--group-max: a share in \(0, 1\]"),
        (
            {"k": 5, "group_max": 0.5, "group_column": "g", "mode": "approx-cascade"},
            "only with --mode exact",
        ),
    ],
)
def test_bad_quotas_are_one_line_errors(tmp_path, options, message):
    with pytest.raises(ZipfitError, match=message):
        SelectConfig.from_flags(
            pool=(str(tmp_path / "p"),), targets="t", out=str(tmp_path / "o"), **options
        )
