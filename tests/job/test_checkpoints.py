"""Checkpoint fingerprints and the directory's ownership, without Ray."""

from dataclasses import fields

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zipfit_ray import config as config_module
from zipfit_ray import prepare_targets, storage
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import checkpoints
from zipfit_ray.job.notes import PartNotes, ShardNotes
from zipfit_ray.kernel.backends import JOINTS
from zipfit_ray.selection import contamination, dedup


@pytest.fixture
def job_inputs(tmp_path):
    pq.write_table(pa.table({"text": ["a", "b", "c"]}), tmp_path / "p.parquet", row_group_size=2)
    scan = storage.scan_pool(storage.list_pool_files([str(tmp_path / "p.parquet")], {}), "text", {})
    config = SelectConfig.from_flags(
        pool=(str(tmp_path / "p.parquet"),), targets="t", out=str(tmp_path / "out"), k=2
    )
    return tmp_path, config, scan, prepare_targets(["x", "y"])


def other_joint(joint: str) -> str:
    return next(j for j in JOINTS if j != joint)


def test_fingerprint_follows_inputs_and_arguments(job_inputs):
    tmp_path, config, scan, targets = job_inputs
    base = checkpoints.fingerprint(config, scan, targets, None)
    assert checkpoints.fingerprint(config, scan, prepare_targets(["x", "y"]), None) == base

    def with_flags(**flags):
        return SelectConfig.from_flags(**{**config.flags(), **flags})

    changed = {
        "k": checkpoints.fingerprint(with_flags(k=3), scan, targets, None),
        "targets": checkpoints.fingerprint(config, scan, prepare_targets(["x", "z"]), None),
        "level": checkpoints.fingerprint(with_flags(level=5), scan, targets, None),
        "tokenizer": checkpoints.fingerprint(config, scan, targets, '{"a": 1}'),
        "joint": checkpoints.fingerprint(
            with_flags(joint=other_joint(config.scoring.joint)), scan, targets, None
        ),
        "eval_sets": checkpoints.fingerprint(config, scan, targets, None, {"bench": [b"x"]}),
    }
    pq.write_table(pa.table({"text": ["a", "b", "C"]}), tmp_path / "p.parquet", row_group_size=2)
    rewritten = storage.scan_pool(
        storage.list_pool_files([str(tmp_path / "p.parquet")], {}), "text", {}
    )
    changed["pool"] = checkpoints.fingerprint(config, rewritten, targets, None)
    for key, other in changed.items():
        assert [k for k in base if base[k] != other[k]] == [key]


# A value other than the default for every flag the fingerprint holds by value. A new flag
# fails test_every_flag_is_fingerprinted_or_says_why until it is listed here, in
# config.SHARD_NEUTRAL (with its reason) or in config.BY_CONTENT.
OTHER_VALUES = {
    "text_column": "body",
    "max_bytes": 99,
    "on_bad_file": "skip",
    "compressor": "lz4-block",
    "level": 5,
    "joint": "concat",
    "mode": "approx-early-exit",
    "early_exit_z": 3.0,
    "early_exit_check": 0.5,
    "prefilter": "zstd",
    "cascade_factor": 3,
    "k": 3,
    "budget_tokens": 10,
    "min_score": 0.5,
    "fraction": 0.5,
    "budget_fraction": 0.5,
    "per_target": 3,
    "cover": 0.5,
    "group_column": "source",
    "decontaminate": "flag",
    "dedup": True,
    "dedup_threshold": 0.8,
    "order": "score",  # a streamed shard's part holds the position column for it
    "out_format": "jsonl",
    "all_scores": True,
}
RULES = ("k", "budget_tokens", "min_score", "fraction", "budget_fraction", "per_target")


def test_every_flag_is_fingerprinted_or_says_why():
    flags = set(SelectConfig.flag_names())
    neutral, by_content = set(config_module.SHARD_NEUTRAL), set(config_module.BY_CONTENT)
    assert neutral <= flags and by_content <= flags and not neutral & by_content
    assert all(config_module.SHARD_NEUTRAL.values())  # each with its reason
    assert flags - neutral - by_content == set(OTHER_VALUES)


