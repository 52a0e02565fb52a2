"""Unified learning (issue 29): a gated mixture beats the best single learner where learners win
on different inputs, the log mixture objective by hand, and the neuro through a real kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared: one thread, as the benchmark runs it

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402
from neuro.neuros.learning.unified.model import mixture_loss  # noqa: E402
from neuro.neuros.learning.unified.neuro import UnifiedNeuro  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_the_gated_mixture_beats_the_best_single_learner():
    """Quick experiment: the mixture's test MSE is below the best single learner's by the margin."""
    outcome = run_experiment("unified", quick=True)
    assert outcome.beats(), outcome
    assert outcome.extra["hard_gate_mse"] < outcome.baseline


def test_the_mixture_loss_is_minus_log_of_the_gate_weighted_likelihoods():
    """g = softmax([0, ln 3]) = (1/4, 3/4), L = (0.5, 2) at sigma 1: -log(e^-0.5 / 4 + 3 e^-2 / 4)."""
    logits = torch.tensor([[0.0, math.log(3.0)]])
    preds = torch.tensor([[[1.0], [2.0]]])  # (B, E, K): the learners' answers 1 and 2 for y = 0
    expected = -math.log(0.25 * math.exp(-0.5) + 0.75 * math.exp(-2.0))
    assert expected == pytest.approx(float(mixture_loss(logits, preds, torch.zeros(1, 1), 1.0)))


def test_the_neuro_trains_a_mixture_in_a_job_and_round_trips_its_weights(tmp_path):
    """Train on the generated task; Predict with gate scores; Evaluate; Snapshot -> Restore."""
    x = P.Array.of(np.linspace(-2, 2, 16, dtype=np.float32)[:, None])
    d, res, pred, ev, snap, restored, again = call_all(
        tmp_path, inproc(UnifiedNeuro), P.Describe(), P.Train(epochs=2, wait=True), P.Predict(x=x),
        P.Evaluate(dataset="piecewise"), P.Snapshot(inline=True), lambda answers: P.Restore(weights=answers[-1]),
        P.Predict(x=x))
    assert ("learning.unified", ["regress"]) == (d.name, d.tasks)
    assert 2 == res.epochs and res.metrics["test_mse"] < 0.1
    assert (16, 3) == tuple(pred.scores.numpy().shape) and (16,) == tuple(pred.y.numpy().shape)
    assert ev.metrics["mse"] < 0.1
    assert 1 == restored.version
    np.testing.assert_allclose(pred.y.numpy(), again.y.numpy(), atol=1e-6)
