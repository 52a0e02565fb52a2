"""Harmonic resonance (issue 29): the Fourier spectrum loss beats MSE-only training on recordings
with unknown start times, the spectrum by hand, and the neuro through a real kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.harmonic.neuro import HarmonicNeuro  # noqa: E402
from neuro.neuros.learning.harmonic.spectrum import magnitude_spectrum, spectral_error, spectral_loss  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_the_spectrum_loss_beats_mse_only_training():
    """The quick experiment: the spectral error after the spectrum loss is below MSE-only's by the margin."""
    outcome = run_experiment("harmonic", quick=True)
    assert outcome.beats(), outcome


def test_a_tone_has_half_its_amplitude_in_its_bin_and_a_shift_changes_nothing():
    """|rfft| / T of a sin(2 pi 5 t) is a/2 at bin 5, ~0 elsewhere; a circular shift leaves the
    spectrum (and so the loss) unchanged, which the MSE does not."""
    import torch

    t = torch.arange(64) / 64
    y = 0.8 * torch.sin(2 * math.pi * 5 * t)
    s = magnitude_spectrum(y)
    assert 0.4 == pytest.approx(float(s[5]), abs=1e-5)
    assert float(torch.cat([s[:5], s[6:]]).abs().max()) < 1e-5
    shifted = torch.roll(y, 7)
    assert float(spectral_loss(shifted, y)) < 1e-10
    assert float(((shifted - y) ** 2).mean()) > 0.1
    assert 1.0 == pytest.approx(spectral_error(torch.zeros(64), y))


def test_the_neuro_learns_a_waveform_predicts_and_round_trips(tmp_path):
    """Train on multitone as a job, Evaluate its spectral error, Snapshot/Restore give the same answers."""
    t = (np.arange(256, dtype=np.float32) / 256)[:, None]
    d, res, ev, first, snap, restored, again = call_all(
        tmp_path, inproc(HarmonicNeuro), P.Describe(), P.Train(epochs=2, wait=True),
        P.Evaluate(dataset="multitone"), P.Predict(x=P.Array.of(t)), P.Snapshot(inline=True),
        lambda a: P.Restore(weights=a[-1]), P.Predict(x=P.Array.of(t)))
    assert "learning.harmonic" == d.name
    assert res.metrics["test_spectral_error"] < 0.3  # the bank at its random start is at about 1
    assert ev.metrics["spectral_error"] < 0.3
    assert 1 == restored.version
    np.testing.assert_allclose(first.y.numpy(), again.y.numpy(), atol=1e-5)
