"""Fractal dimension (issue 29): the calibrated correlation dimension of Lorenz and Hénon beats the
naive estimate, the correlation sum and box count by hand, and the neuro through a real kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuro.neuros.learning import protocol as P
from neuro.neuros.learning.fractal.attractors import calibration_sets, henon
from neuro.neuros.learning.fractal.dimension import box_dimension, correlation_dimension, correlation_sum
from neuro.neuros.learning.fractal.neuro import FractalNeuro
from neuro.neuros.learning.paradigms import run_experiment

from .kernel_calls import call_all, inproc


def test_the_calibrated_correlation_dimension_beats_the_embedding_dimension_on_both_attractors():
    """Quick experiment: mean |D2 - known| over Lorenz and Hénon beats the naive estimate by the margin."""
    outcome = run_experiment("fractal", quick=True)
    assert outcome.beats(), outcome
    assert outcome.extra["lorenz_error"] < 0.3 and outcome.extra["henon_error"] < 0.3, outcome.extra


def test_the_correlation_sum_is_the_share_of_pairs_closer_than_r():
    """Four points on a line at 0, 1, 3, 6: pair distances 1, 2, 3, 3, 5, 6; C(3.5) = 4/6, C(1) = 0 (strict)."""
    points = np.array([[0.0], [1.0], [3.0], [6.0]])
    assert [0.0, 4 / 6, 1.0] == pytest.approx(list(correlation_sum(points, [1.0, 3.5, 6.5])).copy())


def test_the_slope_of_a_uniform_square_is_about_two_and_a_box_count_is_log_n_over_log_inverse_eps():
    """D2 of 1500 uniform points in a square is ~2; 4 corner points of a unit square fill 4 boxes at eps=1/2."""
    square = np.random.default_rng(0).uniform(0, 1, (1500, 2))
    assert 2.0 == pytest.approx(correlation_dimension(square, 1e-3, 1e-1), abs=0.15)
    corners = np.array([[0.0, 0.0], [0.99, 0.0], [0.0, 0.99], [0.99, 0.99]])
    assert math.log(4) / math.log(2) == pytest.approx(box_dimension(corners, 0.5))


def test_the_neuro_calibrates_in_a_job_predicts_dimensions_and_round_trips_its_window(tmp_path):
    """Train on small calibration sets; Predict Hénon ~1.2 and a line ~1; Evaluate; Snapshot -> Restore."""
    x, y, _ = calibration_sets(600, seed=3)
    probe = np.stack([henon(600), calibration_sets(600, seed=4)[0][0]]).astype(np.float32)
    small = {"q_lo_grid": [1e-3, 1e-2], "q_hi_grid": [3e-2, 1e-1]}
    d, res, pred, ev, snap, restored, again = call_all(
        tmp_path, inproc(FractalNeuro), P.Describe(),
        P.Train(x=P.Array.of(x.astype(np.float32)), y=P.Array.of(y), options=small, wait=True),
        P.Predict(x=P.Array.of(probe)), P.Evaluate(x=P.Array.of(x.astype(np.float32)), y=P.Array.of(y)),
        P.Snapshot(inline=True), lambda answers: P.Restore(weights=answers[-1]), P.Predict(x=P.Array.of(probe)))
    assert ("learning.fractal", ["calibration"]) == (d.name, d.datasets)
    assert res.metrics["calibration_error"] < 0.2
    assert [1.22, 1.0] == pytest.approx(list(pred.y.numpy()), abs=0.2)
    assert ev.metrics["mae"] < 0.2
    assert 1 == restored.version
    np.testing.assert_allclose(pred.y.numpy(), again.y.numpy())


def test_a_point_set_of_the_wrong_shape_is_refused_with_the_shape_it_needs():
    """x of shape (5, 3) is not (S, N, D); one dimension per set is asked for."""
    from neuro.neuros.learning.fractal.neuro import _sets

    with pytest.raises(ValueError, match=r"point sets are x \(S, N, D\).*got shape \(5, 3\)"):
        _sets(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"one dimension per point set: y \(2,\)"):
        _sets(np.zeros((2, 4, 3)), np.zeros(3))
