"""Named target sets: the job's cuts (job/target_sets.py, run in-process over score files)
against deferred acceptance written out row by row, on random scores with many ties; and
the flags' rules."""

import numpy as np
import pytest

from tests.local_cluster import LocalCluster
from zipfit_ray import SelectConfig, ZipfitError
from zipfit_ray.job import target_sets
from zipfit_ray.selection import histograms, mixture, order
from zipfit_ray.selection.amounts import Amount, parse_amounts
from zipfit_ray.storage import write_scores
from zipfit_ray.storage.targets import parse_target_sets


def naive_mixture(entries: np.ndarray, names: list[str], rules: list[Amount]) -> dict:
    """{row id: set name}: sets propose down their orders one row at a time; a row holds the
    proposal of the set where it ranks higher (the first set on a tie) and drops the other."""
    fields = [mixture.score_field(n) for n in names]
    ranks = [mixture.rank_shares(entries[f], histograms.histogram(entries[f])) for f in fields]
    orders = [np.lexsort((entries["row_id"], -entries[f])) for f in fields]
    holder = np.full(len(entries), -1)
    rows, tokens, pointer = [0] * len(names), [0] * len(names), [0] * len(names)
    proposing = True
    while proposing:
        proposing = False
        for s, rule in enumerate(rules):
            while pointer[s] < len(entries):
                x = orders[s][pointer[s]]
                if rule.k is not None and rows[s] >= rule.k:
                    break
                held = holder[x]
                if held != -1 and (ranks[held][x], held) <= (ranks[s][x], s):
                    pointer[s] += 1  # the row stays with the set where it ranks higher
                    continue
                if rule.budget_tokens is not None and (
                    tokens[s] + entries["tokens"][x] > rule.budget_tokens
                ):
                    break
                pointer[s] += 1
                proposing = True
                if held != -1:
                    rows[held] -= 1
                    tokens[held] -= entries["tokens"][x]
                holder[x] = s
                rows[s] += 1
                tokens[s] += entries["tokens"][x]
    return {int(entries["row_id"][x]): names[h] for x, h in enumerate(holder) if h != -1}


def settled_mixture(tmp_path, shards: list[np.ndarray], names: list[str], **rule) -> tuple:
    """({row id: set name}, rounds): the job's cuts (job/target_sets.py) over score files,
    run in this process."""
    saved = []  # and a shard that scored nothing, saved with the same fields
    for i, shard in enumerate([*shards, shards[0][:0]]):
        saved.append(str(tmp_path / f"{i}.parquet"))
        write_scores(saved[-1], shard, {})
    config = SelectConfig.from_flags(
        pool=(str(tmp_path / "pool"),), targets=[f"{n}=t" for n in names],
        out=str(tmp_path / "out"), **rule,
    )  # fmt: skip
    every = order.concatenate(shards)
    scored = len(every), int(every["tokens"].sum())
    found, counts = target_sets.cut_sets(LocalCluster(), config, saved, scored)
    chosen = found.assign(every)
    assigned = {int(r): names[s] for r, s in zip(every["row_id"], chosen) if s >= 0}
    return assigned, counts["target_set_rounds"]


