"""The plan in typed parts: built from flags by name, back to the same flags, each part
checking its own values, unknown settings refused."""

import pytest

from zipfit_ray.config import SCORED_PARTS, SelectConfig
from zipfit_ray.errors import ZipfitError

BASE = {"pool": ("pool/",), "targets": "t.jsonl", "out": "out", "k": 5}


def test_flags_round_trip_through_the_parts():
    given = {
        **BASE,
        "compressor": "gzip",
        "group_column": "source",
        "group_quota": "web=0.2,books=100",
        "cascade_factor": 4,  # every mode's own settings are kept (estimate uses them)
        "storage_options": {"anon": True},
        "eval_sets": ["bench.jsonl"],
    }
    config = SelectConfig.from_flags(**given)
    assert config.scoring.level == 9 and config.scoring.joint == "concat"  # resolved
    assert config.groups.group_quota == {"web": 0.2, "books": 100}  # parsed
    assert config.scoring.mode_settings["approx-cascade"].cascade_factor == 4
    assert config.trust.eval_sets == ("bench.jsonl",)
    again = SelectConfig.from_flags(**config.flags())
    assert again == config
    assert set(config.flags()) == set(SelectConfig.flag_names())


def test_no_part_has_more_than_sixteen_fields():
    for part in SelectConfig.parts().values():
        assert len(part.__dataclass_fields__) <= 16, part


def test_an_unknown_or_missing_setting_is_refused():
    with pytest.raises(ZipfitError, match="no such setting: kk"):
        SelectConfig.from_flags(**BASE, kk=3)
    assert SelectConfig.required() == ("pool", "targets", "out")
    with pytest.raises(ZipfitError, match=r"missing setting: targets \(--targets\)"):
        SelectConfig.from_flags(**{**BASE, "targets": None})


def test_public_flags_keep_storage_option_names_only():
    config = SelectConfig.from_flags(**BASE, storage_options={"secret": "s3cr3t"})
    assert config.public_dict()["storage_options"] == ["secret"]
    assert "s3cr3t" not in repr(config.public_dict())


def test_reselect_keeps_what_decided_the_scores_and_nothing_else():
    saved = SelectConfig.from_flags(
        **BASE, compressor="gzip", text_column="body", dedup=True, part_rows=3, all_scores=True
    )
    kept = saved.flags_of(*SCORED_PARTS)
    assert kept["compressor"] == "gzip" and kept["text_column"] == "body"
    assert kept["dedup_threshold"] == saved.trust.dedup_threshold
    assert not {"k", "out", "part_rows", "all_scores", "storage_options"} & set(kept)
