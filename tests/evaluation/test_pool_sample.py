"""The random baseline: a seeded random order over the pool's rows, drawn without reading
the pool (only the rows drawn are fetched), cut to the budget; JSONL files counted."""

import numpy as np
import pytest

from tests.local_cluster import LocalCluster
from zipfit_ray import ZipfitError
from zipfit_ray.evaluation import pool_sample, reading
from zipfit_ray.selection.tokens import TokenCounter


@pytest.mark.parametrize("total", [1, 7, 1000])
def test_a_random_order_draws_every_position_once(total):
    order = pool_sample.RandomOrder(total, seed=3)
    drawn = np.concatenate([order.next(n) for n in (1, 5, 200, 10_000)])
    assert sorted(drawn.tolist()) == list(range(total)) and order.left == 0


def test_the_same_seed_draws_the_same_order_and_another_seed_another():
    def first(seed, sizes=(10, 30, 300)):
        order = pool_sample.RandomOrder(10_000, seed)
        return np.concatenate([order.next(n) for n in sizes])

    assert np.array_equal(first(1), first(1))
    assert not np.array_equal(first(1), first(2))


def sample(pool, budget, seed=0):
    scan = pool_sample.plan((str(pool),), "text", {})
    return pool_sample.sample(LocalCluster(), scan, budget, seed, "text", None)


def test_a_sample_fits_the_budget_from_rows_of_the_pool(toy):
    corpus = sample(toy.pool, 2000)
    counted = TokenCounter().count(corpus.texts)
    assert corpus.tokens == counted.sum() <= 2000 < corpus.available_tokens
    assert {t.decode() for t in corpus.texts} <= set(toy.in_domain + toy.noise)
    assert sample(toy.pool, 2000).texts == corpus.texts
    assert sample(toy.pool, 2000, seed=1).texts != corpus.texts


def test_only_the_rows_drawn_are_read(long_pool, monkeypatch):
    asked = []

    def counting(path, sizes, rows, column, options):
        asked.append(len(rows))
        return original(path, sizes, rows, column, options)

    original = reading.row_texts
    monkeypatch.setattr(reading, "row_texts", counting)
    corpus = sample(long_pool, 500)
    assert corpus.rows < sum(asked) <= pool_sample.FIRST_DRAW + 1 < 1800 / 2


def test_a_mixed_pool_with_jsonl_files_is_sampled_whole_when_it_holds_less(mixed_pool, corpus):
    found = sample(mixed_pool, 10**9)
    assert found.short and sorted(found.texts) == sorted(t for t in corpus.texts if t is not None)


def test_a_pool_without_text_is_an_error(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"text": null}\n\n{"text": null}\n')
    with pytest.raises(ZipfitError, match="--pool: holds no rows with text"):
        sample(tmp_path / "p.jsonl", 100)
