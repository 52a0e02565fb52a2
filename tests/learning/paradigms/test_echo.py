"""Synaptic echo (issue 29): echo-modulated updates beat plain SGD at the same rate, the echo
rule by hand, and the neuro through a real kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.echo.model import EchoNet, echo_step  # noqa: E402
from neuro.neuros.learning.echo.neuro import EchoNeuro  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_echo_modulated_updates_beat_the_same_net_without_echo():
    """The quick experiment: the echo net's test MSE is below plain SGD's by the margin."""
    outcome = run_experiment("echo", quick=True)
    assert outcome.beats(), outcome


def test_an_echo_step_is_the_gradient_scaled_by_the_decayed_trace():
    """Two steps on the same batch: e = decay * |a| + |a| after the second, and each weight moves
    by -lr * strength * e_j * g_ij, e_j the echo of the input feeding it."""
    import torch

    net = EchoNet(3, 4, seed=0)
    x, y = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, -1.0]]), torch.tensor([0.3, -0.7])
    echo_step(net, x, y, lr=0.1, decay=0.5, strength=2.0)
    first = net.layers[0]
    before = first.weight.detach().clone()
    pred = net.forward(x)
    grad = torch.autograd.grad(((pred - y) ** 2).mean(), first.weight)[0]
    echo_step(net, x, y, lr=0.1, decay=0.5, strength=2.0)
    trace = x.abs().mean(0) * 1.5  # e_1 = |a|, e_2 = 0.5 e_1 + |a|
    torch.testing.assert_close(net.echo["w0"], trace)
    torch.testing.assert_close(first.weight.detach(), before - 0.1 * 2.0 * grad * trace[None, :])


def test_without_strength_the_step_is_plain_sgd():
    """echo_strength 0: dw = -lr g, and the echo is left untouched."""
    import torch

    net = EchoNet(2, 3, seed=1)
    x, y = torch.tensor([[0.5, 1.0]]), torch.tensor([1.0])
    w = net.layers[1].weight.detach().clone()
    grad = torch.autograd.grad(((net.forward(x) - y) ** 2).mean(), net.layers[1].weight)[0]
    echo_step(net, x, y, lr=0.2, decay=0.9, strength=0.0)
    torch.testing.assert_close(net.layers[1].weight.detach(), w - 0.2 * grad)
    assert 0.0 == float(net.echo["w1"].abs().sum())


def test_the_neuro_trains_steps_predicts_and_round_trips(tmp_path):
    """Train on wave2d as a job, Step online, Evaluate, Snapshot/Restore give the same answers."""
    x = np.random.default_rng(0).uniform(-1, 1, (4, 2)).astype(np.float32)
    y = np.zeros(4, np.float32)
    d, res, step, ev, first, snap, restored, again = call_all(
        tmp_path, inproc(EchoNeuro), P.Describe(), P.Train(epochs=3, wait=True),
        P.Step(x=P.Array.of(x), y=P.Array.of(y)), P.Evaluate(dataset="wave2d"), P.Predict(x=P.Array.of(x)),
        P.Snapshot(inline=True), lambda a: P.Restore(weights=a[-1]), P.Predict(x=P.Array.of(x)))
    assert "learning.echo" == d.name
    assert res.metrics["test_mse"] < 0.6  # the target's variance is about 0.65
    assert step.loss >= 0
    assert ev.metrics["mse"] < 0.6
    assert 1 == restored.version
    np.testing.assert_allclose(first.y.numpy(), again.y.numpy(), atol=1e-6)
