"""The evaluate driver: check everything that can be checked before Ray starts (torch, the
output, the test texts, every selection's parts, the pool's footers), then on Ray read each
selection cut to the budget and sample the pool for the random baseline (tasks), train
every entry x seed (a task each, side by side), and write evaluation.json, then
evaluation.html."""

from __future__ import annotations

import importlib
import time
from typing import Any

import numpy as np

from zipfit_ray import storage
from zipfit_ray.errors import ZipfitError
from zipfit_ray.evaluation import page, pool_sample, results, selections
from zipfit_ray.evaluation.corpus import Corpus
from zipfit_ray.evaluation.settings import BASELINE, EvaluateConfig
from zipfit_ray.job.plan import read_tokenizer
from zipfit_ray.job.runtime import RayCluster, cluster_cpus, run_on_ray
from zipfit_ray.progress import Progress, log
from zipfit_ray.storage import outputs

EXTRA = "pip install 'zipfit-ray[evaluate]'"
RESULTS = "evaluation.json"  # written first: it marks the pair as zipfit-ray's
PAGE = "evaluation.html"


def require_torch() -> None:
    """torch is an optional extra: without it, one line that says how to get it."""
    try:
        importlib.import_module("torch")
    except ImportError as exc:
        raise ZipfitError(f"evaluate trains models with torch, an optional extra: {EXTRA}") from exc


def run_evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Train on every selection and on a random sample of the pool; returns what is also
    written to evaluation.json. Joins the Ray already initialized in this process, else
    the one at ``config.address``, else starts a local one."""
    started = time.monotonic()
    require_torch()
    from zipfit_ray.evaluation import training  # torch, now known to be there

    options = config.storage_options
    _check_out(config.out, options)
    test_texts = storage.read_targets(config.test, config.test_column, options, flag="--test")
    test = training.test_windows(test_texts, config.training.model.context)
    tokenizer_json = read_tokenizer(config.tokenizer, options)
    planned = [
        selections.plan(name, uri, config.text_column, options)
        for name, uri in config.selections.items()
    ]
    scan = pool_sample.plan(config.pool, config.text_column, options)

    def work() -> tuple[dict[str, Corpus], list[results.RunResult]]:
        cluster = RayCluster(None, options)
        corpora: dict[str, Corpus] = {}
        for selection in planned:
            corpora |= selections.corpora(
                cluster,
                selection,
                config.budget_tokens,
                config.per_set,
                config.text_column,
                tokenizer_json,
            )
        corpora[BASELINE] = pool_sample.sample(
            cluster,
            scan,
            config.budget_tokens,
            config.sample_seed,
            config.text_column,
            tokenizer_json,
        )
        return corpora, _train(corpora, test, config)

    corpora, runs = run_on_ray(config.address, config.num_cpus, work)
    evaluation = {
        "results": results.entries(corpora, runs),
        "settings": config.public_dict(),
        "test": {
            "uri": config.test,
            "texts": len(test_texts),
            "bytes": sum(len(t) for t in test_texts),
        },
        "seconds": round(time.monotonic() - started, 3),
    }
    outputs.write_owned_json(storage.join(config.out, RESULTS), evaluation, "--out", options)
    page.write_page(storage.join(config.out, PAGE), evaluation, options)
    return evaluation


def _check_out(out: str, options: dict[str, Any]) -> None:
    """--out takes evaluation.json and evaluation.html; it must hold no such files that
    zipfit-ray did not write (the page is ours if the results beside it are)."""
    fs, path = storage.filesystem(out, options)
    if fs.isfile(path):
        raise ZipfitError(f"--out: {out} is a file; give a directory")
    results_uri, page_uri = storage.join(out, RESULTS), storage.join(out, PAGE)
    outputs.check_owned(results_uri, "--out", options)
    if storage.exists(page_uri, options) and not storage.exists(results_uri, options):
        raise ZipfitError(
            f"--out: {page_uri} exists and zipfit-ray did not write it (no {RESULTS} of "
            "ours beside it); choose another directory"
        )


def _train(
    corpora: dict[str, Corpus], test: tuple[np.ndarray, np.ndarray], config: EvaluateConfig
) -> list[results.RunResult]:
    """Every entry x seed trained in a task of its own (--cpus-per-run CPUs each)."""
    from zipfit_ray.evaluation import training

    settings = config.training
    if settings.threads > cluster_cpus():
        raise ZipfitError(
            f"--cpus-per-run: {settings.threads}, but the cluster has {cluster_cpus()} CPUs"
        )
    streams = {}
    for name, corpus in corpora.items():
        if corpus.short:
            log(
                f"warning: {name} holds {corpus.available_tokens:,} tokens, fewer than "
                f"--budget-tokens {config.budget_tokens:,}: all of it is used"
            )
        streams[name] = training.token_stream(corpus.texts)
        if len(streams[name]) <= settings.model.context:
            raise ZipfitError(
                f"{name}: {corpus.bytes:,} bytes within the budget, fewer than --context "
                f"{settings.model.context} + 1: raise --budget-tokens or lower --context"
            )
    runs = [training.Run(name, seed) for name in corpora for seed in range(config.seeds)]
    log(
        f"evaluate: {len(runs)} runs ({len(corpora)} entries x {config.seeds} seeds) of "
        f"{settings.steps:,} steps, {settings.threads} CPU(s) each"
    )
    cluster = RayCluster(None, config.storage_options, task_cpus=settings.threads)
    progress = Progress("evaluate", len(runs) * settings.steps, "steps")
    found = []
    for _, result in cluster.map(training.train, runs, streams, test, settings):
        found.append(result)
        note = f"{result.name} seed {result.seed}: {result.bits_per_byte:.3f} bits/byte"
        progress.advance(settings.steps, note)
    progress.close()
    return found