@pytest.mark.parametrize("flag", sorted(OTHER_VALUES))
def test_each_flag_by_value_moves_the_fingerprint(job_inputs, flag):
    """Derived, not kept by hand: changing any flag the plan does not call neutral changes
    the fingerprint (an early-exit job rerun with another --early-exit-check among them)."""
    _, config, scan, targets = job_inputs
    flags = config.flags()  # exact, --k 2: every mode's own flags are fingerprinted too
    cleared = dict.fromkeys(RULES) if flag in RULES else {}
    other = {**flags, **cleared, flag: OTHER_VALUES[flag]}
    base = checkpoints.fingerprint(SelectConfig.from_flags(**flags), scan, targets, None)
    moved = checkpoints.fingerprint(SelectConfig.from_flags(**other), scan, targets, None)
    assert base[flag] != moved[flag]
    if flag not in RULES:  # another rule clears the one before; beside the flag, only what
        # it brings in moves: another library's version, the bands' constants
        moved_keys = {k for k in base if base[k] != moved[k]}
        assert moved_keys - {"compressor_versions", "bands"} == {flag}


def test_a_neutral_flag_keeps_the_fingerprint(job_inputs):
    _, config, scan, targets = job_inputs
    base = checkpoints.fingerprint(config, scan, targets, None)
    neutral = dict(part_rows=7, overwrite=True, num_cpus=1, max_in_flight=2, shard_rows=5)
    other = SelectConfig.from_flags(**{**config.flags(), **neutral, "exclude_near_column": "b"})
    assert checkpoints.fingerprint(other, scan, targets, None) == base


def test_an_early_exit_rerun_with_another_check_share_is_another_job(job_inputs):
    tmp_path, config, scan, targets = job_inputs
    out = str(tmp_path / "out")
    flags = {**config.flags(), "mode": "approx-early-exit"}
    first = SelectConfig.from_flags(**{**flags, "early_exit_check": 0.01})
    job = checkpoints.fingerprint(first, scan, targets, None)
    assert checkpoints.open_for_job(out, job, overwrite=False, options={}, scan=scan) == set()
    (tmp_path / "out" / "_checkpoints" / "shard-a.npz").write_bytes(b"")
    again = SelectConfig.from_flags(**{**flags, "early_exit_check": 0.2})
    rerun = checkpoints.fingerprint(again, scan, targets, None)
    with pytest.raises(ZipfitError, match=r"different job \(changed: early_exit_check\)"):
        checkpoints.open_for_job(out, rerun, overwrite=False, options={}, scan=scan)


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
        jsonl_kinds={"text": ["string"], "meta": ["integer", "object"]},
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
    for field in fields(ShardNotes):  # every field is saved: a new one too
        if field.name not in (*ShardNotes.ARRAYS, "selected", "resumed"):
            assert getattr(loaded, field.name) == getattr(notes, field.name), field.name


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


def test_the_guards_and_the_bands_rules_are_fingerprinted(job_inputs, monkeypatch):
    """A new guard (or banding) flags other rows: the shards of the old one are not resumed."""
    _, config, scan, targets = job_inputs
    base = checkpoints.fingerprint(config, scan, targets, None)
    monkeypatch.setattr(contamination, "RULES", (*contamination.RULES, "changed"))
    assert checkpoints.fingerprint(config, scan, targets, None)["guard"] != base["guard"]
    off = SelectConfig.from_flags(**{**config.flags(), "decontaminate": "off"})
    assert checkpoints.fingerprint(off, scan, targets, None)["guard"] is None
    banded = SelectConfig.from_flags(**{**config.flags(), "dedup": True})
    assert checkpoints.fingerprint(banded, scan, targets, None)["bands"] == list(dedup.SIGNATURE)
