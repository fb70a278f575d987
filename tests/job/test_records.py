"""The records a job saves for itself, declared once (job/records.py)."""

import json

import numpy as np
import pytest

from zipfit_ray import prepare_targets, storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import checkpoints, records
from zipfit_ray.selection import order

BASE = {"pool": ("pool/",), "targets": "t.jsonl", "out": "out", "k": 5}


def test_the_scores_record_follows_the_plan():
    one, named = (
        prepare_targets(["a", "b", "c"]),
        prepare_targets(["a", "b"], sets=(("x", 1), ("y", 1))),
    )
    plain = records.scores_dtype(SelectConfig.from_flags(**BASE), one)
    assert plain.names == (*order.ENTRY.names, "half_a", "half_b", "nearest_target")
    items = records.scores_dtype(SelectConfig.from_flags(**BASE, cover=0.5), one)
    assert items.names[-4:] == ("nearest_target", "item_0", "item_1", "item_2")
    sets = records.scores_dtype(
        SelectConfig.from_flags(**{**BASE, "targets": ["x=a", "y=b"]}), named
    )
    assert sets.names == (*order.ENTRY.names, "score_x", "score_y")
    approx = SelectConfig.from_flags(**BASE, mode="approx-prefilter", group_column="g")
    assert records.scores_dtype(approx, one).names == (*order.ENTRY.names, "group")


def test_the_saved_job_round_trips_and_refuses_an_older_format(tmp_path):
    config = SelectConfig.from_flags(**BASE, all_scores=True)
    dtype = records.scores_dtype(config, prepare_targets(["a"]))
    job = {"format": checkpoints.FORMAT, "pool": "digest"}
    saved = records.SavedJob(job, config.public_dict(), ["f.parquet"], dtype.descr)
    saved.rows_total, saved.groups = 10, {"web": 3}
    saved.write(str(tmp_path), {})
    again = records.SavedJob.read(str(tmp_path), {})
    assert again.dtype == dtype and again.rows_total == 10 and again.groups == {"web": 3}
    assert again.plan() == SelectConfig.from_flags(**{**config.flags(), "storage_options": {}})
    uri = records.SavedJob.uri(str(tmp_path))
    older = {**json.loads(storage.read_bytes(uri, {})), "job": {"format": 5}}
    storage.write_json(uri, older, {})
    with pytest.raises(ZipfitError, match=r"saved by an earlier zipfit-ray \(format 5\)"):
        records.SavedJob.read(str(tmp_path), {})
    with pytest.raises(ZipfitError, match="holds no saved scores"):
        records.SavedJob.read(str(tmp_path / "nothing"), {})
    assert np.dtype(dtype.descr) == dtype
