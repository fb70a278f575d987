"""Selection quality of the approximate modes against exact ZIP-FIT, on a labelled pool.

The pool is made here from real text on the machine (nothing is downloaded or committed):
in-domain rows are Python functions from the standard library; out-of-domain rows are
English prose (docstrings, the bundled language reference), C headers and, where the machine
has them, Perl modules. The targets are Python functions from standard library modules that
supply no pool rows. For K = 1% and 10% of the pool it prints, per mode (the prefilter and
the cascade; early exit has its own grid, early_exit.py): recall of the exact
top-K, precision@K of the in-domain label, pair compressions per candidate, and the
compressions saved against exact (every candidate against every target).

    .venv/bin/python benchmarks/evaluate_modes.py [--rows 20000] [--targets 164]
"""

from __future__ import annotations

import argparse
import random
import sysconfig
import time
from pathlib import Path

import numpy as np

from zipfit_ray.demo import (
    c_headers,
    documentation_prose,
    is_held_out,
    python_functions,
    python_sources,
)
from zipfit_ray.kernel.alignment import prepare_targets, score
from zipfit_ray.modes.prefilter import DictionaryPrefilter

PERL_DIRS = ("/usr/share/perl5", "/usr/lib/x86_64-linux-gnu/perl-base", "/usr/share/perl")


def perl_modules(lines_per_chunk: int = 30) -> list[str]:
    chunks = []
    for root in PERL_DIRS:
        for path in sorted(Path(root).rglob("*.pm")) if Path(root).is_dir() else []:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            for start in range(0, len(lines), lines_per_chunk):
                chunk = "\n".join(lines[start : start + lines_per_chunk])
                if len(chunk) >= 200:
                    chunks.append(chunk[:4000])
    return chunks


def labelled_pool(rows: int, num_targets: int, seed: int = 0):
    """(texts, in_domain flags, targets): 10% in-domain Python, the rest split evenly
    between the out-of-domain sources available."""
    paths = sysconfig.get_paths()
    stdlib = Path(paths["stdlib"])
    modules = python_sources(stdlib)
    functions = python_functions(modules)
    rng = random.Random(seed)
    held_out = [text for module, text in functions if is_held_out(module)]
    in_domain = [text for module, text in functions if not is_held_out(module)]
    others = [
        [text for _, text in documentation_prose(stdlib, modules)],
        [text for _, text in c_headers(Path(paths["include"]))],
        perl_modules(),
    ]
    others = [source for source in others if source]
    chosen = [(t, True) for t in rng.sample(in_domain, rows // 10)]
    per_source = (rows - len(chosen)) // len(others)
    for source in others:
        chosen += [(t, False) for t in rng.choices(source, k=per_source)]
    rng.shuffle(chosen)
    texts = [t.encode() for t, _ in chosen]
    labels = np.array([label for _, label in chosen])
    targets = [t.encode() for t in rng.sample(held_out, num_targets)]
    return texts, labels, targets


def ranked(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores, ties by position (the job's order)."""
    valid = np.flatnonzero(~np.isnan(scores))
    order = valid[np.lexsort((valid, -scores[valid]))]
    return order[:k]


def print_row(fraction, mode, chosen, per_candidate, k, truth, labels, m) -> None:
    chosen = chosen.tolist()
    recall = len(truth & set(chosen)) / k
    precision = labels[chosen].mean() if chosen else 0.0
    print(
        f"| {fraction:.0%} | {mode} | {recall:.4f} | {precision:.3f} "
        f"| {per_candidate:.1f} | {m / per_candidate:.1f}x |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--targets", type=int, default=164)
    parser.add_argument("--compressor", default="gzip")
    args = parser.parse_args()

    texts, labels, targets = labelled_pool(args.rows, args.targets)
    prepared = prepare_targets(targets, args.compressor)
    n, m = len(texts), len(targets)
    start = time.perf_counter()
    exact = score(texts, prepared)
    exact_seconds = time.perf_counter() - start
    print(
        f"pool: {n:,} rows ({labels.mean():.0%} in-domain Python), {m} targets, "
        f"{args.compressor} level {prepared.level}; exact scoring {exact_seconds:.0f} s\n"
    )

    start = time.perf_counter()
    prefilters = {
        kind: DictionaryPrefilter(targets, kind).score(texts) for kind in ("zlib", "zstd")
    }
    prefilter_seconds = (time.perf_counter() - start) / 2

    print(
        "| K | mode | recall of exact top-K | precision@K (in-domain) "
        "| pair compressions / candidate | fewer compressions |"
    )
    print("|---|---|---|---|---|---|")
    for fraction in (0.01, 0.10):
        k = int(n * fraction)
        truth = set(ranked(exact, k).tolist())

        def row(mode, chosen, per_candidate, k=k, truth=truth, fraction=fraction) -> None:
            print_row(fraction, mode, chosen, per_candidate, k, truth, labels, m)

        row("exact", ranked(exact, k), m)
        for kind, prefilter_scores in prefilters.items():
            row(f"prefilter ({kind} dictionary)", ranked(prefilter_scores, k), 2)
            for factor in (2, 5, 10):
                shortlist = ranked(prefilter_scores, factor * k)
                rescored = np.full(n, np.nan)
                rescored[shortlist] = exact[shortlist]  # the exact kernel on the shortlist
                row(
                    f"cascade ({kind}), c={factor}", ranked(rescored, k), 2 + len(shortlist) * m / n
                )
    print(
        f"\nprefilter: {n / prefilter_seconds:,.0f} candidates/s on one core "
        f"(exact: {n / exact_seconds:,.0f})"
    )


if __name__ == "__main__":
    main()
