"""summary.json from typed parts (job/summary.py): flat JSON, every counter declared."""

import json
from collections import Counter
from dataclasses import fields

import pytest

from zipfit_ray.analysis.target_set import Spread
from zipfit_ray.job import summary
from zipfit_ray.modes.base import SelfCheck


def test_a_counter_must_be_declared():
    counts, work = summary.counted(Counter(rows_read=5, rows_skipped_bad_line=2, dedup_rounds=1))
    assert counts.rows_total == 7 and counts.rows_truncated == 0 and work.dedup_rounds == 1
    with pytest.raises(KeyError, match="rows_invented"):
        summary.counted(Counter(rows_invented=1))


def test_the_json_is_every_parts_fields_at_its_top_level():
    histograms = summary.Histograms([0.0, 1.0, 2], [1, 2], [0, 1], [1, 2], [3], [1])
    selected = summary.Selected(
        1, 9, ["part-00000.parquet"], {"q0": 0.5, "q1": 0.5},
        summary.Examples([{"score": 0.5, "row_id": 3, "text": "x"}], []),
        histograms, None, {},
    )  # fmt: skip
    check = SelfCheck(10, 2, 0, 0.0)
    findings = summary.Findings(None, None, check, None, {"targets": 1}, [], [], None)
    run = summary.Run(3, 0, "--k 1", "approx-early-exit", "zipfit_score", {"k": 1}, {})
    pool = summary.Pool(2, 7, targets=4, target_spread=Spread(0.8, 4))
    counts = summary.Counts(rows_read=7)
    found = summary.Summary(counts, summary.Work(), run, selected, pool, findings)
    written = json.loads(json.dumps(found.to_json()))
    parts = (summary.Counts, summary.Work, summary.Run, summary.Selected, summary.Findings)
    declared = [f.name for part in (*parts, summary.Pool) for f in fields(part)]
    assert sorted(written) == sorted(declared)
    assert written["early_exit_check"]["rows_checked"] == 2
    assert written["target_spread"] == {"mean_ncd": 0.8, "targets": 4}
    assert written["examples"]["best"][0]["row_id"] == 3 and written["histograms"]["bins"][2] == 2
