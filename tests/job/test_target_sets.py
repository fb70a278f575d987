"""Named target sets in one pass, on a real local Ray: the job's mixture against deferred
acceptance over naive scores, one job against single-set jobs, reselect, and the errors."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.naive import naive_alignment
from tests.selection.test_mixture import naive_mixture
from zipfit_ray import SelectConfig, ZipfitError, run_select
from zipfit_ray.cli import main as cli_main
from zipfit_ray.job.select import run_reselect
from zipfit_ray.job.survey import run_estimate
from zipfit_ray.selection import mixture, order
from zipfit_ray.selection.amounts import Amount
from zipfit_ray.selection.tokens import approximate_tokens

LZ4 = {"compressor": "lz4", "decontaminate": "off"}
PROSE = [
    "The committee met on Tuesday to discuss the budget for the coming year.",
    "Rain is expected across the north of the country later this week.",
    "She walked along the river until the lights of the town came into view.",
    "Historians still argue about the causes of the war and its long aftermath.",
]


@pytest.fixture(scope="module")
def sets(corpus, tmp_path_factory):
    """{name: (path, texts)}: the corpus targets split in two, and a few prose lines."""
    root = tmp_path_factory.mktemp("sets")
    found = {}
    for name, texts in (
        ("a", corpus.targets[:3]),
        ("b", corpus.targets[3:]),
        ("prose", [t.encode() for t in PROSE]),
    ):
        path = root / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"text": t.decode()}) + "\n" for t in texts))
        found[name] = (path, texts)
    return found


@pytest.fixture(scope="module")
def naive(corpus, sets):
    """Every non-null row's entry, with its lz4-0 score for each set (row id: its position)."""
    present = [i for i, t in enumerate(corpus.texts) if t is not None]
    texts = [corpus.texts[i] for i in present]
    fields = {
        mixture.score_field(name): np.array([naive_alignment(t, ts, "lz4", 0) for t in texts])
        for name, (_, ts) in sets.items()
    }
    tokens = [approximate_tokens(t) for t in texts]
    return order.with_fields(
        order.entries(np.zeros(len(present)), np.array(present), tokens), fields
    )


def select(corpus, sets, out, names, **options):
    targets = [f"{name}={sets[name][0]}" for name in names]
    return run_select(
        SelectConfig.from_flags(
            pool=(str(corpus.pool_dir),), targets=targets, out=str(out), **{**LZ4, **options}
        )
    )


def read(out):
    return pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read()


def assigned(table) -> dict[int, str]:
    return dict(zip(table.column("id").to_pylist(), table.column("zipfit_target").to_pylist()))


@pytest.mark.parametrize(
    ("rule", "shares"),
    [({"k": 60}, {"a": 0.6, "b": 0.4}), ({"budget_tokens": 4000}, {"a": 0.5, "b": 0.5})],
)
def test_one_pass_selects_what_deferred_acceptance_over_naive_scores_selects(
    ray_session, corpus, sets, naive, tmp_path, rule, shares
):
    names = ["a", "b"]
    runs = []
    for shard_rows in (7, 100_000):
        summary = select(
            corpus, sets, tmp_path / str(shard_rows), names, mix=shares, shard_rows=shard_rows,
            **rule,
        )  # fmt: skip
        runs.append(read(tmp_path / str(shard_rows)))
    assert runs[0].equals(runs[1])  # whatever the shard size
    table = runs[0]
    rules = mixture.set_rules(Amount(**rule), names, shares)
    expected = naive_mixture(naive, names, rules)
    assert assigned(table) == expected
    assert summary["rows_contested"] > 0  # the halves of one set compete: a real test
    assert summary["pair_compressions"] == len(naive) * len(corpus.targets)
    by_id = {int(r): i for i, r in enumerate(naive["row_id"])}
    for row in table.select(["id", "zipfit_target", "zipfit_score", "zipfit_score_a"]).to_pylist():
        field = mixture.score_field(row["zipfit_target"])
        assert abs(row["zipfit_score"] - naive[field][by_id[row["id"]]]) < 1e-12
        assert abs(row["zipfit_score_a"] - naive["score_a"][by_id[row["id"]]]) < 1e-12
    sections = summary["sections"]["target set"]
    for name in names:
        assert sections[name]["rows"] == list(expected.values()).count(name)
        assert summary["target_sets"][name]["rows_selected"] == sections[name]["rows"]
    if "k" in rule:
        assert [sections[n]["rows"] for n in names] == [36, 24]
    else:
        assert all(sections[n]["tokens"] <= 2000 for n in names)


def test_sets_no_row_contests_select_what_one_job_per_set_selects(
    ray_session, corpus, sets, tmp_path
):
    summary = select(corpus, sets, tmp_path / "both", ["a", "prose"], k=8)  # each takes 8
    table = read(tmp_path / "both")
    assert summary["rows_contested"] == 0 and summary["rows_selected"] == 16
    for name in ("a", "prose"):
        run_select(
            SelectConfig.from_flags(
                pool=(str(corpus.pool_dir),), targets=str(sets[name][0]), out=str(tmp_path / name),
                k=8, **LZ4,
            )
        )  # fmt: skip
        alone = read(tmp_path / name)
        mine = [i for i, n in assigned(table).items() if n == name]
        assert mine == alone.column("id").to_pylist()
        assert "zipfit_target" not in alone.column_names  # one unnamed set: as before


