"""Quantum flux (issue 29): the unitary layer beats an unconstrained complex layer on a unitary
task, its unitarity by construction, and the neuro through a real kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402
from neuro.neuros.learning.quantumflux.neuro import QuantumFluxNeuro, to_complex, to_real  # noqa: E402
from neuro.neuros.learning.quantumflux.unitary import random_unitary, unitarity_error, unitary_of  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_the_unitary_layer_beats_an_unconstrained_complex_layer():
    """The quick experiment: the unitary layer's test task error is below the free layer's by the
    margin, and only the free layer leaves the unitary group."""
    outcome = run_experiment("quantumflux", quick=True)
    assert outcome.beats(), outcome
    assert outcome.extra["unitary_unitarity_error"] < 1e-4
    assert outcome.extra["unconstrained_unitarity_error"] > 0.1


def test_the_unitarity_error_is_zero_for_unitaries_and_not_for_others():
    """||U^H U - I||_F: ~0 for exp(A - A^H) and for a Haar unitary; sqrt(n) |s^2 - 1| for s I."""
    import torch

    a = torch.view_as_complex(torch.randn(5, 5, 2, generator=torch.Generator().manual_seed(0)))
    assert unitarity_error(unitary_of(a)) < 1e-5
    assert unitarity_error(random_unitary(6, 1)) < 1e-5
    scaled = 2.0 * torch.eye(4, dtype=torch.complex64)
    assert 4 ** 0.5 * 3 == pytest.approx(unitarity_error(scaled), rel=1e-6)


def test_amplitudes_travel_as_real_then_imaginary_parts():
    """to_complex and to_real are inverse; a wrong width is refused naming the shape."""
    z = np.array([[1 + 2j, -0.5j]], np.complex64)
    real = np.array([[1.0, 0.0, 2.0, -0.5]], np.float32)
    np.testing.assert_array_equal(real, to_real(__import__("torch").as_tensor(z)))
    np.testing.assert_array_equal(z, to_complex(real, 2).numpy())
    with pytest.raises(ValueError, match=r"amplitudes must be \(N, 6\)"):
        to_complex(real, 3)


def test_the_neuro_learns_a_unitary_map_predicts_and_round_trips(tmp_path):
    """Train on unitary_map as a job, Evaluate task and unitarity errors, Snapshot/Restore agree."""
    x = to_real(__import__("torch").eye(8, dtype=__import__("torch").complex64)[:3])
    d, res, ev, first, snap, restored, again = call_all(
        tmp_path, inproc(QuantumFluxNeuro), P.Describe(), P.Train(epochs=2, wait=True),
        P.Evaluate(dataset="unitary_map"), P.Predict(x=P.Array.of(x)), P.Snapshot(inline=True),
        lambda a: P.Restore(weights=a[-1]), P.Predict(x=P.Array.of(x)))
    assert "learning.quantumflux" == d.name
    assert res.metrics["test_task_error"] < 0.5  # near the start (I) it is about 2
    assert ev.metrics["unitarity_error"] < 1e-4
    assert 1 == restored.version
    np.testing.assert_allclose(first.y.numpy(), again.y.numpy(), atol=1e-5)
