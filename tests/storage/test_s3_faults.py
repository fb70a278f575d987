"""Transient storage faults cost a retry, never a row: with a proxy in front of the S3
endpoint faulting a few percent of requests (503, 500, connections closed, GET bodies cut
short: reads and writes), a job's selection, scores and counts are a clean run's, for
Parquet and compressed JSONL pools with the output on S3, under --on-bad-file fail and
skip. A file that always fails is named (fail) or skipped and counted alone (skip)."""

import json
from urllib.parse import urlparse

import pyarrow.parquet as pq
import pytest
import s3fs

from tests.conftest import write_jsonl
from tests.fault_proxy import FaultProxy
from zipfit_ray import SelectConfig, ZipfitError, run_select

BUCKET = "zipfit-faults"
SHARE = 0.05


@pytest.fixture(scope="module")
def proxy(s3_options):
    found = FaultProxy(urlparse(s3_options["endpoint_url"]).port)
    yield found
    found.stop()


@pytest.fixture(scope="module")
def pools(s3_options, corpus, tmp_path_factory):
    """The corpus as Parquet and as JSONL .gz and .zst files, on S3."""
    import gzip

    import zstandard

    fs = s3fs.S3FileSystem(**s3_options)
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    fs.put(str(corpus.pool_dir) + "/", f"{BUCKET}/parquet/", recursive=True)
    local = tmp_path_factory.mktemp("jsonl_pools")
    for kind in ("gz", "zst"):
        (local / kind).mkdir()
    for path in sorted(corpus.pool_dir.glob("*.parquet")):
        records = pq.read_table(path).to_pylist()
        write_jsonl(local / "gz" / f"{path.stem}.jsonl.gz", records, gzip.compress)
        write_jsonl(
            local / "zst" / f"{path.stem}.jsonl.zst", records, zstandard.ZstdCompressor().compress
        )
    for kind in ("gz", "zst"):
        fs.put(str(local / kind) + "/", f"{BUCKET}/{kind}/", recursive=True)
    return fs


def run(pool: str, out: str, options: dict, corpus, **extra):
    config = SelectConfig.from_flags(
        pool=(f"s3://{BUCKET}/{pool}/",), targets=str(corpus.targets_path),
        out=f"s3://{BUCKET}/{out}", k=40, storage_options=options, overwrite=True, **extra,
    )  # fmt: skip
    return run_select(config)


def selection(fs, out: str) -> list[tuple]:
    parts = sorted(p for p in fs.ls(f"{BUCKET}/{out}", refresh=True) if "/part-" in p)
    rows = []
    for part in parts:
        if part.endswith(".parquet"):
            table = pq.read_table(fs.open(part, "rb"))
            rows += list(zip(table["id"].to_pylist(), table["zipfit_score"].to_pylist()))
        else:
            rows += [
                (r["id"], r["zipfit_score"]) for r in map(json.loads, fs.cat(part).splitlines())
            ]
    return rows


COUNTS = ("rows_read", "rows_selected", "rows_total", "files_skipped", "rows_skipped_bad_file")


@pytest.mark.parametrize(
    ("pool", "on_bad_file"),
    [("parquet", "fail"), ("parquet", "skip"), ("gz", "fail"), ("zst", "skip")],
)
def test_a_few_percent_of_faults_change_nothing(
    ray_session, corpus, s3_options, proxy, pools, pool, on_bad_file
):
    clean = run(pool, f"clean-{pool}", s3_options, corpus, on_bad_file=on_bad_file)
    proxy.configure(SHARE, seed=len(pool) + len(on_bad_file))
    faulty_options = {**s3_options, "endpoint_url": proxy.endpoint_url}
    try:
        faulty = run(pool, f"faulty-{pool}", faulty_options, corpus, on_bad_file=on_bad_file)
    finally:
        injected = dict(proxy.injected)
        proxy.configure(0.0)
    print("faults injected:", injected)
    assert sum(injected.values()) >= 5, injected  # the faults were there to be survived
    assert selection(pools, f"faulty-{pool}") == selection(pools, f"clean-{pool}")
    assert {k: faulty[k] for k in COUNTS} == {k: clean[k] for k in COUNTS}
    assert faulty["files_skipped"] == 0 and faulty["bad_files"] == []


@pytest.mark.parametrize("fault", ["403", "404", "503"])
def test_a_file_that_always_fails_is_named_or_skipped_alone(
    ray_session, corpus, s3_options, proxy, pools, fault
):
    bad = "parquet/part-2.parquet"
    proxy.configure(SHARE, seed=3, always={bad: fault})
    faulty_options = {**s3_options, "endpoint_url": proxy.endpoint_url}
    try:
        with pytest.raises(ZipfitError, match=r"part-2\.parquet"):
            run("parquet", "always-fail", faulty_options, corpus, on_bad_file="fail")
        skipped = run("parquet", "always-skip", faulty_options, corpus, on_bad_file="skip")
    finally:
        proxy.configure(0.0)
    assert skipped["files_skipped"] == 1
    assert [b.rsplit("/", 1)[-1] for b in skipped["bad_files"]] == ["part-2.parquet"]
    clean = pq.read_table(corpus.pool_dir / "part-2.parquet").num_rows
    assert skipped["rows_total"] - skipped["rows_read"] in (0, clean)
