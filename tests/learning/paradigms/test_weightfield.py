"""Continuous weight field (issue 29): the RBF field beats linear regression, the seed's rule by
hand, and the neuro through a real kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402
from neuro.neuros.learning.weightfield.field import WeightField  # noqa: E402
from neuro.neuros.learning.weightfield.neuro import WeightFieldNeuro  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_the_weight_field_beats_linear_regression_on_a_1d_function():
    """The quick experiment: the field's test MSE is below least squares' by the margin."""
    outcome = run_experiment("weightfield", quick=True)
    assert outcome.beats(), outcome


def test_the_rule_adds_eta_phi_e_r_and_decays_the_weights():
    """One example, two centres: phi_j = exp(-(x - c_j)^2 / 2 sigma^2), r = [1, x],
    W <- W + eta e phi r^T - eta lambda W, with y_hat = phi^T W r before the step."""
    import torch

    field = WeightField(np.array([[0.0], [1.0]], np.float32), sigma=0.5)
    field.state["w"] += torch.tensor([[0.2, -0.1], [0.4, 0.3]])
    w0 = field.state["w"].clone()
    x, y = 0.25, 1.0
    phi = torch.tensor([np.exp(-(x - c) ** 2 / (2 * 0.5 ** 2)) for c in (0.0, 1.0)], dtype=torch.float32)
    r = torch.tensor([1.0, x])
    e = y - float(phi @ w0 @ r)
    assert float(phi @ w0 @ r) == pytest.approx(float(field.forward(torch.tensor([[x]]))[0]), rel=1e-6)
    field.update(torch.tensor([[x]]), torch.tensor([y]), lr=0.3, decay=0.1)
    torch.testing.assert_close(field.state["w"], w0 + 0.3 * e * torch.outer(phi, r) - 0.3 * 0.1 * w0)


def test_the_neuro_trains_steps_predicts_and_round_trips(tmp_path):
    """Train on bumpy_line as a job, Step online, Evaluate, Snapshot/Restore give the same answers."""
    x = np.linspace(-1, 1, 5, dtype=np.float32)[:, None]
    d, res, step, ev, first, snap, restored, again = call_all(
        tmp_path, inproc(WeightFieldNeuro), P.Describe(), P.Train(epochs=5, wait=True),
        P.Step(x=P.Array.of(x), y=P.Array.of(np.sin(2 * np.pi * x[:, 0]).astype(np.float32))),
        P.Evaluate(dataset="bumpy_line"), P.Predict(x=P.Array.of(x)), P.Snapshot(inline=True),
        lambda a: P.Restore(weights=a[-1]), P.Predict(x=P.Array.of(x)))
    assert "learning.weightfield" == d.name
    assert res.metrics["test_mse"] < 0.1  # linear regression's is about 0.44
    assert step.loss >= 0
    assert ev.metrics["mse"] < 0.1
    assert 1 == restored.version
    np.testing.assert_allclose(first.y.numpy(), again.y.numpy(), atol=1e-6)
