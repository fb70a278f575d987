"""The exact cut from histograms and gathered boundary windows, against a plain sort."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zipfit_ray.selection import cut, histograms, order
from zipfit_ray.selection.amounts import Amount


def naive_selection(entries: np.ndarray, rule: Amount) -> set[int]:
    ordered = order.best_first(entries)
    if rule.k is not None:
        return set(ordered["row_id"][: rule.k].tolist())
    fitting = np.searchsorted(np.cumsum(ordered["tokens"]), rule.budget_tokens, "right")
    return set(ordered["row_id"][:fitting].tolist())


def cut_selection(shards: list[np.ndarray], rule: Amount) -> tuple[set[int], list]:
    """The boundary found as the job finds it, with every request the shards answered."""
    requests = []
    everything = order.concatenate(shards)
    bins = np.digitize(
        np.clip(everything["score"], histograms.BIN_EDGES[0], histograms.BIN_EDGES[-1]),
        histograms.BIN_EDGES[1:-1],
    )
    rows = np.bincount(bins, minlength=len(histograms.BIN_EDGES) - 1)
    tokens = np.bincount(bins, weights=everything["tokens"], minlength=len(rows)).astype(np.int64)
    assert (rows == histograms.histogram(everything["score"])).all()

    def count_windows(windows):
        requests.append(("count", len(windows)))
        counted = [cut.count(shard, windows) for shard in shards]
        total = counted[0]
        for more in counted[1:]:
            total = cut.add(total, more)
        return total

    def gather(window):
        found = order.concatenate(shard[window.holds(shard)] for shard in shards)
        requests.append(("gather", len(found)))
        return found

    boundary = cut.find(rule, rows, tokens, count_windows, gather)
    return set(everything["row_id"][boundary.selects(everything)].tolist()), requests


def pool(scores, tokens, shards: int) -> list[np.ndarray]:
    row_ids = np.arange(len(scores)) * 7919 + (1 << 50)  # row ids past 2**53 / 2**3
    entries = order.entries(np.array(scores, dtype=float), row_ids, np.array(tokens))
    return np.array_split(entries, shards)


@settings(max_examples=150, deadline=None)
@given(
    scores=st.lists(
        st.sampled_from([0.1, 0.1000001, 0.25, 0.5, 2.0, -1.0, 0.3]), min_size=1, max_size=60
    ),
    shards=st.integers(1, 5),
    k=st.integers(1, 70),
    budget=st.integers(1, 400),
    limit=st.integers(1, 8),
    sub_bins=st.integers(2, 6),
)
def test_the_cut_is_the_naive_prefix_with_ties_and_refinement(
    scores, shards, k, budget, limit, sub_bins
):
    tokens = [(i * 37) % 23 + 1 for i in range(len(scores))]
    entries = pool(scores, tokens, shards)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cut, "GATHER_LIMIT", limit)
        patch.setattr(cut, "SUB_BINS", sub_bins)
        for rule in (Amount(k=k), Amount(budget_tokens=budget)):
            got, requests = cut_selection(entries, rule)
            assert got == naive_selection(order.concatenate(entries), rule)
            assert all(n <= limit for kind, n in requests if kind == "gather")


def test_a_large_tie_is_split_by_row_id_and_only_a_bounded_boundary_is_gathered(monkeypatch):
    monkeypatch.setattr(cut, "GATHER_LIMIT", 50)
    scores = [0.5] * 5000 + [0.7] * 30 + [0.1] * 100
    entries = pool(scores, [1] * len(scores), shards=7)
    got, requests = cut_selection(entries, Amount(k=2000))
    assert got == naive_selection(order.concatenate(entries), Amount(k=2000))
    assert max(n for kind, n in requests if kind == "gather") <= 50
    assert sum(kind == "count" for kind, _ in requests) >= 2  # refined, by score then row id


def test_everything_fits():
    entries = pool([0.2, 0.4], [5, 5], shards=2)
    assert cut_selection(entries, Amount(k=10))[0] == {1 << 50, 7919 + (1 << 50)}
    assert cut_selection(entries, Amount(budget_tokens=10))[0] == {1 << 50, 7919 + (1 << 50)}
    assert cut_selection(entries, Amount(budget_tokens=4))[0] == set()


def test_a_threshold_is_a_boundary_at_its_score():
    (entries,) = pool([0.1, 0.3, 0.3, 0.5], [1] * 4, shards=1)
    selected = cut.at_least(0.3).selects(entries)
    assert selected.tolist() == [False, True, True, True]


def test_budget_stops_at_the_first_row_that_does_not_fit():
    entries = pool([0.9, 0.8, 0.7], [4, 7, 1], shards=2)
    got, _ = cut_selection(entries, Amount(budget_tokens=10))
    assert got == {1 << 50}  # not rows 0 and 2: rows are taken in score order


def test_many_searches_in_lockstep_give_each_ones_boundary(monkeypatch):
    """find_each: one round of requests for every key, the same boundaries as one find per
    key, and no round gathering more than GATHER_LIMIT rows (but for a single window)."""
    monkeypatch.setattr(cut, "GATHER_LIMIT", 40)
    rng = np.random.default_rng(3)
    orders = {key: pool(rng.random(120).round(2), rng.integers(1, 9, 120), 3) for key in "abcd"}
    rules = {"a": Amount(k=5), "b": Amount(k=90), "c": Amount(budget_tokens=60), "d": Amount(k=1)}
    rounds = []

    def histogram(shards):
        everything = order.concatenate(shards)
        return histograms.rows_and_tokens(everything)

    def count_each(asked):
        rounds.append(("count", sorted(asked)))
        found = {}
        for key, windows in asked.items():
            counted = [cut.count(shard, windows) for shard in orders[key]]
            found[key] = counted[0]
            for more in counted[1:]:
                found[key] = cut.add(found[key], more)
        return found

    def gather_each(asked):
        found = {
            key: order.concatenate(s[window.holds(s)] for s in orders[key])
            for key, window in asked.items()
        }
        rounds.append(("gather", sum(len(f) for f in found.values()), len(found)))
        return found

    searches = {k: cut.search(rules[k], *histogram(orders[k])) for k in orders}
    found = cut.find_each(searches, count_each, gather_each)
    for key, shards in orders.items():
        everything = order.concatenate(shards)
        chosen = set(everything["row_id"][found[key].selects(everything)].tolist())
        assert chosen == naive_selection(everything, rules[key]), key
    gathered = [r for r in rounds if r[0] == "gather"]
    assert all(rows <= 40 or windows == 1 for _, rows, windows in gathered)
    assert len(gathered) < sum(1 for _ in orders) + 4  # shared rounds, not one pass per key
