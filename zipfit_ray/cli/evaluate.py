"""`zipfit-ray evaluate`: its flags and what it does with them (the downstream check:
zipfit_ray/evaluation). Nothing here imports torch or Ray: the command does, when it runs."""

from __future__ import annotations

import argparse
from typing import Any

from zipfit_ray.cli import commands, flags
from zipfit_ray.evaluation.settings import (
    EvaluateConfig,
    ModelSettings,
    TrainingSettings,
    parse_selections,
)

MODEL, TRAINING = ModelSettings(), TrainingSettings()  # the defaults, for the help


def add_parser(subcommands: Any) -> None:
    """The evaluate command and its flags, on `zipfit-ray`'s subcommands."""
    evaluate = subcommands.add_parser(
        "evaluate",
        help="train a small byte-level model on each selection (and on a random sample of the "
        "pool) and report bits per byte on held-out texts",
    )
    evaluate.add_argument(
        "--selections",
        nargs="+",
        required=True,
        metavar="NAME=DIR",
        help="selections to compare: a select --out (its part-* files), or one Parquet or "
        "JSONL file; each is cut to the budget in its own order (best first by zipfit_key, "
        "else zipfit_score, ties in file order; without either, file order)",
    )
    evaluate.add_argument(
        "--pool",
        nargs="+",
        required=True,
        metavar="URI",
        help="the pool the random baseline is sampled from (only the rows drawn are read)",
    )
    evaluate.add_argument(
        "--test", required=True, metavar="URI", help="held-out texts, in the targets' formats"
    )
    evaluate.add_argument(
        "--budget-tokens",
        type=int,
        required=True,
        metavar="N",
        help="every selection and the random sample: the first rows while their tokens fit in "
        "N (a selection holding less is used whole, with a warning)",
    )
    evaluate.add_argument(
        "--out", required=True, metavar="DIR", help="where evaluation.json and .html go"
    )
    evaluate.add_argument("--text-column", default="text", help="selection and pool column")
    evaluate.add_argument("--test-column", default="text", help="--test column or field")
    evaluate.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="a Hugging Face tokenizer.json to count the budget's tokens with (read from this "
        "path, never downloaded); default: select's built-in approximation",
    )
    evaluate.add_argument(
        "--per-set",
        action="store_true",
        help="a selection of named target sets (zipfit_target) is one entry per set, NAME/SET",
    )
    evaluate.add_argument(
        "--seeds", type=int, default=3, help="training seeds per entry (0, 1, ...; default 3)"
    )
    evaluate.add_argument(
        "--sample-seed", type=int, default=0, help="which pool rows the random baseline takes"
    )
    _add_training_flags(evaluate)
    flags.ray_flags(evaluate)
    evaluate.set_defaults(run=run)


def _add_training_flags(evaluate: argparse.ArgumentParser) -> None:
    """The model and its training: the same for every entry and seed."""
    for flag, default, kind, meaning in (
        ("--steps", TRAINING.steps, int, "training steps"),
        ("--batch-size", TRAINING.batch_size, int, "windows of --context + 1 bytes per step"),
        ("--learning-rate", TRAINING.learning_rate, float, "AdamW's peak learning rate"),
        ("--evaluations", TRAINING.evaluations, int, "test scores along the way (the curve)"),
        ("--layers", MODEL.layers, int, "transformer blocks"),
        ("--width", MODEL.width, int, "the model's width"),
        ("--heads", MODEL.heads, int, "attention heads (must divide --width)"),
        ("--context", MODEL.context, int, "bytes a prediction sees, at most"),
        ("--cpus-per-run", TRAINING.threads, int, "CPUs (torch threads) of each run's task"),
    ):
        evaluate.add_argument(
            flag, type=kind, default=default, help=f"{meaning} (default {default})"
        )


def run(args: argparse.Namespace) -> None:
    from zipfit_ray.evaluation import run_evaluate
    from zipfit_ray.evaluation.results import table

    model = ModelSettings(args.layers, args.width, args.heads, args.context)
    training = TrainingSettings(
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        evaluations=args.evaluations,
        threads=args.cpus_per_run,
        model=model,
    )
    config = EvaluateConfig(
        selections=parse_selections(args.selections),
        pool=tuple(args.pool),
        test=args.test,
        budget_tokens=args.budget_tokens,
        out=args.out,
        seeds=args.seeds,
        sample_seed=args.sample_seed,
        per_set=args.per_set,
        text_column=args.text_column,
        test_column=args.test_column,
        tokenizer=args.tokenizer,
        training=training,
        **commands.ray_options(args),
    )
    evaluation = run_evaluate(config)
    print(table(evaluation["results"]))
    print(f"-> {args.out} (evaluation.json, evaluation.html)")
