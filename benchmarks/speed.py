"""Throughput and memory of zipfit_ray against the reference implementation and a bare loop.

Run through benchmarks/run.sh, which makes an environment holding both this project and the
reference (PyPI zip-fit 1.0.9). Everything is measured in this one invocation, on real text
on the machine: candidates are ~800-byte chunks of the text files of Python's standard
library and installed packages, targets are functions from standard library modules the
candidates never come from. Prints pairs/s and ratios.

    (a) reference   zip_fit.ZIPFIT(...).run(), its own process pool over all CPUs
    (b) bare loop   one core, len(C(x + y)) with the reference's compressor call per pair
    (c) kernel      one core, zipfit_ray.score(): C loop where built, else Python
    ((b) and (c) run interleaved --repeats times; the fastest of each counts)
    (d) job         `zipfit-ray select` end to end (Ray start-up included) on 1 and 2 CPUs
    (e) memory      peak RSS of a job over a large pool, and of the reference
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from zipfit_ray.demo import is_held_out, python_functions, python_sources
from zipfit_ray.kernel.alignment import prepare_targets, score
from zipfit_ray.kernel.backends import backend
from zipfit_ray.kernel.compressors import NATIVE_LIBRARIES

SETTINGS = [("gzip", 9), ("zlib", 6), ("lz4", 0), ("lz4-block", 0), ("zstd", 3)]
REFERENCE_NAMES = {"gzip", "lz4", "zstd"}  # zip_fit has no plain zlib, nor bare LZ4 blocks
CHUNK_BYTES = 800
TEXT_SUFFIXES = {".py", ".pyi", ".txt", ".rst", ".md", ".cfg", ".html", ".xml", ".json", ".h"}


# ---------------------------------------------------------------- workload


def candidate_chunks(count: int, seed: int = 0) -> list[str]:
    """~800-byte runs of whole lines of the text files of the standard library and of the
    installed packages (code, docs, data), skipping the modules the targets come from."""
    paths = sysconfig.get_paths()
    stdlib, packages = Path(paths["stdlib"]), Path(paths["purelib"])
    files = [
        p
        for p in sorted(stdlib.rglob("*"))
        if "site-packages" not in p.parts and not is_held_out(p.relative_to(stdlib).as_posix())
    ]
    files += sorted(packages.rglob("*"))
    chunks: list[str] = []
    for path in files:
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        chunk = ""
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines(True):
            chunk += line
            if len(chunk) >= CHUNK_BYTES:
                chunks.append(chunk)
                chunk = ""
    random.Random(seed).shuffle(chunks)
    if len(chunks) < count:
        raise SystemExit(f"only {len(chunks)} chunks of text available, asked for {count}")
    return chunks[:count]


def target_functions(count: int, seed: int = 1) -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    held_out = [
        text for module, text in python_functions(python_sources(stdlib)) if is_held_out(module)
    ]
    return random.Random(seed).sample(held_out, count)


def write_inputs(directory: Path, candidates: list[str], targets: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": candidates}), directory / "pool.parquet", row_group_size=2048)
    for name, texts in (("candidates", candidates), ("targets", targets)):
        with open(directory / f"{name}.jsonl", "w") as f:
            f.writelines(json.dumps({"text": t}) + "\n" for t in texts)


# ---------------------------------------------------------------- memory of a process tree


def tree_rss(root: int) -> dict[int, tuple[str, int]]:
    """{pid: (command, RSS bytes)} for root and all its descendants (Linux /proc)."""
    pids, frontier = {root}, [root]
    while frontier:  # /proc/<pid>/task/<tid>/children: no scan of every process
        parent = frontier.pop()
        for children_file in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                children = [int(c) for c in children_file.read_text().split()]
            except OSError:
                continue
            new = [c for c in children if c not in pids]
            pids.update(new)
            frontier.extend(new)
    found = {}
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            status = Path(f"/proc/{pid}/status").read_text()
            rss = next(
                int(line.split()[1]) * 1024
                for line in status.splitlines()
                if line.startswith("VmRSS:")
            )
            found[pid] = (command, rss)
        except (OSError, StopIteration):
            pass
    return found


class PeakMemory:
    """Samples a process tree while it runs: peak of the whole tree, of the root, of the
    largest single Ray worker (processes titled ray::...)."""

    def __init__(self, process: subprocess.Popen, interval: float = 0.5) -> None:
        self.process, self.interval = process, interval
        self.tree = self.root = self.worker = 0
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.process.poll() is None:
            found = tree_rss(self.process.pid)
            self.tree = max(self.tree, sum(rss for _, rss in found.values()))
            self.root = max(self.root, found.get(self.process.pid, ("", 0))[1])
            workers = [rss for command, rss in found.values() if command.startswith("ray::")]
            self.worker = max(self.worker, max(workers, default=0))
            time.sleep(self.interval)

    def wait(self) -> PeakMemory:
        self.process.wait()
        self.thread.join()
        return self


def run_measured(command: list[str], **kwargs) -> tuple[float, PeakMemory]:
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs
    )
    peak = PeakMemory(process)
    stderr = process.stderr.read()
    peak.wait()
    if process.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{stderr[-3000:]}")
    return time.perf_counter() - start, peak


# ---------------------------------------------------------------- the measurements


def reference_run(directory: Path, name: str, level: int) -> tuple[float, PeakMemory]:
    script = (
        "import zip_fit, sys; zip_fit.ZIPFIT(sys.argv[1], sys.argv[2], k=100, "
        "output_file=sys.argv[3], compression_algorithm=sys.argv[4], "
        "compress_level=int(sys.argv[5])).run()"
    )
    return run_measured(
        [
            sys.executable,
            "-c",
            script,
            str(directory / "candidates.jsonl"),
            str(directory / "targets.jsonl"),
            str(directory / "reference.jsonl"),
            name,
            str(level),
        ]
    )


def bare_loop(candidates: list[bytes], targets: list[bytes], name: str, level: int) -> float:
    b = backend(name)
    module = b.load()
    start = time.perf_counter()
    for x in candidates:
        for y in targets:
            len(b.reference(module, x + y, level))
    return time.perf_counter() - start


def kernel(
    candidates: list[bytes], targets: list[bytes], name: str, level: int, native: bool
) -> float:
    prepared = prepare_targets(targets, name, level)
    start = time.perf_counter()
    score(candidates, prepared, native=native)
    return time.perf_counter() - start


def job_run(
    directory: Path, name: str, level: int, cpus: int, k: int, pool: Path | None = None
) -> tuple[float, PeakMemory, dict]:
    out = directory / f"out-{name}-{cpus}"
    seconds, peak = run_measured(
        [
            sys.executable,
            "-m",
            "zipfit_ray",
            "select",
            "--pool",
            str(pool or directory / "pool.parquet"),
            "--targets",
            str(directory / "targets.jsonl"),
            "--k",
            str(k),
            "--out",
            str(out),
            "--compressor",
            name,
            "--level",
            str(level),
            "--num-cpus",
            str(cpus),
            "--overwrite",
        ],
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    return seconds, peak, json.loads((out / "summary.json").read_text())


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=50_000, help="for (a) and (d)")
    parser.add_argument("--targets", type=int, default=164)
    parser.add_argument("--kernel-candidates", type=int, default=400, help="for (b) and (c)")
    parser.add_argument("--repeats", type=int, default=5, help="for (b) and (c): best of")
    parser.add_argument("--memory-rows", type=int, default=1_000_000, help="for (e); 0 skips it")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--only", nargs="*", help="compressors to run, e.g. gzip lz4")
    args = parser.parse_args()

    candidates = candidate_chunks(args.candidates)
    targets = target_functions(args.targets)
    work = Path(tempfile.mkdtemp(prefix="zipfit-bench-"))
    write_inputs(work, candidates, targets)
    xs = [c.encode() for c in candidates[: args.kernel_candidates]]
    ys = [t.encode() for t in targets]
    n, m, kn = len(candidates), len(targets), len(xs)
    print(
        f"workload: {n:,} candidates (~{CHUNK_BYTES} B chunks of Python's text files) "
        f"x {m} targets (held-out stdlib functions), {os.cpu_count()} CPUs, C kernel for "
        f"{sorted(NATIVE_LIBRARIES) or 'nothing'}\n"
    )

    rows = []
    for name, level in SETTINGS:
        if args.only and name not in args.only:
            continue
        row = {"setting": f"{name}-{level}"}
        seconds = {"bare": [], "kernel": [], "kernel_py": []}
        for _ in range(args.repeats):  # interleaved; the fastest of each is the least disturbed
            seconds["bare"].append(bare_loop(xs, ys, name, level))
            seconds["kernel"].append(kernel(xs, ys, name, level, native=True))
            seconds["kernel_py"].append(kernel(xs, ys, name, level, native=False))
        row.update({key: kn * m / min(times) for key, times in seconds.items()})
        for cpus in (1, 2):
            seconds, _, summary = job_run(work, name, level, cpus, k=1000)
            row[f"job{cpus}"] = n * m / seconds
            row[f"job{cpus}_score"] = n * m / summary["seconds"]["score"]
        if name in REFERENCE_NAMES and not args.skip_reference:
            seconds, peak = reference_run(work, name, level)
            row["reference"], row["reference_rss"] = n * m / seconds, peak.tree
        rows.append(row)
        print_row(row)

    print("\nratios")
    print(
        "| setting | kernel / bare loop | (Python fallback) | job 2 CPUs / 1 CPU "
        "| job 2 CPUs / reference |"
    )
    print("|---|---|---|---|---|")
    for row in rows:
        reference = f"{row['job2'] / row['reference']:.2f}x" if "reference" in row else "n/a"
        print(
            f"| {row['setting']} | {row['kernel'] / row['bare']:.2f}x "
            f"| {row['kernel_py'] / row['bare']:.2f}x | {row['job2'] / row['job1']:.2f}x "
            f"| {reference} |"
        )

    if args.memory_rows:
        memory(work, args.memory_rows, candidates)


def print_row(row: dict) -> None:
    reference = (
        f"reference {row['reference']:,.0f} (peak RSS {mib(row['reference_rss'])})"
        if "reference" in row
        else "reference n/a"
    )
    print(
        f"{row['setting']}: pairs/s  bare {row['bare']:,.0f} | kernel {row['kernel']:,.0f} "
        f"(Python {row['kernel_py']:,.0f}) | job 1 CPU {row['job1']:,.0f} "
        f"(scoring {row['job1_score']:,.0f}) | job 2 CPUs {row['job2']:,.0f} "
        f"(scoring {row['job2_score']:,.0f}) | {reference}",
        flush=True,
    )


def memory(work: Path, rows: int, candidates: list[str]) -> None:
    """Per-worker memory must not grow with the pool: the same job at rows/10 and rows."""
    print("\nmemory: lz4-0, 2 targets, K=1,000, 2 CPUs")
    small_targets = work / "memory"
    small_targets.mkdir(exist_ok=True)
    with open(small_targets / "targets.jsonl", "w") as f:
        f.writelines(json.dumps({"text": t}) + "\n" for t in target_functions(2))
    for size in (rows // 10, rows):
        pool = small_targets / f"pool-{size}"
        pool.mkdir(exist_ok=True)
        per_file = 100_000
        for i in range(0, size, per_file):
            texts = [candidates[j % len(candidates)] for j in range(i, min(i + per_file, size))]
            pq.write_table(
                pa.table({"text": texts, "id": range(i, i + len(texts))}),
                pool / f"part-{i // per_file:05d}.parquet",
                row_group_size=8192,
            )
        seconds, peak, _ = job_run(small_targets, "lz4", 0, 2, 1000, pool=pool)
        print(
            f"{size:>9,} rows: {seconds:6.1f} s, driver peak RSS {mib(peak.root)}, largest "
            f"worker peak RSS {mib(peak.worker)}, whole Ray tree peak {mib(peak.tree)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
