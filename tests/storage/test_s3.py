"""Pool, targets and output on S3: a real S3 endpoint (moto's server) on 127.0.0.1."""

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import s3fs

from tests.test_cli import ROOT
from zipfit_ray import SelectConfig, run_select

BUCKET = "zipfit-test"


@pytest.fixture(scope="session")
def s3_corpus(s3_options, corpus):
    fs = s3fs.S3FileSystem(**s3_options)
    fs.mkdir(BUCKET)
    fs.put(str(corpus.pool_dir) + "/", f"{BUCKET}/pool/", recursive=True)
    fs.put(str(corpus.targets_path), f"{BUCKET}/targets.jsonl")
    return fs


def read_parts(fs, out):
    parts = sorted(fs.glob(f"{out}/part-*.parquet"))
    return pq.ParquetDataset(parts, filesystem=fs).read()


def test_everything_on_s3_selects_what_local_files_select(
    ray_session, corpus, s3_corpus, s3_options, tmp_path
):
    fs = s3_corpus
    common = dict(k=25, compressor="zlib", part_rows=10)
    run_select(
        SelectConfig.from_flags(
            pool=(str(corpus.pool_dir),),
            targets=str(corpus.targets_path),
            out=str(tmp_path / "local"),
            **common,
        )
    )
    summary = run_select(
        SelectConfig.from_flags(
            pool=(f"s3://{BUCKET}/pool/",),
            targets=f"s3://{BUCKET}/targets.jsonl",
            out=f"s3://{BUCKET}/out",
            storage_options=s3_options,
            **common,
        )
    )
    local = pq.ParquetDataset(sorted((tmp_path / "local").glob("part-*.parquet"))).read()
    assert read_parts(fs, f"{BUCKET}/out").equals(local)
    names = sorted(p.rsplit("/", 1)[1] for p in fs.ls(f"{BUCKET}/out", refresh=True))
    assert names == [
        "_SUCCESS",
        "_zipfit_outputs.json",
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
        "report.html",
        "summary.json",
    ]
    on_s3 = fs.cat(f"{BUCKET}/out/summary.json").decode()
    assert json.loads(on_s3) == summary
    assert "testing" not in on_s3  # credentials are never written
    assert summary["arguments"]["storage_options"] == ["endpoint_url", "key", "secret"]


def test_globs_on_s3(corpus, s3_corpus, s3_options, ray_session):
    from zipfit_ray import storage

    files = storage.list_pool_files([f"s3://{BUCKET}/pool/part-[12].parquet"], s3_options)
    assert files == [f"s3://{BUCKET}/pool/part-1.parquet", f"s3://{BUCKET}/pool/part-2.parquet"]


def test_credentials_from_the_environment_reach_the_tasks(s3_corpus, s3_options, tmp_path):
    """The CLI starts its own local Ray here; its workers inherit the driver's environment."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": s3_options["key"],
        "AWS_SECRET_ACCESS_KEY": s3_options["secret"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_options["endpoint_url"],
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "zipfit_ray",
            "select",
            "--pool",
            f"s3://{BUCKET}/pool/",
            "--targets",
            f"s3://{BUCKET}/targets.jsonl",
            "--k",
            "7",
            "--compressor",
            "lz4",
            "--out",
            f"s3://{BUCKET}/env-out",
            "--num-cpus",
            "1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert read_parts(s3_corpus, f"{BUCKET}/env-out").num_rows == 7
