"""Checkpoint fingerprints and the directory's ownership, without Ray."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zipfit_ray import prepare_targets, storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import checkpoints
from zipfit_ray.job.notes import PartNotes, ShardNotes
from zipfit_ray.kernel.backends import JOINTS


@pytest.fixture
def job_inputs(tmp_path):
    pq.write_table(pa.table({"text": ["a", "b", "c"]}), tmp_path / "p.parquet", row_group_size=2)
    scan = storage.scan_pool(storage.list_pool_files([str(tmp_path / "p.parquet")], {}), "text", {})
    config = SelectConfig(
        pool=(str(tmp_path / "p.parquet"),), targets="t", out=str(tmp_path / "out"), k=2
    )
    return tmp_path, config, scan, prepare_targets(["x", "y"])


def other_joint(joint: str) -> str:
    return next(j for j in JOINTS if j != joint)


def test_fingerprint_follows_inputs_and_arguments(job_inputs):
    tmp_path, config, scan, targets = job_inputs
    base = checkpoints.fingerprint(config, scan, targets, None)
    assert checkpoints.fingerprint(config, scan, prepare_targets(["x", "y"]), None) == base
    changed = {
        "k": checkpoints.fingerprint(
            SelectConfig(pool=config.pool, targets="t", out=config.out, k=3), scan, targets, None
        ),
        "targets": checkpoints.fingerprint(config, scan, prepare_targets(["x", "z"]), None),
        "level": checkpoints.fingerprint(config, scan, prepare_targets(["x", "y"], level=5), None),
        "tokenizer": checkpoints.fingerprint(config, scan, targets, '{"a": 1}'),
        "joint": checkpoints.fingerprint(
            config, scan, prepare_targets(["x", "y"], joint=other_joint(targets.joint)), None
        ),
    }
    pq.write_table(pa.table({"text": ["a", "b", "C"]}), tmp_path / "p.parquet", row_group_size=2)
    rewritten = storage.scan_pool(
        storage.list_pool_files([str(tmp_path / "p.parquet")], {}), "text", {}
    )
    changed["pool"] = checkpoints.fingerprint(config, rewritten, targets, None)
    for key, other in changed.items():
        assert [k for k in base if base[k] != other[k]] == [key]


def test_directory_belongs_to_one_job(job_inputs):
    tmp_path, config, scan, targets = job_inputs
    out = str(tmp_path / "out")
    job = checkpoints.fingerprint(config, scan, targets, None)
    assert checkpoints.open_for_job(out, job, overwrite=False, options={}, scan=scan) == set()
    (tmp_path / "out" / "_checkpoints" / "shard-a.npz").write_bytes(b"")
    assert checkpoints.open_for_job(out, job, overwrite=False, options={}, scan=scan) == {"shard-a"}
    other = {**job, "k": 99}
    with pytest.raises(ZipfitError, match=r"checkpoints of a different job \(changed: k\)"):
        checkpoints.open_for_job(out, other, overwrite=False, options={}, scan=scan)
    assert checkpoints.open_for_job(out, other, overwrite=True, options={}, scan=scan) == set()
    assert checkpoints.open_for_job(out, other, overwrite=False, options={}, scan=scan) == set()


def test_save_and_load_round_trip(tmp_path):
    notes = ShardNotes(
        counts={"rows_read": 3, "rows_skipped_null": 1},
        bad_files=["s3://b/x.parquet"],
        groups={"a": 2, "b": 1},
        histogram=np.arange(5),
        token_histogram=np.arange(5) * 7,
        length_histogram=np.arange(3),
        selected={"rows": 2, "groups": {"a": 2}},  # a part's notes as JSON holds them
        fields={"text": ["string"], "meta": ["integer", "object"]},
        contaminated_by_set={"targets": 1},
        contaminated_examples=[{"row_id": 7, "matched_set": "targets", "matched_item": 0}],
    )
    uri = str(tmp_path / "shard.npz")
    checkpoints.save(uri, notes, {})
    loaded = checkpoints.load(uri, {})
    assert loaded.resumed and not notes.resumed
    assert loaded.token_histogram.tolist() == [0, 7, 14, 21, 28]
    assert loaded.histogram.tolist() == [0, 1, 2, 3, 4]
    assert loaded.length_histogram.tolist() == [0, 1, 2]
    assert loaded.selected == PartNotes(rows=2, groups={"a": 2})
    for field in checkpoints.JSON_FIELDS:
        assert getattr(loaded, field) == getattr(notes, field)


def test_shard_names_follow_the_row_groups(job_inputs):
    _, _, scan, _ = job_inputs
    names = [checkpoints.shard_name(s) for s in storage.cut_shards(scan, 1)]
    assert names == [
        "shard-0000000-000000-0000000-000000",
        "shard-0000000-000001-0000000-000001",
    ]
    assert [checkpoints.shard_name(s) for s in storage.cut_shards(scan, 10)] == [
        "shard-0000000-000000-0000000-000001"
    ]
