"""Selecting by token budget and by threshold, tokenizers, saved scores and reselect,
dataset comparison: on a real local Ray, against plain loops."""

import json
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from tests.naive import naive_alignment
from zipfit_ray import SelectConfig, ZipfitError, run_select
from zipfit_ray.cli import main as cli_main
from zipfit_ray.job.select import run_reselect
from zipfit_ray.job.survey import run_compare
from zipfit_ray.kernel.backends import DEFAULT_COMPRESSOR
from zipfit_ray.selection import rules
from zipfit_ray.selection.amounts import Amount
from zipfit_ray.selection.rules.base import Rule
from zipfit_ray.selection.tokens import approximate_tokens

LZ4 = {"compressor": "lz4"}


@pytest.fixture(scope="module")
def naive_scores(corpus):
    """{pool position: lz4-0 alignment} of every non-null row."""
    return {
        i: naive_alignment(t, corpus.targets, "lz4", 0)
        for i, t in enumerate(corpus.texts)
        if t is not None
    }


def ranked(scores):
    return sorted(scores, key=lambda i: (-scores[i], i))


def select(corpus, out, **options):
    return run_select(
        SelectConfig.from_flags(
            pool=(str(corpus.pool_dir),),
            targets=str(corpus.targets_path),
            out=str(out),
            **{**LZ4, **options},
        )
    )


def read(out):
    return pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read()


def test_budget_keeps_the_best_rows_while_their_tokens_fit(
    ray_session, corpus, naive_scores, tmp_path
):
    summary = select(corpus, tmp_path, budget_tokens=3000)
    expected, used = [], 0
    for i in ranked(naive_scores):
        tokens = approximate_tokens(corpus.texts[i])
        if used + tokens > 3000:
            break
        expected.append(i)
        used += tokens
    assert read(tmp_path).column("id").to_pylist() == sorted(expected)  # pool order
    assert summary["tokens_selected"] == used and summary["rule"] == "--budget-tokens 3000"


def test_threshold_keeps_every_row_at_or_above_it_in_pool_order(
    ray_session, corpus, naive_scores, tmp_path
):
    threshold = float(np.quantile(list(naive_scores.values()), 0.8))
    runs = []
    for shard_rows in (1, 100_000):
        summary = select(
            corpus, tmp_path / str(shard_rows), min_score=threshold, shard_rows=shard_rows
        )
        runs.append(read(tmp_path / str(shard_rows)))
    expected = sorted(i for i, s in naive_scores.items() if s >= threshold - 1e-12)
    assert runs[0].column("id").to_pylist() == expected  # pool order
    assert runs[0].equals(runs[1])  # whatever the shard size
    assert min(runs[0].column("zipfit_score").to_pylist()) >= threshold
    assert summary["rows_selected"] == len(expected)
    assert summary["parts"] == ["part-shard-0000000-000000-0000003-000002.parquet"]


def test_a_tokenizer_json_counts_the_budget(ray_session, corpus, tmp_path):
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["[UNK]"])
    tokenizer.train_from_iterator([t.decode() for t in corpus.texts if t], trainer)
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    summary = select(
        corpus, tmp_path / "out", budget_tokens=5000, tokenizer=str(tmp_path / "tokenizer.json")
    )
    texts = read(tmp_path / "out").column("text").to_pylist()
    counted = sum(len(tokenizer.encode(t, add_special_tokens=False).ids) for t in texts)
    assert summary["tokens_selected"] == counted <= 5000
    assert counted != sum(approximate_tokens(t.encode()) for t in texts)


def test_a_bad_tokenizer_is_a_user_error(corpus, tmp_path):
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ZipfitError, match=r"--tokenizer: not a tokenizer\.json file"):
        select(
            corpus, tmp_path / "out", budget_tokens=10, tokenizer=str(tmp_path / "tokenizer.json")
        )


