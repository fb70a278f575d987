"""One training run (torch, no Ray): every test byte scored once, the same seed gives the
same model and data order (so the same bits per byte), and the schedule."""

import math

import numpy as np
import pytest

from tests.evaluation.conftest import TINY
from zipfit_ray.evaluation import training
from zipfit_ray.evaluation.model import TEXT_START

TEXTS = [b"def f(x):\n    return x\n" * 3, b"print('hello')\n", b"x = 1\n" * 40]


def test_every_test_byte_is_predicted_once():
    inputs, targets = training.test_windows(TEXTS, context=16)
    assert inputs.shape == targets.shape and inputs.shape[1] == 16
    assert int((targets != training.IGNORED).sum()) == sum(len(t) for t in TEXTS)
    assert inputs[0, 0] == TEXT_START and targets[0, 0] == TEXTS[0][0]


def test_the_stream_marks_where_each_text_starts():
    stream = training.token_stream([b"ab", b"c"])
    assert stream.tolist() == [TEXT_START, ord("a"), ord("b"), TEXT_START, ord("c")]


def train(seed):
    corpora = {"x": training.token_stream(TEXTS * 5)}
    return training.train(training.Run("x", seed), corpora, training.test_windows(TEXTS, 32), TINY)


def test_a_seed_gives_the_same_bits_per_byte_every_time():
    first, again, other = train(0), train(0), train(1)
    assert first.bits_per_byte == again.bits_per_byte
    assert first.curve == again.curve and first.training_curve == again.training_curve
    assert other.bits_per_byte != first.bits_per_byte
    assert [step for step, _ in first.curve] == TINY.evaluation_steps() == [20, 40]
    assert first.bits_per_byte < math.log2(256)  # it learnt something


def test_the_learning_rate_warms_up_then_decays_to_a_tenth():
    rates = [training.learning_rate(step, TINY) for step in range(TINY.steps)]
    peak = TINY.learning_rate
    assert rates[0] < rates[1] <= peak and max(rates) == pytest.approx(peak)
    assert rates[-1] == pytest.approx(0.1 * peak, rel=0.05)
    assert np.all(np.diff(rates[rates.index(max(rates)) :]) <= 0)
