"""Downstream quality of selections (issue 32): what a model trained on each selection makes
of held-out target texts, as the paper measures it (select with half of the targets, train,
score on the other half), with `zipfit-ray evaluate`.

For each target domain of a harness pool (pools.py: Python functions, SymPy docstrings),
the domain's held-out targets are split in two halves (seeded): the selection half is the
targets of every selection, the test half is evaluate's --test. The entries:
- zstd-3: the default, zstd level 3, conditional joint (`zipfit-ray select`);
- gzip-9: the paper's setting, gzip level 9, concat;
- lz4-block-0: lz4-block level 0, concat (the previous default);
- in-domain: the pool's rows of the domain in a seeded random order (a perfect label
  filter, no ranking within the domain);
- dsir: DSIR (hashed n-gram importance resampling, `data-selection`, benchmark-only), rows
  in its Gumbel top-k order; only where the package is installed (benchmarks/downstream.sh);
- random: evaluate's own baseline, a seeded random sample of the pool;
- with --cover F ...: zstd-3 with --cover F, every target item's own best rows first (issue
  33), selected at the budget itself (evaluate's cut in score order would drop them).
--entries keeps only the named entries (random is always trained).
Each selection is cut to --budget-tokens in its own order and trained on by evaluate (same
model, steps and seeds for all). The table gives bits per byte on the test half (mean over
seeds, sd, each seed), the difference from random, and the in-domain share of the rows each
trained on.

    ./benchmarks/downstream.sh --steps 200   # the README's run (makes .venv-downstream)

Training takes the evaluate defaults but for --steps (1,000 there): on 2 shared cores the
README's run took 200 steps, some 50 minutes for both domains.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
from pools import DOMAINS, POOLS, build_pools

from zipfit_ray import SelectConfig, run_select
from zipfit_ray.evaluation import EvaluateConfig, ModelSettings, TrainingSettings, run_evaluate
from zipfit_ray.evaluation.corpus import within_budget
from zipfit_ray.selection.tokens import TokenCounter

SELECTORS = {  # entry -> (compressor, level, joint)
    "zstd-3": ("zstd", 3, "conditional"),
    "gzip-9": ("gzip", 9, "concat"),
    "lz4-block-0": ("lz4-block", 0, "concat"),
}
TARGETS = 150  # held-out targets per domain: half to select with, half to test on
DSIR_SEED = 0
SELECTED_BUDGETS = 2  # select takes twice the budget: evaluate cuts each to it in its order


def write_jsonl(path: Path, texts: list[bytes]) -> None:
    path.write_text("".join(json.dumps({"text": t.decode()}) + "\n" for t in texts))


def dsir_order(pool_path: Path, targets_path: Path, cache: Path) -> np.ndarray | None:
    """The pool's rows in DSIR's order (its resample's: log importance weight + Gumbel
    noise, best first, rows under 100 words left out), or None where `data-selection` is
    not installed."""
    try:
        from data_selection import HashedNgramDSIR
    except ImportError:
        return None
    dsir = HashedNgramDSIR(
        raw_datasets=[str(pool_path)],
        target_datasets=[str(targets_path)],
        cache_dir=str(cache),
        num_proc=1,
    )
    dsir.fit_importance_estimator(num_tokens_to_fit="auto")
    dsir.compute_importance_weights()
    weights = np.load(cache / "log_importance_weights" / "0.npy")
    # as its resample: rows under its min_example_length (100 words) are never taken
    kept = np.flatnonzero(
        dsir.perexample_metadata_filter(np.load(cache / "perexample_metadata" / "0.npy"))
    )
    keys = weights[kept] + np.random.default_rng(DSIR_SEED).gumbel(size=len(kept))
    return kept[np.argsort(-keys, kind="stable")]


def in_domain_share(texts: list[bytes], labels: np.ndarray, domain: str, budget: int) -> float:
    """The share of the rows within the budget (in the given order) that are the domain's."""
    fitting = within_budget(TokenCounter().count(texts), budget, "share")
    return float((labels[:fitting] == domain).mean())


def ranked_selection(out: Path) -> tuple[list[bytes], np.ndarray]:
    """A select output's texts and labels, best first (ties in pool order)."""
    table = pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read()
    ranked = np.argsort(-table.column("zipfit_score").to_numpy(), kind="stable")
    texts = [t.encode() for t in table.column("text").to_pylist()]
    return [texts[i] for i in ranked], table.column("label").to_numpy(zero_copy_only=False)[ranked]


