"""Pairs per core-second of the kernel against candidate length, for every backend and
both joints: concat compresses |x| + |y| bytes per pair, conditional |y| once x is loaded.

Candidates are runs of whole lines of the standard library's modules, cut to 0.5, 1, 2, 4,
8 and 16 KB; the targets are 164 standard library functions of HumanEval's length (about
450 to 750 bytes) from modules the candidates never come from. One process, one core:
zipfit_ray.score() (C(x) for every candidate, the joint size of every pair); the two joints
run interleaved, --repeats times each, and the fastest run of each counts (so that a
machine's passing load moves both alike). Prints one row per setting, pairs/s per column,
and each conditional row's ratio to the same backend's concat.

    .venv/bin/python benchmarks/joint_speed.py [--candidates 40] [--only lz4-block zstd]
"""

from __future__ import annotations

import argparse
import sysconfig
import time
from pathlib import Path

from zipfit_ray.demo import is_held_out, python_functions, python_sources
from zipfit_ray.kernel.alignment import prepare_targets, score
from zipfit_ray.kernel.backends import BACKENDS, JOINTS

LENGTHS = (512, 1024, 2048, 4096, 8192, 16384)
TARGETS, TARGET_BYTES = 164, (450, 750)


def workload(candidates: int) -> tuple[dict[int, list[bytes]], list[bytes]]:
    """({length: candidates of that length}, targets)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    modules = python_sources(stdlib)
    kept = [source for module, source, _ in modules if not is_held_out(module)]
    long_enough = [s.encode() for s in kept if len(s) >= 2 * LENGTHS[-1]][:candidates]
    by_length = {n: [s[: s.rfind(b"\n", 0, n) + 1 or n] for s in long_enough] for n in LENGTHS}
    functions = [
        f.encode()
        for module, f in python_functions(modules)
        if is_held_out(module) and TARGET_BYTES[0] <= len(f) <= TARGET_BYTES[1]
    ]
    return by_length, functions[:TARGETS]


def pairs_per_second(
    name: str, joints: list[str], texts: list[bytes], targets: list[bytes], repeats: int
) -> list[float]:
    """Pairs/s of each joint: the fastest of ``repeats`` runs, the joints interleaved."""
    prepared = [prepare_targets(targets, name, None, joint) for joint in joints]
    best = [float("inf")] * len(joints)
    for _ in range(repeats):
        for i, targets_of_joint in enumerate(prepared):
            start = time.perf_counter()
            score(texts, targets_of_joint)
            best[i] = min(best[i], time.perf_counter() - start)
    return [len(texts) * len(targets) / seconds for seconds in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these backends only")
    args = parser.parse_args()
    by_length, targets = workload(args.candidates)
    print(
        f"{len(targets)} targets of {TARGET_BYTES[0]}-{TARGET_BYTES[1]} bytes; "
        f"{args.candidates} candidates per length; pairs/s on one core (default levels)\n"
    )
    header = " | ".join(f"{n / 1024:g} KB" for n in LENGTHS)
    print(f"| backend:level | joint | {header} |")
    print("|---|---|" + "---|" * len(LENGTHS))
    for name in args.only or list(BACKENDS):
        level = BACKENDS[name].default_level
        joints = [j for j in JOINTS if j == "concat" or BACKENDS[name].conditional is not None]
        speeds = [
            pairs_per_second(name, joints, by_length[n], targets, args.repeats) for n in LENGTHS
        ]
        for i, joint in enumerate(joints):
            cells = [f"{s[i]:,.0f}" + (f" ({s[i] / s[0]:.1f}x)" if i else "") for s in speeds]
            print(f"| {name}:{level} | {joint} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
