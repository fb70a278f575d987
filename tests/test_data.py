"""The Ray Data building blocks on the session's real Ray: the same kernel and order as
select, whatever the dataset's source or its split into blocks."""

import gzip
import json

import numpy as np
import pyarrow as pa
import pytest
import ray.data

from zipfit_ray import alignment
from zipfit_ray.data import ZipFitScorer, score_dataset, select_threshold, select_top_k


def naive_top(texts, targets, k):
    """(text, score) of the k best non-null texts by the plain kernel, ties by the text."""
    present = [t for t in texts if t is not None]
    scores = alignment(present, targets)
    ranked = sorted(zip(present, scores), key=lambda p: (-p[1], p[0]))
    return ranked[:k]


def test_the_scorer_adds_exact_scores_and_leaves_nulls_unscored(corpus):
    texts = [t.decode() for t in corpus.texts[:30] if t is not None] + [None]
    scorer = ZipFitScorer(corpus.targets, max_bytes=200)
    scored = scorer(pa.table({"text": texts}))
    expected = alignment([t.encode()[:200] for t in texts[:-1]], corpus.targets)
    assert scored.column("zipfit_score").to_pylist()[:-1] == expected.tolist()
    assert scored.column("zipfit_score").to_pylist()[-1] is None
    as_bytes = scorer(pa.table({"text": pa.array([t and t.encode() for t in texts], pa.binary())}))
    assert as_bytes.column("zipfit_score").equals(scored.column("zipfit_score"))


def test_named_target_sets_get_a_score_column_each_from_one_pass(corpus):
    texts = [t.decode() for t in corpus.texts[:30] if t is not None] + [None]
    sets = {"a": corpus.targets[:2], "b": corpus.targets[2:]}
    scored = ZipFitScorer(sets, decontaminate="off")(pa.table({"text": texts}))
    assert "zipfit_score" not in scored.column_names
    for name, targets in sets.items():
        expected = alignment([t.encode() for t in texts[:-1]], targets)
        column = scored.column(f"zipfit_score_{name}").to_pylist()
        assert column[:-1] == expected.tolist() and column[-1] is None


@pytest.mark.parametrize("blocks", [1, 3, 7])
def test_top_k_of_a_parquet_dataset_is_the_kernel_and_a_sort(ray_session, corpus, blocks):
    ds = ray.data.read_parquet(str(corpus.pool_dir), override_num_blocks=blocks)
    got = select_top_k(ds, corpus.targets, k=15).take_all()
    texts = [t.decode() if t is not None else None for t in corpus.texts]
    expected = naive_top(texts, [t.decode() for t in corpus.targets], 15)
    assert [(r["text"], r["zipfit_score"]) for r in got] == expected
    assert set(got[0]) == {"id", "text", "kind", "source", "zipfit_score", "zipfit_contaminated"}


def test_top_k_of_jsonl_gz_files_with_a_named_key(ray_session, corpus, tmp_path):
    texts = [t.decode() for t in corpus.texts if t is not None][:80]
    for part in range(2):
        with gzip.open(tmp_path / f"part-{part}.jsonl.gz", "wt") as f:
            for i in range(part * 40, part * 40 + 40):
                f.write(json.dumps({"doc": i, "text": texts[i % 20]}) + "\n")  # repeats: ties
    ds = ray.data.read_json(str(tmp_path), lines=True)
    got = select_top_k(ds, corpus.targets, k=7, key="doc").take_all()
    scores = alignment(texts[:20], corpus.targets)
    expected = sorted(range(80), key=lambda i: (-scores[i % 20], i))[:7]
    assert [r["doc"] for r in got] == expected


def test_threshold_and_items_and_the_compressor_option(ray_session, corpus):
    texts = [t.decode() for t in corpus.texts if t is not None][:60]
    ds = ray.data.from_items([{"text": t, "n": i} for i, t in enumerate(texts)])
    scores = alignment(texts, corpus.targets, compressor="gzip")
    threshold = float(np.quantile(scores, 0.75))
    got = select_threshold(ds, corpus.targets, threshold, compressor="gzip").take_all()
    assert sorted(r["n"] for r in got) == [i for i, s in enumerate(scores) if s >= threshold]
    everything = score_dataset(ds, corpus.targets, compressor="gzip").take_all()
    assert sorted((r["n"], r["zipfit_score"]) for r in everything) == list(enumerate(scores))


@pytest.mark.parametrize("decontaminate", ["drop", "flag", "off"])
def test_the_guard_keeps_target_and_eval_items_out_of_the_top_k(ray_session, corpus, decontaminate):
    bench = [
        "def count_vowels(text):\n    return sum(1 for ch in text.lower() if ch in 'aeiou')\n",
        "def count_distinct(string):\n    'How many distinct characters, whatever the case'\n"
        "    >>> count_distinct('Jerry Lee')\n    6\n    return len(set(string.lower()))\n",
    ]
    texts = [t.decode() for t in corpus.texts if t is not None][:60]
    short_copy = "\n".join(bench[1].splitlines()[2:])  # 9 words, all the item's
    planted = [corpus.targets[0].decode(), "x = 1\n" + bench[0], short_copy]
    ds = ray.data.from_items([{"text": t} for t in texts + planted])
    options = {"decontaminate": decontaminate, "eval_sets": {"bench": bench}}
    got = select_top_k(ds, corpus.targets, k=len(texts) + 3, **options).take_all()
    chosen = {r["text"]: r for r in got}
    if decontaminate == "drop":
        assert len(got) == len(texts) and not set(planted) & set(chosen)
        return
    assert set(planted) <= set(chosen)  # every row fits: flagged ones are scored too
    if decontaminate == "flag":
        assert [chosen[t]["zipfit_contaminated"] for t in planted] == ["targets", "bench", "bench"]
        assert sum(r["zipfit_contaminated"] is not None for r in got) == 3
    else:
        assert "zipfit_contaminated" not in got[0]
