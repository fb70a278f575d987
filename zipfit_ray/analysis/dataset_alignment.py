"""Dataset-level alignment: how close a whole candidate dataset is to the targets, estimated
from a uniform sample of its rows, with a confidence interval (the paper's view of
alignment against downstream loss). The Ray side is in survey.run_compare."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zipfit_ray import storage
from zipfit_ray.analysis import Z_95
from zipfit_ray.errors import ZipfitError


@dataclass(frozen=True)
class SampleRead:
    """Rows of one file to read for a dataset's sample."""

    path: str
    row_group_sizes: tuple[int, ...]
    rows: np.ndarray  # row indices within the file, ascending


def plan_sample(scan: storage.PoolScan, sample: int, seed: int) -> list[SampleRead]:
    """``sample`` rows drawn uniformly without replacement from the whole dataset (all rows
    if it has fewer), grouped by file. The same seed draws the same rows."""
    if scan.footerless_files:
        raise ZipfitError(
            "a uniform sample needs every file's row count, which JSONL files only give once "
            "read: estimate and compare-datasets take Parquet pools for now"
        )
    total = scan.num_rows
    drawn = np.sort(np.random.default_rng(seed).choice(total, min(sample, total), replace=False))
    rows_per_file = [sum(groups) for groups in scan.row_groups]
    return reads_by_file(scan.files, scan.row_groups, rows_per_file, drawn)


def reads_by_file(
    files: Sequence[str],
    row_groups: Sequence[tuple[int, ...]],
    rows_per_file: Sequence[int],
    drawn: np.ndarray,
) -> list[SampleRead]:
    """Rows drawn from a dataset's files (positions in the whole dataset, ascending: file
    after file), grouped by file."""
    file_starts = np.cumsum([0, *rows_per_file])
    file_of = np.searchsorted(file_starts, drawn, side="right") - 1
    return [
        SampleRead(files[f], row_groups[f], drawn[file_of == f] - file_starts[f])
        for f in np.unique(file_of)
    ]


def interval(scores: np.ndarray) -> dict[str, float]:
    """Mean alignment with a normal-approximation 95% confidence interval."""
    n = len(scores)
    if n == 0:
        return {"rows_scored": 0}
    mean = float(np.mean(scores))
    half = Z_95 * float(np.std(scores, ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return {"rows_scored": n, "alignment": mean, "ci95_low": mean - half, "ci95_high": mean + half}


def table(results: list[dict]) -> str:
    """The results as an aligned text table, most aligned first."""
    header = f"{'dataset':<40} {'rows':>8} {'alignment':>10}  95% CI"
    lines = [header, "-" * len(header)]
    for r in sorted(results, key=lambda r: -r.get("alignment", -math.inf)):
        if r["rows_scored"]:
            lines.append(
                f"{r['dataset']:<40} {r['rows_scored']:>8,} {r['alignment']:>10.5f}  "
                f"[{r['ci95_low']:.5f}, {r['ci95_high']:.5f}]"
            )
        else:
            lines.append(f"{r['dataset']:<40} {0:>8} {'-':>10}")
    return "\n".join(lines)