def run_domain(args, pool, domain: str, targets: list[bytes], work: Path) -> list[dict]:
    halves = random.Random(args.seed).sample(targets, len(targets))
    select_half, test_half = halves[: len(halves) // 2], halves[len(halves) // 2 :]
    root = work / domain
    root.mkdir()
    write_jsonl(root / "targets.jsonl", select_half)
    write_jsonl(root / "test.jsonl", test_half)
    pool_dir = work / "pool"
    labels = pool.labels
    selections, shares = {}, {}
    runs = {name: (setting, {}) for name, setting in SELECTORS.items()}
    runs |= {f"cover-{round(f * 100)}": (SELECTORS["zstd-3"], {"cover": f}) for f in args.cover}
    for name, ((compressor, level, joint), more) in runs.items():
        if args.entries and name not in args.entries and not more:  # --cover's: asked for
            continue
        out = root / name
        run_select(
            SelectConfig.from_flags(
                pool=(str(pool_dir),),
                targets=str(root / "targets.jsonl"),
                out=str(out),
                # evaluate cuts each to the budget in score order; --cover's rows are chosen
                # for the budget itself
                budget_tokens=(1 if more else SELECTED_BUDGETS) * args.budget_tokens,
                compressor=compressor,
                level=level,
                joint=joint,
                **more,
            )
        )
        selections[name] = str(out)
        texts, chosen_labels = ranked_selection(out)
        shares[name] = in_domain_share(texts, chosen_labels, domain, args.budget_tokens)
    orders = {
        "in-domain": np.random.default_rng(args.seed).permutation(np.flatnonzero(labels == domain))
    }
    wanted = not args.entries or "dsir" in args.entries
    dsir = (
        dsir_order(work / "pool.jsonl", root / "targets.jsonl", root / "dsir-cache")
        if wanted
        else None
    )
    if dsir is not None:
        orders["dsir"] = dsir
    for name, rows in orders.items():
        if args.entries and name not in args.entries:
            continue
        (root / name).mkdir()
        write_jsonl(root / name / "part-00000.jsonl", [pool.texts[i] for i in rows])
        selections[name] = str(root / name)
        shares[name] = in_domain_share(
            [pool.texts[i] for i in rows], labels[rows], domain, args.budget_tokens
        )
    evaluation = run_evaluate(
        EvaluateConfig(
            selections=selections,
            pool=(str(pool_dir),),
            test=str(root / "test.jsonl"),
            budget_tokens=args.budget_tokens,
            out=str(root / "evaluation"),
            seeds=args.seeds,
            training=TrainingSettings(
                steps=args.steps,
                model=ModelSettings(args.layers, args.width, args.heads, args.context),
            ),
        )
    )
    return [
        {**r, "domain": domain, "in_domain_share": shares.get(r["name"])}
        for r in evaluation["results"]
    ]


def print_table(rows: list[dict]) -> None:
    print(
        "| domain | entry | bits/byte (mean) | sd | per seed | minus random | seeds better "
        "than random | in-domain share | rows | tokens |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        share = "-" if r["in_domain_share"] is None else f"{r['in_domain_share']:.2f}"
        seeds = " / ".join(f"{b:.3f}" for b in r["bits_per_byte_seeds"])
        print(
            f"| {r['domain']} | {r['name']} | {r['bits_per_byte']:.3f} | "
            f"{r['bits_per_byte_std']:.3f} | {seeds} | {r['minus_random']:+.3f} | "
            f"{r['seeds_better_than_random']}/{len(r['seeds'])} | {share} | {r['rows']:,} | "
            f"{r['tokens']:,} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", choices=POOLS, default="natural")
    parser.add_argument("--rows", type=int, default=6000, help="rows of the pool")
    parser.add_argument("--budget-tokens", type=int, default=40_000)
    parser.add_argument("--steps", type=int, default=TrainingSettings.steps)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--layers", type=int, default=ModelSettings.layers)
    parser.add_argument("--width", type=int, default=ModelSettings.width)
    parser.add_argument("--heads", type=int, default=ModelSettings.heads)
    parser.add_argument("--context", type=int, default=ModelSettings.context)
    parser.add_argument("--domains", nargs="+", choices=DOMAINS, default=list(DOMAINS))
    parser.add_argument("--seed", type=int, default=0, help="the target halves, in-domain order")
    parser.add_argument("--cover", type=float, nargs="*", default=[], metavar="F")
    parser.add_argument("--entries", nargs="*", default=[], help="only these (and random)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure here")
    parser.add_argument("--from-json", metavar="FILE", help="print the table of a saved run")
    args = parser.parse_args()
    if args.from_json:
        print_table(json.loads(Path(args.from_json).read_text()))
        return
    ray.init(address="local", include_dashboard=False)  # one Ray for every select and evaluate
    pools, targets = build_pools(args.rows, TARGETS)
    pool = pools[args.pool]
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        (work / "pool").mkdir()
        table = pa.table({"text": [t.decode() for t in pool.texts], "label": pool.labels})
        pq.write_table(table, work / "pool" / "part-0.parquet", row_group_size=500)
        write_jsonl(work / "pool.jsonl", pool.texts)
        for domain in args.domains:
            rows += run_domain(args, pool, domain, targets[domain], work)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))
    print(
        f"\npool {args.pool}, {len(pool.texts):,} rows; budget {args.budget_tokens:,} tokens; "
        f"{args.steps} steps, {args.seeds} seeds, {args.layers} layers, width {args.width}, "
        f"context {args.context}\n"
    )
    print_table(rows)


if __name__ == "__main__":
    main()