def random_entries(rng, rows: int, sets: int, levels: int) -> np.ndarray:
    """Scores drawn from few values (many ties), the sets' scores correlated."""
    base = rng.integers(0, levels, rows)
    fields = {
        mixture.score_field(f"s{i}"): (base + rng.integers(0, levels // 2 + 1, rows)) / (2 * levels)
        for i in range(sets)
    }
    row_ids = rng.permutation(rows * 3)[:rows].astype(np.int64)
    entries = order.entries(
        np.zeros(rows), row_ids, rng.integers(1, 50, rows), rng.integers(1, 900, rows)
    )
    return order.with_fields(entries, fields)


def shards_of(entries: np.ndarray, rng) -> list[np.ndarray]:
    cuts = np.sort(rng.choice(np.arange(1, len(entries)), size=4, replace=False))
    return np.split(entries, cuts)


@pytest.mark.parametrize("seed", range(12))
def test_settled_cutoffs_equal_deferred_acceptance(tmp_path, seed):
    rng = np.random.default_rng(seed)
    sets = 2 + seed % 3
    entries = random_entries(rng, 600, sets, levels=4 + seed)
    names = [f"s{i}" for i in range(sets)]
    if seed % 2:
        rule = {"k": int(rng.integers(50, 400))}
    else:
        rule = {"budget_tokens": int(rng.integers(500, 9000))}
    shares = dict(zip(names, rng.dirichlet(np.ones(sets)).tolist())) if seed % 4 < 2 else None
    if shares is not None:
        shares[names[-1]] = 1 - sum(list(shares.values())[:-1])
    rules = mixture.set_rules(Amount(**rule), names, shares)
    expected = naive_mixture(entries, names, rules)
    found, rounds = settled_mixture(tmp_path, shards_of(entries, rng), names, mix=shares, **rule)
    assert found == expected
    assert rounds >= 2
    for name, rule in zip(names, rules):
        mine = [r for r, n in found.items() if n == name]
        if rule.k is not None:
            assert len(mine) <= rule.k
        else:
            tokens = dict(zip(entries["row_id"].tolist(), entries["tokens"].tolist()))
            assert sum(tokens[r] for r in mine) <= rule.budget_tokens


def test_a_contested_row_goes_where_it_ranks_higher_and_the_other_set_takes_its_next_best(
    tmp_path,
):
    # row 0 is the best for both, with the same score: its rank shares tie, so it goes to
    # a, the set named first, and b takes its next best, row 2
    scores_a = np.array([0.9, 0.5, 0.4, 0.3])
    scores_b = np.array([0.9, 0.2, 0.8, 0.1])
    entries = order.with_fields(
        order.entries(np.zeros(4), np.arange(4)),
        {"score_a": scores_a, "score_b": scores_b},
    )
    rules = [Amount(k=1), Amount(k=1)]
    assert naive_mixture(entries, ["a", "b"], rules) == {0: "a", 2: "b"}
    found = settled_mixture(tmp_path / "1", [entries[:2], entries[2:]], ["a", "b"], k=1)
    assert found[0] == {0: "a", 2: "b"}
    # row 0 is 2nd in a but 1st in b: b keeps it, and a takes its 3rd best, row 2
    entries["score_a"] = [0.8, 0.9, 0.5, 0.3]
    rules = [Amount(k=2), Amount(k=1)]
    assert naive_mixture(entries, ["a", "b"], rules) == {0: "b", 1: "a", 2: "a"}
    found = settled_mixture(tmp_path / "2", [entries], ["a", "b"], k=3, mix={"a": 0.6, "b": 0.4})
    assert found[0] == {0: "b", 1: "a", 2: "a"}


def test_rank_shares_are_the_rows_ahead_read_off_the_histogram():
    scores = np.random.default_rng(0).uniform(0, 0.8, 5000)
    shares = mixture.rank_shares(scores, histograms.histogram(scores))
    exact = (np.argsort(np.argsort(-scores)) + 0.5) / len(scores)
    assert np.abs(shares - exact).max() < 0.01  # within a bin's share of the rows
    assert (np.diff(shares[np.argsort(scores)]) <= 0).all()  # a higher score ranks higher


def test_set_rules_split_the_rule_by_largest_remainder():
    rules = mixture.set_rules(Amount(k=10), ["a", "b", "c"], {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert [r.k for r in rules] == [4, 3, 3]
    rules = mixture.set_rules(Amount(budget_tokens=1000), ["a", "b"], {"a": 0.6, "b": 0.4})
    assert [r.budget_tokens for r in rules] == [600, 400]
    assert mixture.set_rules(Amount(k=7), ["a", "b"], None) == [Amount(k=7)] * 2
    rules = mixture.set_rules(Amount(k=100), list("abc"), {"a": 0.29, "b": 0.57, "c": 0.14})
    assert [r.k for r in rules] == [29, 57, 14]  # not 28 + 56 + 14 from 0.29 * 100 rounding
    with pytest.raises(ZipfitError, match="b's share of --k 2 comes to nothing"):
        mixture.set_rules(Amount(k=2), ["a", "b"], {"a": 0.9, "b": 0.1})


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ("a=0.5,b=0.4", "add up to 0.9, not 1"),
        ("a=0.5,a=0.5", "'a' is given twice"),
        ("a=0.5,c=0.5", "no target set named 'c'"),
        ("a=1", "missing: b"),
        ("a=x,b=0.5", "NAME=SHARE"),
    ],
)
def test_bad_mixes_are_one_line_errors(mix, message):
    with pytest.raises(ZipfitError, match=message):
        mixture.check_shares(parse_amounts(mix, "--mix", "NAME", False), ["a", "b"])


def test_a_name_is_told_from_a_path():
    assert parse_target_sets(["t.jsonl"]) is None
    assert parse_target_sets(["targets/lang=en/part-0.parquet"]) is None
    assert parse_target_sets(["s3://b/lang=en/x.jsonl"]) is None
    assert parse_target_sets(["./lang=en/x.jsonl"]) is None
    assert parse_target_sets(["code=a.jsonl", "math=lang=en/b.jsonl"]) == {
        "code": "a.jsonl",
        "math": "lang=en/b.jsonl",
    }
    with pytest.raises(ZipfitError, match="'code' is named twice"):
        parse_target_sets(["code=a.jsonl", "code=b.jsonl"])
    with pytest.raises(ZipfitError, match="name every set"):
        parse_target_sets(["code=a.jsonl", "b.jsonl"])
    with pytest.raises(ZipfitError, match="no URI after code="):
        parse_target_sets(["code="])
