"""Adversarial learning (issue 28): adversarial training beats standard training under FGSM, the
GAN covers more of the ring than a Gaussian fit, FGSM's formula by hand, and the neuro through a
real kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.adversarial.fgsm import fgsm  # noqa: E402
from neuro.neuros.learning.adversarial.gan import mode_coverage, ring_modes, ring_samples  # noqa: E402
from neuro.neuros.learning.adversarial.neuro import AdversarialNeuro  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_adversarial_training_beats_standard_training_under_fgsm_and_the_gan_beats_a_gaussian_fit():
    """The quick experiment: robust accuracy beats standard training's by the margin; the GAN
    covers more modes than the Gaussian fit of the same ring."""
    outcome = run_experiment("adversarial", quick=True)
    assert outcome.beats(), outcome
    assert outcome.extra["gan_modes_covered"] > outcome.extra["gaussian_fit_modes_covered"], outcome.extra


def test_fgsm_moves_every_input_by_eps_along_the_loss_gradient_sign_and_clips():
    """On a linear net the gradient sign is known: x_adv = clip(x + eps sign(dL/dx))."""
    import torch

    net = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        net.weight[:] = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    x, y = torch.tensor([[0.5, 0.5], [0.95, 0.0]]), torch.tensor([0, 0])
    # class 0's logit is x0 - x1: the loss falls as it grows, so FGSM lowers x0 and raises x1
    expected = torch.tensor([[0.4, 0.6], [0.85, 0.1]])
    torch.testing.assert_close(expected, fgsm(net, x, y, 0.1))
    assert 1.0 == float(fgsm(net, torch.tensor([[0.0, 0.98]]), torch.tensor([0]), 0.1)[0, 1])  # clipped


def test_mode_coverage_counts_the_modes_that_get_their_share_of_good_samples():
    """The ring itself covers 8 of 8 with nearly every sample good; three modes alone cover 3."""
    assert 8 == mode_coverage(ring_samples(800, 0))[0]
    three = ring_modes()[[0, 2, 5]].repeat(100, 0)
    assert (3, 1.0) == mode_coverage(three)


def test_the_neuro_trains_evaluates_robustness_makes_fgsm_examples_and_round_trips(tmp_path):
    """Train on digits as a job, Evaluate (clean and robust), Generate FGSM examples, Snapshot/Restore."""
    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8)).astype(np.float32)
    d, res, ev, gen, first, snap, restored, again = call_all(
        tmp_path, inproc(AdversarialNeuro), P.Describe(),
        P.Train(epochs=3, options={"hidden": 32, "lr": 3e-3}, wait=True), P.Evaluate(dataset="digits"),
        P.Generate(y=P.Array.of(x), labels=[0, 1, 2, 3]), P.Predict(x=P.Array.of(x)), P.Snapshot(inline=True),
        lambda answers: P.Restore(weights=answers[-1]), P.Predict(x=P.Array.of(x)))
    assert ("learning.adversarial", "generate") == (d.name, d.capabilities[0])
    assert {"test_accuracy", "test_robust_accuracy"} <= res.metrics.keys()
    assert ev.metrics["accuracy"] > 0.8
    assert ev.metrics["robust_accuracy"] <= ev.metrics["accuracy"]
    moved = np.abs(gen.x.numpy() - x)
    assert ((4, 8, 8), True) == (moved.shape, bool(moved.max() <= 0.1 + 1e-6))
    assert 1 == restored.version
    np.testing.assert_allclose(first.scores.numpy(), again.scores.numpy(), atol=1e-6)
