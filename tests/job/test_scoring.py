"""Scoring one shard without Ray: row rules, retries, bad row groups."""

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zipfit_ray import prepare_targets, score, storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import records, scoring
from zipfit_ray.modes.exact import ExactScorer
from zipfit_ray.selection.tokens import TokenCounter, approximate_tokens

TARGETS = prepare_targets(["def f(x):\n    return x + 1\n", "import os\nprint(os.getcwd())\n"])


def config(**options):
    return SelectConfig.from_flags(pool=("pool",), targets="unused", out="out", k=1, **options)


def score_shard(shard, config, targets=TARGETS):
    """Score a shard exactly, in this process, as a scoring task does."""
    record = records.scores_dtype(config, targets)
    how = scoring.ShardScoring(config, ExactScorer(targets), record, TokenCounter())
    return scoring.score_shard(shard, how)


def one_shard(path):
    scan = storage.scan_pool(storage.list_pool_files([str(path)], {}), "text", {})
    return storage.cut_shards(scan, 10**9)[0]


def corrupt_row_group(path, row_group):
    """Overwrite the start of one row group's pages, keeping the footer intact."""
    chunk = pq.read_metadata(path).row_group(row_group).column(0)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))


@pytest.fixture
def small_pool(tmp_path):
    texts = [f"def f{i}(x):\n    return x * {i}\n" for i in range(300)]
    texts[3] = None
    texts[150] = "y" * 5000
    path = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=100)
    return path, texts


def test_nulls_are_skipped_and_long_texts_cut(small_pool):
    path, _ = small_pool
    result = score_shard(one_shard(path), config(max_bytes=1000))
    assert result.counts.pop("scoring_core_seconds") > 0  # timed, for summary.json
    assert result.counts == Counter(
        rows_read=300,
        rows_skipped_null=1,
        rows_truncated=1,
        pair_compressions=299 * 2,
    )
    assert len(result.entries) == 299 and 3 not in result.entries["row_id"]
    long_score = result.entries["score"][result.entries["row_id"] == 150]
    cut_score = score([b"y" * 1000], TARGETS)
    assert long_score.tolist() == cut_score.tolist()


def test_a_transient_read_error_is_retried(small_pool, monkeypatch):
    path, _ = small_pool
    clean = score_shard(one_shard(path), config())
    real_reader = storage.iter_piece_texts
    failures = iter([True, False, True])  # row group 0 fails once, row group 1 fails once

    def flaky(piece, *args):
        if piece.row_group < 2 and next(failures, False):
            raise OSError("connection reset")
        return real_reader(piece, *args)

    monkeypatch.setattr(storage, "iter_piece_texts", flaky)
    monkeypatch.setattr(scoring, "RETRY_DELAY", 0.0)
    retried = score_shard(one_shard(path), config())
    assert retried.entries.tobytes() == clean.entries.tobytes()
    for counts in (retried.counts, clean.counts):
        counts.pop("scoring_core_seconds")
    assert retried.counts == clean.counts


def test_an_unreadable_row_group_is_named_or_skipped(small_pool, monkeypatch):
    path, _ = small_pool
    shard = one_shard(path)
    corrupt_row_group(path, 1)
    monkeypatch.setattr(scoring, "RETRY_DELAY", 0.0)
    with pytest.raises(
        ZipfitError, match=r"pool\.parquet row group 1: cannot be read .*--on-bad-file"
    ):
        score_shard(shard, config())
    result = score_shard(shard, config(on_bad_file="skip"))
    assert result.counts["rows_skipped_bad_file"] == 100
    assert result.bad_files == [str(path)]
    kept_rows = set(result.entries["row_id"].tolist())
    assert kept_rows == set(range(100)) - {3} | set(range(200, 300))


def test_every_row_is_scored_in_pool_order_with_its_tokens(small_pool):
    path, texts = small_pool
    outcome = score_shard(one_shard(path), config())
    present = [i for i, t in enumerate(texts) if t is not None]
    assert outcome.entries["row_id"].tolist() == present
    expected = score([texts[i].encode() for i in present], TARGETS)
    assert outcome.entries["score"].tobytes() == expected.tobytes()
    tokens = [approximate_tokens(texts[i].encode()) for i in present]
    assert outcome.entries["tokens"].tolist() == tokens and tokens[0] == 10


def test_group_values_are_counted(tmp_path):
    table = pa.table({"text": ["a", "b", None, "c"], "source": ["x", "y", "x", None]})
    pq.write_table(table, tmp_path / "g.parquet")
    outcome = score_shard(one_shard(tmp_path / "g.parquet"), config(group_column="source"))
    assert outcome.groups == {"x": 1, "y": 1, "(null)": 1}  # the null-text row is not scored


def test_invalid_utf8_in_a_binary_column_is_scored_as_bytes(tmp_path):
    raw = [b"\xff\xfe\x00 not text", b"def f(): pass"]
    pq.write_table(pa.table({"text": pa.array(raw, pa.binary())}), tmp_path / "b.parquet")
    result = score_shard(one_shard(tmp_path / "b.parquet"), config())
    by_row = dict(zip(result.entries["row_id"].tolist(), result.entries["score"].tolist()))
    assert [by_row[0], by_row[1]] == score(raw, TARGETS).tolist()


def test_a_shard_that_scores_no_row_saves_the_jobs_whole_record(tmp_path):
    texts = pa.array([None, None], pa.string())
    pq.write_table(pa.table({"text": texts, "source": ["a", "b"]}), tmp_path / "n.parquet")
    shard = one_shard(tmp_path / "n.parquet")
    plan = config(group_column="source", dedup=True)
    outcome = score_shard(shard, plan)
    assert len(outcome.entries) == 0
    assert outcome.entries.dtype == records.scores_dtype(plan, TARGETS)
    assert {"half_a", "half_b", "group", "band_0"} <= set(outcome.entries.dtype.names)
