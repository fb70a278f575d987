"""The contamination guard in a job: planted target and benchmark items are dropped before
the cut (the selection still has K rows), flagged, or let through, and listed."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zipfit_ray import SelectConfig, ZipfitError, run_select
from zipfit_ray.job.select import run_reselect


@pytest.fixture
def planted(tmp_path, corpus):
    """The corpus's pool plus a file with a target copied, a target inside another text, an
    item of an eval set and the short second half of another; that eval set's file."""
    pool = tmp_path / "pool"
    pool.mkdir()
    for path in sorted(corpus.pool_dir.glob("*.parquet")):
        (pool / path.name).write_bytes(path.read_bytes())
    bench = [
        b"def count_vowels(text):\n    return sum(1 for ch in text.lower() if ch in 'aeiou')\n",
        b"def count_distinct(string):\n    'How many distinct characters, whatever the case'\n"
        b"    >>> count_distinct('Jerry Lee')\n    6\n    return len(set(string.lower()))\n",
    ]
    texts = [
        corpus.targets[0],
        b"# a module\nimport os\n\n" + corpus.targets[1] + b"\n\nprint(os.getcwd())\n",
        b"x = 1\n" + bench[0],
        b"\n".join(bench[1].splitlines()[2:]),  # 9 words: most of the row is the item
    ]
    rows = {"id": [1000, 1001, 1002, 1003], "text": [t.decode() for t in texts],
            "kind": ["python"] * 4, "source": ["planted"] * 4}  # fmt: skip
    pq.write_table(pa.table(rows), pool / "part-9.parquet")
    lines = "".join(json.dumps({"text": item.decode()}) + "\n" for item in bench)
    (tmp_path / "bench.jsonl").write_text(lines)
    return pool, tmp_path / "bench.jsonl"


def select(corpus, planted, out, **options):
    pool, bench = planted
    config = SelectConfig.from_flags(
        pool=(str(pool),),
        targets=str(corpus.targets_path),
        out=str(out),
        k=20,
        eval_sets=(str(bench),),
        **options,
    )
    summary = run_select(config)
    ids = pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read().column("id").to_pylist()
    return summary, ids


def contaminated(out) -> list[dict]:
    folder = out / "contaminated"
    if not folder.exists():
        return []
    return sorted(
        pq.ParquetDataset(sorted(folder.glob("*.parquet"))).read().to_pylist(),
        key=lambda r: r["zipfit_position"] if "zipfit_position" in r else r["row_id"],
    )


def test_planted_items_never_take_a_place_in_the_selection(ray_session, corpus, planted, tmp_path):
    summary, ids = select(corpus, planted, tmp_path / "drop")
    assert len(ids) == 20 and not {1000, 1001, 1002, 1003} & set(ids)
    assert summary["rows_contaminated"] == 4
    assert summary["rows_contaminated_by_set"] == {"targets": 2, "bench": 2}
    listed = contaminated(tmp_path / "drop")
    assert [(r["source"].rsplit("/", 1)[1], r["row"]) for r in listed] == [
        ("part-9.parquet", 0), ("part-9.parquet", 1), ("part-9.parquet", 2), ("part-9.parquet", 3),
    ]  # fmt: skip
    assert [(r["matched_set"], r["matched_item"], r["matched_rule"]) for r in listed] == [
        ("targets", 0, "share of item"), ("targets", 1, "share of item"),
        ("bench", 0, "share of item"), ("bench", 1, "share of row"),
    ]  # fmt: skip
    assert listed[0]["matched_share"] == 1.0 and listed[0]["text"] == corpus.targets[0].decode()
    assert listed[3]["matched_share"] < 0.25 and listed[3]["matched_row_share"] == 1.0
    report = (tmp_path / "drop" / "report.html").read_text()
    assert "Contamination guard" in report and "4 rows held a target or eval set item" in report
    assert "share of row" in report
    assert summary["pair_compressions"] == (summary["rows_read"] - 3 - 4) * len(corpus.targets)


def test_flag_keeps_them_and_lists_them_and_off_is_the_paper(
    ray_session, corpus, planted, tmp_path
):
    flagged, ids = select(corpus, planted, tmp_path / "flag", decontaminate="flag")
    assert 1000 in ids  # a target's own copy is the best row there is
    assert flagged["rows_contaminated"] == 4 and len(contaminated(tmp_path / "flag")) == 4
    off, off_ids = select(corpus, planted, tmp_path / "flag", decontaminate="off", overwrite=True)
    assert off_ids == ids and off["rows_contaminated"] == 0
    assert not (tmp_path / "flag" / "contaminated").exists()  # the earlier run's is gone


def test_a_store_only_level_is_refused_unless_allowed(corpus, tmp_path):
    common = dict(pool=(str(corpus.pool_dir),), targets="t", out=str(tmp_path), k=1)
    with pytest.raises(ZipfitError, match="--level 0: gzip stores the text uncompressed"):
        SelectConfig.from_flags(**common, compressor="gzip", level=0)
    allowed = SelectConfig.from_flags(**common, compressor="gzip", level=0, allow_store_only=True)
    assert allowed.scoring.level == 0
    compresses = SelectConfig.from_flags(**common, compressor="isal:deflate", level=0)
    assert compresses.scoring.level == 0


def top_k_by(entries, field, k) -> set[int]:
    ranked = sorted(
        zip(entries[field].to_pylist(), entries["row_id"].to_pylist()), key=lambda e: (-e[0], e[1])
    )
    return {row for _, row in ranked[:k]}


@pytest.mark.parametrize("shard_rows", [None, 13])
def test_target_halves_agreement_is_that_of_the_saved_half_scores(
    ray_session, corpus, tmp_path, shard_rows
):
    config = SelectConfig.from_flags(
        pool=(str(corpus.pool_dir),), targets=str(corpus.targets_path), out=str(tmp_path / "o"),
        k=40, all_scores=True, shard_rows=shard_rows,
    )  # fmt: skip
    summary = run_select(config)
    saved = pq.ParquetDataset(sorted((tmp_path / "o" / "scores").glob("*.parquet"))).read()
    a, b = top_k_by(saved, "half_a", 40), top_k_by(saved, "half_b", 40)
    assert summary["target_halves"] == {"top_k": 40, "jaccard": len(a & b) / len(a | b)}
    assert 0 < summary["target_halves"]["jaccard"] < 1
    assert summary["target_spread"]["targets"] == len(corpus.targets)
    assert "two random halves" in (tmp_path / "o" / "report.html").read_text()
    again = run_reselect(str(tmp_path / "o"), {"out": str(tmp_path / "re"), "k": 25})
    a, b = top_k_by(saved, "half_a", 25), top_k_by(saved, "half_b", 25)
    assert again["target_halves"]["jaccard"] == len(a & b) / len(a | b)
    assert again["target_spread"] == summary["target_spread"]


def test_approximate_modes_have_no_halves(ray_session, corpus, tmp_path):
    config = SelectConfig.from_flags(
        pool=(str(corpus.pool_dir),), targets=str(corpus.targets_path), out=str(tmp_path / "o"),
        k=40, mode="approx-prefilter",
    )  # fmt: skip
    assert run_select(config)["target_halves"] is None