def test_saved_scores_reselect_like_a_fresh_selection(ray_session, corpus, naive_scores, tmp_path):
    select(corpus, tmp_path / "first", k=10, all_scores=True)
    saved = pq.ParquetDataset(sorted((tmp_path / "first" / "scores").glob("*.parquet"))).read()
    assert saved.num_rows == len(naive_scores)
    # and each row's scores by the two halves of the targets (analysis/target_set.py)
    assert saved.column_names == [
        *("score", "row_id", "tokens", "length", "half_a", "half_b", "nearest_target")
    ]
    for rule in ({"k": 30}, {"budget_tokens": 2500}, {"min_score": 0.2}):
        run_reselect(str(tmp_path / "first"), {"out": str(tmp_path / "re"), **rule})
        select(corpus, tmp_path / "fresh", **rule)
        assert read(tmp_path / "re").equals(read(tmp_path / "fresh"))
        for out in ("re", "fresh"):
            for path in (tmp_path / out).iterdir():
                path.unlink()


def test_reselect_keeps_the_compressor_and_joint_it_scored_with(
    ray_session, corpus, tmp_path, capfd
):
    conditional = {"compressor": "zstd", "joint": "conditional"}
    select(corpus, tmp_path / "first", k=10, all_scores=True, **conditional)
    capfd.readouterr()
    summary = run_reselect(str(tmp_path / "first"), {"out": str(tmp_path / "re"), "k": 15})
    shards = summary["shards_total"]
    assert f"score: {shards}/{shards} shards" in capfd.readouterr().err  # not "357/0 rows"
    assert summary["compressor"]["joint"] == "conditional"
    select(corpus, tmp_path / "fresh", k=15, **conditional)
    assert read(tmp_path / "re").equals(read(tmp_path / "fresh"))


def test_reselect_refuses_a_changed_pool_or_missing_scores(ray_session, corpus, tmp_path):
    with pytest.raises(ZipfitError, match="holds no saved scores"):
        run_reselect(str(tmp_path / "first"), {"out": str(tmp_path / "re"), "k": 3})


def test_groups_are_counted_in_the_pool_and_the_selection(ray_session, corpus, tmp_path):
    summary = select(corpus, tmp_path, k=40, group_column="kind")
    table = read(tmp_path)
    kinds = table.column("kind").to_pylist()
    assert summary["groups"]["selected"] == {k: kinds.count(k) for k in set(kinds)}
    assert sum(summary["groups"]["pool"].values()) == len(corpus.texts) - 3
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["groups"] == summary["groups"]


def test_compare_datasets_ranks_code_above_prose_for_code_targets(
    ray_session, sample_tables, corpus, tmp_path
):
    pool = sample_tables[0]
    for kind in ("python", "prose"):
        rows = pool.filter(pool.column("kind").to_numpy(zero_copy_only=False) == kind)
        pq.write_table(rows, tmp_path / f"{kind}.parquet", row_group_size=25)
    datasets = [str(tmp_path / "prose.parquet"), str(tmp_path / "python.parquet")]
    results = run_compare(datasets, str(corpus.targets_path), sample=60, seed=3)
    by_name = {r["dataset"]: r for r in results}
    python, prose = by_name[datasets[1]], by_name[datasets[0]]
    assert python["alignment"] > prose["alignment"]
    assert python["ci95_low"] < python["alignment"] < python["ci95_high"]
    assert python["rows_scored"] == 60 or python["rows_sampled"] < 60
    assert run_compare(datasets, str(corpus.targets_path), sample=60, seed=3) == results

    code = cli_main(
        [
            "compare-datasets",
            "--datasets",
            *datasets,
            "--targets",
            str(corpus.targets_path),
            "--sample",
            "60",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "compare.json"),
        ]
    )
    assert code == 0
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert saved["datasets"] == results
    assert saved["compressor"]["compressor"] == DEFAULT_COMPRESSOR


