"""Reinforcement learning (issue 28): Q-learning beats a random policy on the grid world (and
policy gradient and SAC beat theirs), the seed's updates by hand, and the neuro through a real kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402
from neuro.neuros.learning.reinforcement.gridworld import GridWorld, shortest_path_actions  # noqa: E402
from neuro.neuros.learning.reinforcement.neuro import ReinforcementNeuro  # noqa: E402
from neuro.neuros.learning.reinforcement.policy_gradient import discounted_returns  # noqa: E402
from neuro.neuros.learning.reinforcement.sac import critic_target  # noqa: E402
from neuro.neuros.learning.reinforcement.tabular import q_update  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_q_learning_beats_a_random_policy_and_so_do_policy_gradient_and_sac():
    """The quick experiment: Q-learning's return beats the random policy's by the margin;
    policy gradient (grid) and SAC (point mass) beat their random policies too."""
    outcome = run_experiment("reinforcement", quick=True)
    assert outcome.beats(), outcome
    e = outcome.extra
    assert e["policy_gradient_return"] > e["grid_random_return"] + 1.0, e
    assert e["sac_pointmass_return"] > e["pointmass_random_return"] + 5.0, e


def test_the_q_update_moves_toward_the_bootstrapped_target():
    """Q(s,a) += alpha (r + gamma max Q(s') - Q(s,a)); no bootstrap at the end."""
    q = np.array([[0.0, 1.0], [2.0, 4.0]])
    q_update(q, 0, 0, 1.0, 1, False, alpha=0.5, gamma=0.5)
    assert 0.5 * (1.0 + 0.5 * 4.0) == q[0, 0]
    q_update(q, 0, 1, 3.0, 1, True, alpha=0.5, gamma=0.5)
    assert 1.0 + 0.5 * (3.0 - 1.0) == q[0, 1]


def test_discounted_returns_and_the_soft_critic_target():
    """G_t = sum gamma^k r_{t+k+1}; y = r + gamma (min Q' - alpha log pi)."""
    import torch

    assert [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4.0] == discounted_returns([1.0, 2.0, 4.0], 0.5)
    y = critic_target(torch.tensor([1.0]), torch.tensor([3.0]), torch.tensor([2.0]), torch.tensor([-1.0]), 0.9, 0.5)
    assert pytest.approx(1.0 + 0.9 * (2.0 + 0.5)) == float(y)


def test_the_expert_path_reaches_the_goal_around_the_walls():
    """Following the breadth-first actions from the start ends at the goal in fewer than n^2 steps."""
    world = GridWorld(size=7, walls=0.3, seed=3)
    best, pos = shortest_path_actions(world), world.start
    for _ in range(49):
        if pos == world.goal:
            break
        pos = world.moved(pos, int(best[pos]))
    assert world.goal == pos


def test_the_neuro_learns_the_grid_world_predicts_actions_and_round_trips(tmp_path):
    """Train Q-learning as a job, Evaluate against random, Predict greedy actions, Snapshot/Restore."""
    states = np.arange(10)
    d, res, ev, first, snap, restored, again = call_all(
        tmp_path, inproc(ReinforcementNeuro), P.Describe(), P.Train(epochs=4, options={"grid_size": 5}, wait=True),
        P.Evaluate(dataset="env"), P.Predict(x=P.Array.of(states)), P.Snapshot(inline=True),
        lambda a: P.Restore(weights=a[-1]), P.Predict(x=P.Array.of(states)))
    assert "learning.reinforcement" == d.name
    assert res.metrics["mean_return"] > res.metrics["random_return"]
    assert ev.metrics["mean_return"] > 0  # the goal is reached: +1 outweighs the step costs
    assert 1 == restored.version
    assert first.labels == again.labels