def test_a_threshold_takes_every_row_a_set_scores_at_least_it_for(
    ray_session, corpus, sets, naive, tmp_path
):
    threshold = float(np.quantile(naive["score_a"], 0.85))
    summary = select(corpus, sets, tmp_path, ["a", "b"], min_score=threshold)
    cleared = (naive["score_a"] >= threshold) | (naive["score_b"] >= threshold)
    table = read(tmp_path)
    assert sorted(assigned(table)) == sorted(naive["row_id"][cleared].tolist())
    assert min(table.column("zipfit_score").to_pylist()) >= threshold
    assert summary["rows_selected"] == int(cleared.sum())


def test_reselect_a_new_mix_from_saved_scores(ray_session, corpus, sets, tmp_path):
    select(corpus, sets, tmp_path / "first", ["a", "b"], k=10, all_scores=True)
    new = {"k": 30, "mix": {"a": 0.2, "b": 0.8}}
    run_reselect(str(tmp_path / "first"), {"out": str(tmp_path / "re"), **new})
    select(corpus, sets, tmp_path / "fresh", ["a", "b"], **new)
    assert read(tmp_path / "re").equals(read(tmp_path / "fresh"))


def test_the_cli_takes_named_sets_and_a_target_path_with_an_equals_sign(
    ray_session, corpus, sets, tmp_path, capsys
):
    partitioned = tmp_path / "targets" / "lang=en"
    partitioned.mkdir(parents=True)
    (partitioned / "t.jsonl").write_text(sets["a"][0].read_text())
    common = ["select", "--pool", str(corpus.pool_dir), "--k", "5", "--compressor", "lz4"]
    cli_main([*common, "--targets", str(partitioned / "t.jsonl"), "--out", str(tmp_path / "one")])
    cli_main(
        [*common, "--targets", f"a={partitioned / 't.jsonl'}", f"p={sets['prose'][0]}",
         "--mix", "a=0.6,p=0.4", "--out", str(tmp_path / "two")]
    )  # fmt: skip
    assert read(tmp_path / "one").num_rows == 5
    two = read(tmp_path / "two")
    assert sorted(two.column("zipfit_target").to_pylist()) == ["a", "a", "a", "p", "p"]
    assert {"zipfit_score_a", "zipfit_score_p"} <= set(two.column_names)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"targets": ["a=x", "b=y"], "mix": "a=1,c=0.5"}, "--mix: no target set named 'c'"),
        ({"targets": ["a=x", "b=y"], "mode": "approx-early-exit"}, "only with --mode exact"),
        ({"targets": ["a=x", "b=y"], "dedup": True}, "not with --dedup"),
        ({"targets": ["a=x", "b=y"], "temperature": 0.1}, "not with --temperature"),
        ({"targets": ["a=x", "a=y"]}, "'a' is named twice"),
        ({"targets": ["a=x", "b=y"], "mix": "a=0.7,b=0.7"}, "add up to 1.4, not 1"),
        ({"targets": ["x"], "mix": "a=1"}, "--mix: shares of named target sets"),
        (
            {"targets": ["a=x", "b=y"], "mix": "a=0.5,b=0.5", "k": None, "min_score": 0.1},
            "--mix: shares of --k or a token budget; not with --min-score",
        ),
    ],
)
def test_bad_target_sets_are_one_line_errors(tmp_path, options, message):
    with pytest.raises(ZipfitError, match=message):
        SelectConfig.from_flags(
            pool=(str(tmp_path / "pool"),), out=str(tmp_path / "out"), **{"k": 5, **options}
        )


def test_estimate_counts_the_pairs_of_every_set(ray_session, corpus, sets, tmp_path):
    config = SelectConfig.from_flags(
        pool=(str(corpus.pool_dir),), targets=[f"{n}={sets[n][0]}" for n in ("a", "prose")],
        out=str(tmp_path), k=20, **LZ4,
    )  # fmt: skip
    found = run_estimate(config, sample=200, seed=0)
    (exact,) = found["estimates"]  # the approximations take one set only
    summary = run_select(config)
    pairs = exact["pair_compressions"]
    assert pairs["low"] <= summary["pair_compressions"] <= pairs["high"]
    assert summary["pair_compressions"] == (summary["rows_read"] - 3) * 7  # 3 null texts
    assert exact["mode"] == "exact" and exact["threshold"] is None


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"targets": ("a", "b"), "mix": {"a": 0.5, "b": 0.5}},
        {"group_column": "kind", "group_max": 0.4},
    ],
)
def test_a_shard_with_no_scored_rows_changes_no_cut(ray_session, corpus, sets, tmp_path, options):
    """A shard whose texts are all null scores nothing: every cut takes it as empty."""
    pool = tmp_path / "pool"
    shutil.copytree(corpus.pool_dir, pool)
    nulls = (
        pq.read_table(corpus.pool_dir).slice(0, 4).set_column(1, "text", pa.nulls(4, pa.string()))
    )
    pq.write_table(nulls, pool / "zz-nulls.parquet")
    names = options.pop("targets", None)
    targets = [f"{n}={sets[n][0]}" for n in names] if names else str(corpus.targets_path)
    found = []
    for pool_dir, out in ((pool, "with"), (corpus.pool_dir, "without")):
        config = SelectConfig.from_flags(
            pool=(str(pool_dir),), targets=targets, out=str(tmp_path / out), k=30, shard_rows=4,
            **{**LZ4, **options},
        )  # fmt: skip
        run_select(config)
        found.append(read(tmp_path / out).column("id").to_pylist())
    assert found[0] == found[1] and len(found[0]) == 30
