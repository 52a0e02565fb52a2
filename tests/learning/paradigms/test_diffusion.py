"""Diffusion (issue 28): reverse-process samples are closer (MMD) to two moons than a Gaussian
fit's with both schedules, the schedules' and MMD's formulas by hand, and the neuro through a
real kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.diffusion.mmd import mmd2  # noqa: E402
from neuro.neuros.learning.diffusion.neuro import DiffusionNeuro  # noqa: E402
from neuro.neuros.learning.diffusion.schedules import alpha_bars, betas  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_both_schedules_sample_two_moons_closer_than_a_gaussian_fit():
    """The quick experiment: the worse schedule's MMD^2 is below the Gaussian fit's by the margin."""
    outcome = run_experiment("diffusion", quick=True)
    assert outcome.beats(), outcome
    assert max(outcome.extra["linear_mmd2"], outcome.extra["cosine_mmd2"]) == outcome.figure


def test_schedules_follow_their_formulas_and_end_near_pure_noise():
    """linear: 1e-4 .. 0.02 at T=1000; cosine: abar_t = f(t)/f(0), f = cos^2(pi/2 (t/T + s)/(1 + s))."""
    lin = betas("linear", 1000)
    assert (1e-4, 0.02) == pytest.approx((lin[0], lin[-1]))
    cos = alpha_bars(betas("cosine", 100))
    f = lambda t: math.cos((t / 100 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert f(50) / f(0) == pytest.approx(cos[49], rel=1e-9)
    assert alpha_bars(betas("linear", 100))[-1] < 1e-3 and cos[-1] < 1e-3


def test_mmd_is_zero_for_equal_samples_and_matches_a_hand_computation():
    """MMD^2(x, x) = 0; one point each at distance 1 with h = 1: 2 - 2 exp(-1/2)."""
    x = np.random.default_rng(0).normal(size=(20, 2))
    assert 0.0 == pytest.approx(mmd2(x, x), abs=1e-12)
    assert 2 - 2 * math.exp(-0.5) == pytest.approx(mmd2([[0.0, 0.0]], [[1.0, 0.0]], bandwidths=(1.0,)))


def test_the_neuro_trains_on_moons_generates_scores_evaluates_and_round_trips(tmp_path):
    """Train (two moons, 2 slices of 30 steps), Generate 16 samples, Predict scores, Evaluate, Snapshot/Restore."""
    tiny = {"steps_per_epoch": 30, "hidden": 32, "diffusion_steps": 20, "schedule": "cosine"}
    pts = P.Array.of(np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32))
    d, res, gen, pred, ev, snap, restored, again = call_all(
        tmp_path, inproc(DiffusionNeuro), P.Describe(), P.Train(epochs=2, options=tiny, wait=True),
        P.Generate(labels=[0] * 16), P.Predict(x=pts), P.Evaluate(x=pts, y=pts), P.Snapshot(inline=True),
        lambda answers: P.Restore(weights=answers[-1]), P.Predict(x=pts))
    assert ("learning.diffusion", ["generate"]) == (d.name, d.tasks)
    assert (2, True) == (res.epochs, math.isfinite(res.metrics["test_mmd2"]))
    assert (16, 2) == tuple(gen.x.numpy().shape)
    assert ev.metrics["mmd2"] >= 0.0
    assert 1 == restored.version
    np.testing.assert_allclose(pred.y.numpy(), again.y.numpy(), atol=1e-6)
