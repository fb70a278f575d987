"""Quotas per group: the job's cuts (job/quotas.py, run in-process over score files) against
a plain walk down the order, on random scores with many ties; and the plan's arithmetic."""

import itertools

import numpy as np
import pytest

from tests.local_cluster import LocalCluster
from zipfit_ray import SelectConfig, ZipfitError
from zipfit_ray.job import quotas as job_quotas
from zipfit_ray.selection import order, quotas
from zipfit_ray.selection.amounts import Amount, parse_amounts
from zipfit_ray.selection.quotas import GroupSize
from zipfit_ray.storage import write_scores

LABELS = ("web", "books", "code", "tiny")


def prefix(rows: np.ndarray, amount: int | None, unit: str) -> set[int]:
    """The row ids of the first rows (best first) up to ``amount`` rows or tokens."""
    if amount is None:
        return set(rows["row_id"].tolist())
    if unit == "k":
        return set(rows["row_id"][:amount].tolist())
    fitting = np.searchsorted(np.cumsum(rows["tokens"]), amount, "right")
    return set(rows["row_id"][:fitting].tolist())


def naive_quotas(entries: np.ndarray, labels: np.ndarray, plan: quotas.Plan) -> set[int]:
    """Each group's floor first; then down the whole order, the rows within their group's
    cap, while what the floors left lasts."""
    ordered = np.lexsort((entries["row_id"], -entries["score"]))
    entries, labels = entries[ordered], labels[ordered]
    floors, caps = set(), set()
    for label in set(labels.tolist()):
        mine = entries[labels == label]
        floors |= prefix(mine, plan.floors.get(label, 0), plan.unit)
        caps |= prefix(mine, plan.caps.get(label), plan.unit)
    selected, left = set(floors), plan.rest
    for row in entries:
        row_id = int(row["row_id"])
        if row_id in floors or row_id not in caps:
            continue
        used = 1 if plan.unit == "k" else int(row["tokens"])
        if used > left:
            break
        selected.add(row_id)
        left -= used
    return selected


def random_pool(rng, rows: int) -> tuple[np.ndarray, np.ndarray]:
    weights = np.array([0.5, 0.3, 0.18, 0.02])
    labels = np.array(LABELS)[rng.choice(4, rows, p=weights)]
    scores = rng.integers(0, 12, rows) / 40 + (labels == "code") * 0.05  # many ties
    entries = order.entries(scores, rng.permutation(rows * 2)[:rows], rng.integers(1, 60, rows))
    keys = quotas.group_keys(labels.tolist())
    return order.with_fields(entries, {quotas.GROUP_FIELD: keys}), labels


CASES = [
    {"k": 120, "group_quota": {"books": 0.4, "tiny": 0.2}},
    {"k": 120, "group_quota": {"code": 50, "tiny": 30}, "quota_shortfall": "leave"},
    {"k": 200, "group_max": 0.3},
    {"k": 90, "group_quota": {"books": 0.3, "web": 0.3}, "group_max": 0.45},
    {"budget_tokens": 5000, "group_quota": {"code": 0.5, "tiny": 0.25}},
    {"budget_tokens": 6000, "group_max": 0.4},
    {"k": 15, "per_group": True},
    {"fraction": 0.1, "per_group": True},
    {"budget_fraction": 0.05, "per_group": True},
    {"fraction": 0.2, "group_quota": {"tiny": 0.5}},
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(map(str, c.items())))
def test_the_jobs_cuts_select_what_walking_the_order_selects(tmp_path, seed, case):
    rng = np.random.default_rng(seed)
    entries, labels = random_pool(rng, 800)
    bounds = [0, *sorted(rng.choice(np.arange(1, 800), 5, replace=False).tolist()), 800]
    saved = [str(tmp_path / "empty.parquet")]  # a shard that scored nothing: the same fields
    write_scores(saved[0], entries[:0], {})
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        saved.append(str(tmp_path / f"{i}.parquet"))
        write_scores(saved[-1], entries[a:b], {})
    config = SelectConfig.from_flags(
        pool=(str(tmp_path / "pool"),), targets="t", out=str(tmp_path / "out"),
        group_column="source", **case,
    )  # fmt: skip
    names = dict(zip(*np.unique(labels, return_counts=True)))
    scored = len(entries), int(entries["tokens"].sum())
    selection, found = job_quotas.cut_groups(LocalCluster(), config, saved, names, scored)
    sizes = {
        label: GroupSize(
            int((labels == label).sum()), int(entries["tokens"][labels == label].sum())
        )
        for label in names
    }
    plan = job_quotas.plan_groups(config, sizes, scored)
    expected = naive_quotas(entries, labels, plan)
    assert set(entries["row_id"][selection.selects(entries)].tolist()) == expected
    assert found.short == plan.short
    chosen = labels[np.isin(entries["row_id"], list(expected))]
    for label, floor in plan.floors.items():  # a floor is met (in rows; tokens: within it)
        if plan.unit == "k":
            assert (chosen == label).sum() >= floor
    for label, cap in plan.caps.items():
        if plan.unit == "k":
            assert (chosen == label).sum() <= cap


def test_a_short_group_is_refilled_or_left():
    sizes = {"a": GroupSize(100, 1000), "b": GroupSize(5, 50)}
    refill = quotas.plan(Amount(k=40), sizes, {"b": 0.5}, None, False, "refill")
    assert (refill.floors, refill.short, refill.rest) == ({"b": 5}, {"b": 15}, 35)
    leave = quotas.plan(Amount(k=40), sizes, {"b": 0.5}, None, False, "leave")
    assert leave.rest == 20
    unknown = quotas.plan(Amount(k=40), sizes, {"c": 3}, 0.5, False)
    assert (unknown.unknown, unknown.short, unknown.caps) == (("c",), {"c": 3}, {"a": 20, "b": 20})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("web=1.5", "VALUE=SHARE"),
        ("web=0", "VALUE=COUNT"),
        ("web", "VALUE=SHARE"),
        ("web=0.2,web=0.3", "'web' is given twice"),
    ],
)
def test_bad_quotas_are_one_line_errors(text, message):
    with pytest.raises(ZipfitError, match=message):
        parse_amounts(text, "--group-quota", "VALUE", True)


def test_quotas_above_the_total_or_the_cap_are_refused():
    sizes = {"a": GroupSize(100, 1000)}
    with pytest.raises(ZipfitError, match="add up to 50, more than the rule's 40"):
        quotas.plan(Amount(k=40), sizes, {"a": 50}, None, False)
    with pytest.raises(ZipfitError, match="'a''s quota is above --group-max"):
        quotas.plan(Amount(k=40), sizes, {"a": 0.5}, 0.25, False)
    assert parse_amounts("lang=en=0.5,b=3", "--group-quota", "VALUE", True) == {
        "lang=en": 0.5,
        "b": 3,
    }  # the last '=' splits
