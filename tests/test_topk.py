import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.naive import naive_top_k
from zipfit_ray import topk

# few distinct scores, so ties are common and tie-breaking is exercised
scores_strategy = st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.5000000000000001, -0.0, 0.9]))


@given(scores=scores_strategy, k=st.integers(1, 30))
def test_top_k_is_the_naive_ranking(scores, k):
    items = topk.entries(np.array(scores, dtype=np.float64), np.arange(len(scores)))
    got = topk.top_k(items, k)
    assert got["row_id"].tolist() == naive_top_k(scores, k)


@given(scores=scores_strategy, k=st.integers(1, 30), data=st.data())
def test_any_split_into_shards_merges_to_the_global_top_k(scores, k, data):
    n = len(scores)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=6)))
    order = data.draw(st.permutations(range(len(cuts) + 1)))  # shards finish in any order
    bounds = [0, *cuts, n]
    row_ids = np.arange(n, dtype=np.int64)
    shard_results = [
        topk.top_k(topk.entries(np.array(scores[a:b]), row_ids[a:b]), k)
        for a, b in itertools.pairwise(bounds)
    ]
    # merge in a random order and in a random grouping: results must not care
    shuffled = [shard_results[i] for i in order]
    half = len(shuffled) // 2
    merged = topk.merge([topk.merge(shuffled[:half], k), topk.merge(shuffled[half:], k)], k)
    assert merged["row_id"].tolist() == naive_top_k(scores, k)
    assert merged["score"].tolist() == [scores[i] for i in naive_top_k(scores, k)]


def test_merge_of_nothing_is_empty():
    assert len(topk.merge([], 5)) == 0
