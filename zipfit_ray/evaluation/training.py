"""One run: a fresh model trained on one corpus with one seed, scored in bits per byte on the
held-out texts along the way. Every run of an evaluation has the same model, optimizer,
schedule and steps; only the data and the seed differ. The seed fixes the weights' start
and the order of the training windows, so a run is repeatable (on the same threads).

Imports torch: only the evaluation's tasks import this module (driver.py checks first)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from zipfit_ray.evaluation.model import TEXT_START, ByteTransformer
from zipfit_ray.evaluation.results import RunResult
from zipfit_ray.evaluation.settings import TrainingSettings

IGNORED = -1  # a target position that is padding, not a byte
EVALUATION_BATCH = 64
WARMUP_SHARE = 0.05  # of the steps, the learning rate rises linearly
FINAL_RATE_SHARE = 0.1  # of the peak, where the cosine decay ends
GRADIENT_CLIP = 1.0


@dataclass(frozen=True)
class Run:
    """One task: the entry (a selection, a set of one, or the random baseline) and a seed."""

    name: str
    seed: int


def token_stream(texts: Sequence[bytes]) -> np.ndarray:
    """The texts as one token array, each text after a TEXT_START token."""
    pieces = []
    for text in texts:
        pieces += [np.array([TEXT_START], np.uint16), np.frombuffer(text, np.uint8)]
    return np.concatenate(pieces).astype(np.uint16) if pieces else np.empty(0, np.uint16)


def test_windows(texts: Sequence[bytes], context: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), each (windows, context): every test text, after TEXT_START, cut into
    windows of ``context`` predictions, so that each byte is predicted exactly once (padding
    targets are IGNORED). A window starts afresh: bytes past the first window of a long text
    see only the bytes of their own window."""
    inputs, targets = [], []
    for text in texts:
        tokens = np.concatenate([[TEXT_START], np.frombuffer(text, np.uint8)]).astype(np.int64)
        for start in range(0, len(tokens) - 1, context):
            window = tokens[start : start + context + 1]
            padding = context + 1 - len(window)
            inputs.append(np.pad(window[:-1], (0, padding)))
            targets.append(np.pad(window[1:], (0, padding), constant_values=IGNORED))
    return np.array(inputs, np.int64), np.array(targets, np.int64)


def learning_rate(step: int, settings: TrainingSettings) -> float:
    """Linear warm-up, then cosine decay to FINAL_RATE_SHARE of the peak."""
    warmup = max(1, round(WARMUP_SHARE * settings.steps))
    if step < warmup:
        return settings.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, settings.steps - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return settings.learning_rate * (FINAL_RATE_SHARE + (1 - FINAL_RATE_SHARE) * cosine)


def bits_per_byte(model: ByteTransformer, windows: tuple[np.ndarray, np.ndarray]) -> float:
    """The model's mean loss on every test byte, in bits."""
    inputs, targets = (torch.tensor(a) for a in windows)  # a copy: Ray shares it read-only
    model.eval()
    nats = 0.0
    with torch.no_grad():
        for start in range(0, len(inputs), EVALUATION_BATCH):
            logits = model(inputs[start : start + EVALUATION_BATCH])
            nats += functional.cross_entropy(
                logits.flatten(0, 1),
                targets[start : start + EVALUATION_BATCH].flatten(),
                ignore_index=IGNORED,
                reduction="sum",
            ).item()
    model.train()
    return nats / math.log(2) / int((targets != IGNORED).sum())


def train(
    run: Run,
    corpora: dict[str, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    settings: TrainingSettings,
) -> RunResult:
    """Train a fresh model on ``corpora[run.name]`` (a token_stream) for settings.steps steps
    of random windows, and score it on ``test`` (test_windows) at each evaluation step."""
    started = time.perf_counter()
    torch.set_num_threads(settings.threads)
    torch.manual_seed(run.seed)
    model = ByteTransformer(settings.model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, betas=(0.9, 0.95))
    order = torch.Generator().manual_seed(run.seed)
    stream = torch.from_numpy(corpora[run.name].astype(np.int64))
    context = settings.model.context
    offsets = torch.arange(context + 1)
    evaluations = set(settings.evaluation_steps())
    curve, training_curve, losses = [], [], []
    for step in range(settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, settings)
        starts = torch.randint(0, len(stream) - context, (settings.batch_size,), generator=order)
        windows = stream[starts[:, None] + offsets]
        logits = model(windows[:, :-1])
        loss = functional.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRADIENT_CLIP)
        optimizer.step()
        losses.append(loss.item())
        if step + 1 in evaluations:
            training_curve.append((step + 1, float(np.mean(losses)) / math.log(2)))
            curve.append((step + 1, bits_per_byte(model, test)))
            losses = []
    return RunResult(
        run.name, run.seed, curve[-1][1], curve, training_curve, time.perf_counter() - started
    )
