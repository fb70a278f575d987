"""`ray job submit` and `--address ray://` against a real head started with `ray start`."""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from ray.job_submission import JobStatus, JobSubmissionClient

from tests.conftest import free_port
from tests.test_cli import ROOT, select_args

RAY = str(Path(sys.executable).parent / "ray")
EXCLUDES = [".venv", ".git", "data"]
# Ray 2.60 heads want a token; clients send ~/.ray/auth_token only in token mode.
TOKEN_ENV = {**os.environ, "RAY_AUTH_MODE": "token"}


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """`ray start --head --block` on 127.0.0.1; stopped by its PID, which stops its children."""
    ports = {name: free_port() for name in ("gcs", "dashboard", "client", "agent")}
    log_path = tmp_path_factory.mktemp("head") / "head.log"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        # the Ray Client proxy waits 30 s for each client's own server process to start; on
        # a busy 2-core machine that start was seen to take longer ("Starting Ray client
        # server failed", grpc.FutureTimeoutError in the proxy's log)
        "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "180",
    }
    with open(log_path, "w") as log:
        head = subprocess.Popen(
            [
                RAY,
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--port={ports['gcs']}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={ports['dashboard']}",
                f"--ray-client-server-port={ports['client']}",
                f"--dashboard-agent-listen-port={ports['agent']}",
                "--num-cpus=2",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    dashboard = f"http://127.0.0.1:{ports['dashboard']}"
    try:
        wait_for_dashboard(dashboard, head, log_path)
        yield {
            "dashboard": dashboard,
            "client": f"ray://127.0.0.1:{ports['client']}",
            "log": log_path,
        }
    finally:
        head.terminate()
        head.wait(timeout=60)


def wait_for_dashboard(dashboard, head, log_path, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        assert head.poll() is None, log_path.read_text()
        try:
            urllib.request.urlopen(f"{dashboard}/api/version", timeout=2)
            return
        except urllib.error.HTTPError:  # up, and asking for the token: fine
            return
        except OSError:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)


def local_selection(out):
    return pq.ParquetDataset(sorted(Path(out).glob("part-*.parquet"))).read()


def test_ray_job_submit_runs_jobs_select(ray_head, corpus, tmp_path):
    submitted = subprocess.run(
        [
            RAY,
            "job",
            "submit",
            "--address",
            ray_head["dashboard"],
            "--no-wait",
            "--working-dir",
            ".",
            "--runtime-env-json",
            f'{{"excludes": {EXCLUDES!r}}}'.replace("'", '"'),
            "--",
            "python",
            "jobs/zipfit_select.py",
            *select_args(corpus, tmp_path / "out", "--k", "9", "--compressor", "zstd"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=TOKEN_ENV,
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = next(
        line.split("'")[1]
        for line in submitted.stdout.splitlines()
        if "submitted successfully" in line
    )
    token = (Path.home() / ".ray" / "auth_token").read_text().strip()
    client = JobSubmissionClient(
        ray_head["dashboard"], headers={"Authorization": f"Bearer {token}"}
    )
    deadline = time.monotonic() + 300
    while not (status := client.get_job_status(job_id)).is_terminal():
        assert time.monotonic() < deadline
        time.sleep(1)
    logs = client.get_job_logs(job_id)
    assert status == JobStatus.SUCCEEDED, logs
    assert f"selected 9 rows -> {tmp_path / 'out'}" in logs
    assert "score: " in logs  # plain progress lines, not a terminal bar
    assert local_selection(tmp_path / "out").num_rows == 9


def test_cli_joins_through_ray_client(ray_head, corpus, tmp_path):
    def select() -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "zipfit_ray",
                *select_args(
                    corpus,
                    tmp_path,
                    "--k",
                    "9",
                    "--compressor",
                    "zstd",
                    "--address",
                    ray_head["client"],
                    "--overwrite",
                ),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env=TOKEN_ENV,
        )

    result = select()
    if result.returncode != 0 and "client" in result.stderr.lower():
        # the proxy starts one server process per client and gives up if it is slow to come
        # up (seen on a busy 2-core machine); a second client gets a fresh one
        result = select()
    assert result.returncode == 0, result.stderr + ray_head["log"].read_text()[-3000:]
    assert local_selection(tmp_path).num_rows == 9
