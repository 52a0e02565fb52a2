"""Curriculum learning (issue 28): the schedule reaches the target accuracy in fewer steps than
random order, the schedule keeps the seed's KL bound, and the neuro through a real kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.curriculum.neuro import CurriculumNeuro  # noqa: E402
from neuro.neuros.learning.curriculum.schedule import kl, stages  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_the_schedule_reaches_the_target_accuracy_in_fewer_steps_than_random_order():
    """The quick experiment: fewer SGD steps to the target with the schedule, by the margin."""
    outcome = run_experiment("curriculum", quick=True)
    assert outcome.beats(), outcome
    assert outcome.extra["max_kl_between_stages"] < 0.1


def test_every_stage_is_within_the_kl_bound_of_the_last_and_the_schedule_ends_uniform():
    """KL(D_{t+1} || D_t) < epsilon, easy first, the last stage uniform."""
    ranks = np.arange(100) / 100
    sched = stages(ranks, 0.05, sharpness=5.0)
    assert all(kl(b, a) < 0.05 for a, b in zip(sched, sched[1:]))
    np.testing.assert_allclose(np.full(100, 0.01), sched[-1])
    assert sched[0][0] > sched[0][-1] * 100  # e^5 more weight on the easiest
    assert len(stages(ranks, 0.01, sharpness=5.0)) > len(sched)  # a tighter bound, more stages


def test_kl_equals_the_hand_computation():
    """KL([0.5, 0.5] || [0.25, 0.75]) = 0.5 ln 2 + 0.5 ln(2/3)."""
    expected = 0.5 * np.log(2) + 0.5 * np.log(2 / 3)
    assert expected == pytest.approx(kl(np.array([0.5, 0.5]), np.array([0.25, 0.75])))


def test_the_neuro_trains_along_its_schedule_and_round_trips(tmp_path):
    """Train on the generated task, Evaluate, Snapshot/Restore give the same answers."""
    x = np.random.default_rng(0).normal(size=(4, 50)).astype(np.float32)
    d, res, ev, first, snap, restored, again = call_all(
        tmp_path, inproc(CurriculumNeuro), P.Describe(), P.Train(epochs=6, wait=True),
        P.Evaluate(dataset="noisy-linear"), P.Predict(x=P.Array.of(x)), P.Snapshot(inline=True),
        lambda a: P.Restore(weights=a[-1]), P.Predict(x=P.Array.of(x)))
    assert "learning.curriculum" == d.name
    assert 6.0 == res.metrics["stage"]
    assert ev.metrics["accuracy"] > 0.8
    assert 1 == restored.version
    np.testing.assert_allclose(first.scores.numpy(), again.scores.numpy(), atol=1e-6)
