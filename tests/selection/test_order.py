import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.naive import naive_top_k
from zipfit_ray.selection import order

# few distinct scores, so ties are common and tie-breaking is exercised
scores_strategy = st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.5000000000000001, -0.0, 0.9]))


@given(scores=scores_strategy, k=st.integers(1, 30))
def test_best_first_is_the_naive_ranking(scores, k):
    items = order.entries(np.array(scores, dtype=np.float64), np.arange(len(scores)))
    got = order.best_first(items)[:k]
    assert got["row_id"].tolist() == naive_top_k(scores, k)


def test_concatenating_nothing_is_empty():
    assert len(order.concatenate([])) == 0 and order.concatenate([]).dtype == order.ENTRY
