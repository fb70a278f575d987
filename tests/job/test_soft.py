"""--temperature: Gumbel top-k on score / T, the noise drawn from (seed, row id). The rows
are the naive top k of the keys whatever the shards, the written score stays the exact
alignment with the key beside it, reselect draws anew for another seed, and T = 0 is the
hard cut."""

import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from zipfit_ray import SelectConfig, ZipfitError, run_select
from zipfit_ray.job.select import run_reselect
from zipfit_ray.selection import order
from zipfit_ray.storage import pack_row_id


def test_the_noise_is_standard_gumbel_and_fixed_by_seed_and_row():
    rows = np.arange(200_000, dtype=np.int64) * 7 + (3 << 40)
    noise = order.gumbel(rows, seed=5)
    assert noise.mean() == pytest.approx(0.5772, abs=0.01)  # the Euler-Mascheroni constant
    assert noise.std() == pytest.approx(math.pi / math.sqrt(6), abs=0.01)
    assert order.gumbel(rows[::-1], seed=5).tolist() == noise[::-1].tolist()  # by row, not place
    assert not np.array_equal(order.gumbel(rows, seed=6), noise)
    entries = order.entries(np.linspace(0, 1, 10), rows[:10])
    key = order.SoftKey(0.5, 5)
    assert key.of(entries).tolist() == (entries["score"] / 0.5 + noise[:10]).tolist()


def ids_by_row(pool) -> dict[int, int]:
    found = {}
    for file_index, path in enumerate(sorted(pool.glob("*.parquet"))):
        for row, id_ in enumerate(pq.read_table(path, columns=["id"])["id"].to_pylist()):
            found[int(pack_row_id(file_index, row))] = id_
    return found


def naive(saved, ids, k, temperature, seed) -> list[tuple[int, float, float]]:
    """(id, score, key) of the k best keys, ties by row id, in pool order."""
    scores, rows = np.array(saved["score"]), np.array(saved["row_id"])
    keys = scores / temperature + order.gumbel(rows, seed)
    best = sorted(range(len(rows)), key=lambda i: (-keys[i], rows[i]))[:k]
    return [(ids[int(rows[i])], scores[i], keys[i]) for i in sorted(best, key=lambda i: rows[i])]


def selected(out) -> list[tuple[int, float, float]]:
    table = pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read()
    return list(zip(table["id"].to_pylist(), table["zipfit_score"].to_pylist(),
                    table["zipfit_key"].to_pylist()))  # fmt: skip


@pytest.mark.parametrize("shard_rows", [None, 13])
def test_soft_selection_is_the_top_k_of_the_keys(ray_session, corpus, tmp_path, shard_rows):
    common = dict(pool=(str(corpus.pool_dir),), targets=str(corpus.targets_path),
                  decontaminate="off", shard_rows=shard_rows)  # fmt: skip
    run_select(SelectConfig.from_flags(out=str(tmp_path / "all"), k=1, all_scores=True, **common))
    saved = pq.ParquetDataset(sorted((tmp_path / "all" / "scores").glob("*.parquet"))).read()
    ids = ids_by_row(corpus.pool_dir)
    soft = dict(k=40, temperature=0.005, noise_seed=11)
    run_select(SelectConfig.from_flags(out=str(tmp_path / "soft"), **soft, **common))
    expected = naive(saved, ids, 40, 0.005, 11)
    assert selected(tmp_path / "soft") == expected
    hard = {i for i, _, _ in naive(saved, ids, 40, 1e-12, 11)}
    assert {i for i, _, _ in expected} != hard  # the noise mattered
    summary = run_reselect(
        str(tmp_path / "all"),
        {"out": str(tmp_path / "re"), "k": 40, "temperature": 0.005, "noise_seed": 12},
    )
    assert selected(tmp_path / "re") == naive(saved, ids, 40, 0.005, 12)
    assert summary["arguments"]["noise_seed"] == 12


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 5, "temperature": -1}, r"--temperature: a number >= 0"),
        ({"min_score": 0.1, "temperature": 0.1}, r"--temperature: .* not with --min-score"),
        ({"k": 5, "temperature": 0.1, "dedup": True}, r"--temperature: .* not with --dedup"),
        ({"k": 5, "temperature": 0.1, "mode": "approx-early-exit"}, r"only with --mode exact"),
    ],
)
def test_bad_temperatures_are_refused(corpus, tmp_path, options, message):
    with pytest.raises(ZipfitError, match=message):
        SelectConfig.from_flags(
            pool=(str(corpus.pool_dir),), targets="t", out=str(tmp_path), **options
        )
