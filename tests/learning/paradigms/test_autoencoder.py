"""Autoencoders (issue 28): the plain autoencoder reconstructs digits better than PCA at the same
code size, the seed's KL and sigma decay by hand, and the neuro through a real kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.autoencoder.losses import kl_divergence, reconstruction, sigma_at  # noqa: E402
from neuro.neuros.learning.autoencoder.neuro import AutoencoderNeuro  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_the_autoencoder_reconstructs_digits_better_than_pca_with_as_many_components():
    """The quick experiment: the plain autoencoder's test MSE is under PCA's by the margin."""
    outcome = run_experiment("autoencoder", quick=True)
    assert outcome.beats(), outcome
    assert {"plain_mse", "denoising_mse", "variational_mse"} == outcome.extra.keys()


def test_kl_and_reconstruction_equal_the_hand_computation():
    """KL of N(mu, sigma^2) from N(0, 1) summed over the code; L_rec a squared norm."""
    import torch

    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    expected = -0.5 * ((1 + 0 - 1 - 1) + (1 + math.log(4.0) - 0 - 4))
    assert expected == pytest.approx(float(kl_divergence(mu, logvar)))
    assert 0.0 == float(kl_divergence(torch.zeros(3, 2), torch.zeros(3, 2)))
    assert 5.0 == float(reconstruction(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2)))


def test_the_denoising_sigma_decays_geometrically():
    """sigma_{t+1} = sigma_t * noise_decay."""
    assert [0.4, 0.2, 0.1] == [sigma_at(0.4, 0.5, t) for t in range(3)]


def test_the_neuro_trains_reconstructs_decodes_and_round_trips(tmp_path):
    """Train a variational autoencoder on digits, Evaluate, Generate from codes, Snapshot/Restore."""
    x = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    d, res, ev, gen, first, snap, restored, again = call_all(
        tmp_path, inproc(AutoencoderNeuro), P.Describe(),
        P.Train(epochs=3, options={"kind": "variational", "hidden": 64, "code": 4}, wait=True),
        P.Evaluate(dataset="digits"), P.Generate(y=P.Array.of(np.zeros((2, 4), np.float32))),
        P.Predict(x=P.Array.of(x)), P.Snapshot(inline=True), lambda a: P.Restore(weights=a[-1]),
        P.Predict(x=P.Array.of(x)))
    assert ("learning.autoencoder", "generate") == (d.name, d.capabilities[0])
    assert "test_mse" in res.metrics
    assert ev.metrics["mse"] < 0.1  # pixels in [0, 1]: an untrained net is far above this
    assert (2, 8, 8) == tuple(gen.x.shape)
    assert 1 == restored.version
    np.testing.assert_allclose(first.y.numpy(), again.y.numpy(), atol=1e-5)
