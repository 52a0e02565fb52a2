"""Imitation learning (issue 28): the cloned policy predicts the expert's actions far better
than the majority action, cross-entropy by hand, the demonstrations, and the neuro through a
real kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.imitation.demos import OBS_DIM, demonstrations, observe  # noqa: E402
from neuro.neuros.learning.imitation.model import cross_entropy  # noqa: E402
from neuro.neuros.learning.imitation.neuro import ImitationNeuro  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_behaviour_cloning_beats_the_majority_action_on_unseen_maps():
    """The quick experiment: action accuracy beats the majority action's by the margin, and the
    cloned policy solves more held-out maps."""
    outcome = run_experiment("imitation", quick=True)
    assert outcome.beats(), outcome
    assert outcome.extra["cloned_success"] > outcome.extra["majority_success"], outcome.extra


def test_cross_entropy_is_minus_the_log_probability_of_the_expert_action():
    """L = -sum_i y_i log p_i with y one-hot: for logits (0, ln 3) and action 1, -log(3/4)."""
    import torch

    logits = torch.tensor([[0.0, math.log(3.0)]])
    assert pytest.approx(-math.log(0.75)) == float(cross_entropy(logits, torch.tensor([1])))


def test_each_demonstration_step_follows_a_shortest_path_and_sees_the_goal_offset():
    """The expert's episode from a map's start has as many steps as the grid distance at least,
    and every observation holds the window and the goal offset."""
    x, y, worlds = demonstrations(range(1), starts=1)
    world = worlds[0]
    assert (len(y), OBS_DIM) == x.shape
    assert len(y) >= abs(world.goal[0] - world.start[0]) + abs(world.goal[1] - world.start[1])
    np.testing.assert_allclose(observe(world, world.start), x[0])
    assert set(np.unique(y)) <= {0, 1, 2, 3}


def test_the_neuro_clones_the_expert_and_round_trips(tmp_path):
    """Train on generated demonstrations as a job, Evaluate, Snapshot/Restore give the same answers."""
    x = np.random.default_rng(0).random((4, OBS_DIM)).astype(np.float32)
    d, res, first, snap, restored, again = call_all(
        tmp_path, inproc(ImitationNeuro), P.Describe(), P.Train(epochs=5, options={"maps": 40, "lr": 3e-3}, wait=True),
        P.Predict(x=P.Array.of(x)), P.Snapshot(inline=True), lambda a: P.Restore(weights=a[-1]),
        P.Predict(x=P.Array.of(x)))
    assert "learning.imitation" == d.name
    assert res.metrics["test_action_accuracy"] > 0.5
    assert 1 == restored.version
    np.testing.assert_allclose(first.scores.numpy(), again.scores.numpy(), atol=1e-6)
