"""Continual learning (issue 28): EWC + replay beat naive fine-tuning on split digits, the formulas
(EWC's penalty, the controller's moves, reservoir memory, forgetting) by hand, and the neuro
through a real kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.continual.controller import MetaParameterController  # noqa: E402
from neuro.neuros.learning.continual.methods import ReplayMemory, ewc_penalty  # noqa: E402
from neuro.neuros.learning.continual.neuro import ContinualNeuro  # noqa: E402
from neuro.neuros.learning.continual.sequence import final_accuracy, forgetting  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_ewc_and_replay_beat_naive_fine_tuning_on_split_digits():
    """The quick experiment: accuracy over all 5 tasks after the last beats naive by the margin."""
    outcome = run_experiment("continual", quick=True)
    assert outcome.beats(), outcome
    assert outcome.extra["ewc_replay_forgetting"] < outcome.extra["naive_forgetting"]


def test_ewc_penalty_is_half_lambda_fisher_weighted_squared_distance():
    """sum_i lambda/2 F_i (theta_i - theta*_i)^2 on a one-layer net equals the hand sum."""
    import torch

    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight[:] = torch.tensor([[1.0, 2.0]])
        net.bias[:] = torch.tensor([0.5])
    fisher = {"weight": torch.tensor([[0.1, 0.2]]), "bias": torch.tensor([0.3])}
    anchor = {"weight": torch.tensor([[0.0, 1.0]]), "bias": torch.tensor([0.0])}
    expected = 0.5 * 4.0 * (0.1 * 1.0 + 0.2 * 1.0 + 0.3 * 0.25)
    assert expected == pytest.approx(float(ewc_penalty(net, fisher, anchor, 4.0).detach()))


def test_the_controller_cuts_lr_on_a_rising_loss_and_raises_lambda_on_forgetting():
    """Current loss up -> lr halves; down -> lr x1.1; old loss up -> lambda doubles, down -> x0.9;
    lr stays within its bounds."""
    c = MetaParameterController(lr=0.1, reg=10.0, lr_max=0.06)
    assert (0.1, 10.0) == c.update(1.0, 1.0)  # a first epoch: no trend yet
    assert (0.05, 20.0) == pytest.approx(c.update(1.2, 1.5))
    assert (0.055, 18.0) == pytest.approx(c.update(0.5, 1.0))
    assert 0.06 == pytest.approx(c.update(0.4, 0.9)[0])  # capped at lr_max


def test_reservoir_memory_holds_at_most_its_size_and_forgetting_is_best_minus_final():
    """200 examples into a memory of 50 keep 50 of them; forgetting of a known matrix."""
    memory = ReplayMemory(50, seed=0)
    memory.add(np.arange(200, dtype=np.float32)[:, None], np.arange(200))
    x, y = memory.arrays()
    assert (50, 200, 50) == (len(memory), memory.seen, len(set(y.tolist())))
    matrix = [[1.0, 0.0, 0.0], [0.6, 0.9, 0.0], [0.5, 0.3, 0.8]]
    assert (pytest.approx(0.5333, abs=1e-3), pytest.approx(0.55)) == (final_accuracy(matrix), forgetting(matrix))


def test_the_neuro_learns_tasks_in_a_job_steps_online_and_round_trips_its_weights(tmp_path):
    """Train (digits, 2 tasks of 5 classes, 4 epochs each) as a job; Step, Predict, Evaluate; Snapshot -> Restore."""
    tiny = {"classes_per_task": 5, "hidden": 32, "fisher_samples": 20, "memory_size": 40}
    rng = np.random.default_rng(0)
    x, y = P.Array.of(rng.random((8, 8, 8)).astype(np.float32)), P.Array.of(rng.integers(0, 10, 8))
    d, res, step, pred, ev, snap, restored, again = call_all(
        tmp_path, inproc(ContinualNeuro), P.Describe(), P.Train(epochs=4, options=tiny, wait=True),
        P.Step(x=x, y=y), P.Predict(x=x), P.Evaluate(dataset="digits"), P.Snapshot(inline=True),
        lambda answers: P.Restore(weights=answers[-1]), P.Predict(x=x))
    assert ("learning.continual", ["classify"], "learning.continual") == (d.name, d.tasks, d.weight_format)
    assert 2 == res.epochs
    assert {"test_accuracy", "test_forgetting", "test_accuracy_task1"} <= res.metrics.keys()
    assert res.metrics["test_accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert 40.0 == step.metrics["remembered"]
    assert (8, 10) == tuple(pred.scores.numpy().shape)
    assert ev.metrics["accuracy"] > 0.3
    assert 1 == restored.version
    np.testing.assert_allclose(pred.scores.numpy(), again.scores.numpy(), atol=1e-6)