@pytest.mark.parametrize("compressor", ["gzip", "deflate-fixed", "zlib-ng:deflate", "zstd"])
def test_compare_datasets_with_other_backends(
    ray_session, sample_tables, corpus, tmp_path, compressor
):
    pool = sample_tables[0]
    for kind in ("python", "prose"):
        rows = pool.filter(pool.column("kind").to_numpy(zero_copy_only=False) == kind)
        pq.write_table(rows.slice(0, 200), tmp_path / f"{kind}.parquet")
    datasets = [str(tmp_path / "prose.parquet"), str(tmp_path / "python.parquet")]
    results = run_compare(datasets, str(corpus.targets_path), sample=40, compressor=compressor)
    assert results[1]["alignment"] > results[0]["alignment"]


def test_fractions_are_the_count_or_budget_they_come_to(ray_session, corpus, tmp_path):
    """--fraction F is --k floor(F x rows scored); --budget-fraction F is --budget-tokens
    floor(F x their tokens); reselect takes them too."""
    select(corpus, tmp_path / "all", k=1, all_scores=True, decontaminate="off")
    saved = pq.ParquetDataset(sorted((tmp_path / "all" / "scores").glob("*.parquet"))).read()
    rows, tokens = saved.num_rows, sum(saved.column("tokens").to_pylist())
    same = [
        ({"fraction": 0.15}, {"k": int(0.15 * rows)}),
        ({"budget_fraction": 0.2}, {"budget_tokens": int(0.2 * tokens)}),
    ]
    for share, count in same:
        summary = select(corpus, tmp_path / "share", decontaminate="off", **share)
        select(corpus, tmp_path / "count", decontaminate="off", **count)
        assert read(tmp_path / "share").equals(read(tmp_path / "count"))
        flag = "--fraction" if "fraction" in share else "--budget-fraction"
        assert summary["rule"] == f"{flag} {next(iter(share.values()))}"
        run_reselect(str(tmp_path / "all"), {"out": str(tmp_path / "re"), **share})
        assert read(tmp_path / "re").equals(read(tmp_path / "count"))
        for out in ("share", "count", "re"):
            for path in (tmp_path / out).iterdir():
                path.unlink()
    assert summary["rows_selected"] > 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fraction": 0}, r"--fraction: a share in \(0, 1\], got 0"),
        ({"budget_fraction": 1.5}, r"--budget-fraction: a share in \(0, 1\], got 1.5"),
        ({"fraction": 0.1, "k": 5}, r"exactly one selection rule: .* \(got --k, --fraction\)"),
        ({"fraction": 0.1, "mode": "approx-early-exit"}, r"select with --k or --min-score"),
    ],
)
def test_bad_fractions_are_refused(corpus, tmp_path, options, message):
    with pytest.raises(ZipfitError, match=message):
        SelectConfig.from_flags(
            pool=(str(corpus.pool_dir),), targets="t", out=str(tmp_path), **options
        )


@dataclass(frozen=True)
class HalfOfK(Rule):
    """A toy rule, defined here alone: --half-of-k N selects the N // 2 best rows."""

    name = "half_of_k"
    flag = "--half-of-k"
    metavar = "N"
    value_type = int
    help = "select the N // 2 best rows"
    value: int

    def resolved(self, rows: int, tokens: int) -> Amount:
        return Amount(k=self.value // 2)


def test_a_rule_is_one_class_and_its_registration(ray_session, corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(rules.RULES, HalfOfK.name, HalfOfK)
    assert not cli_main(  # the CLI grows its flag; the plan, the fingerprint, reselect carry it
        ["select", "--pool", str(corpus.pool_dir), "--targets", str(corpus.targets_path),
         "--half-of-k", "30", "--compressor", "lz4", "--all-scores", "--out", str(tmp_path / "a")]
    )  # fmt: skip
    select(corpus, tmp_path / "k", k=15)
    assert read(tmp_path / "a").equals(read(tmp_path / "k"))
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["rule"] == "--half-of-k 30" and summary["arguments"]["half_of_k"] == 30
    run_reselect(str(tmp_path / "a"), {"out": str(tmp_path / "re"), "half_of_k": 20})
    select(corpus, tmp_path / "k10", k=10)
    assert read(tmp_path / "re").equals(read(tmp_path / "k10"))
