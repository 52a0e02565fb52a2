"""Contrastive learning (issue 28): the InfoNCE probe beats raw pixels, InfoNCE by hand, the
augmentations, and the neuro through a real kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.contrastive.augment import augment  # noqa: E402
from neuro.neuros.learning.contrastive.losses import info_nce  # noqa: E402
from neuro.neuros.learning.contrastive.neuro import ContrastiveNeuro  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_a_probe_on_contrastive_features_beats_a_probe_on_raw_pixels():
    """The quick experiment: the probe on InfoNCE features beats the probe on pixels by the margin."""
    outcome = run_experiment("contrastive", quick=True)
    assert outcome.beats(), outcome


def test_info_nce_equals_the_hand_computation():
    """Two inputs, two views each: the mean over the 4 anchors of -log softmax at the positive,
    the anchor itself left out."""
    import torch

    z = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    zp = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    tau = 0.5
    e = [v / np.linalg.norm(v) for v in np.concatenate([z.numpy(), zp.numpy()])]
    total = 0.0
    for i in range(4):
        pos = (i + 2) % 4
        others = [math.exp(float(e[i] @ e[j]) / tau) for j in range(4) if j != i]
        total -= math.log(math.exp(float(e[i] @ e[pos]) / tau) / sum(others))
    assert total / 4 == pytest.approx(float(info_nce(z, zp, tau)), rel=1e-5)


def test_a_shift_moves_the_image_and_zeros_come_in():
    """Without noise or mask, a view is the image moved by at most one pixel, its sum kept or cut."""
    import torch

    img = torch.zeros(1, 16)
    img[0, 5] = 1.0  # (1, 1) of a 4x4 image
    views = torch.cat([augment(img, torch.Generator().manual_seed(s), noise=0.0, shift=1, mask=0.0, image=(4, 4))
                       for s in range(20)])
    where = {divmod(int(v.argmax()), 4) for v in views}
    assert where <= {(r, c) for r in range(3) for c in range(3)}
    assert len(where) > 1


def test_the_neuro_pretrains_fits_its_probe_predicts_and_round_trips(tmp_path):
    """Train on digits as a job, Evaluate the probe, Snapshot/Restore give the same answers."""
    x = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    d, res, ev, first, snap, restored, again = call_all(
        tmp_path, inproc(ContrastiveNeuro), P.Describe(),
        P.Train(epochs=2, options={"hidden": 32, "features": 16}, wait=True), P.Evaluate(dataset="digits"),
        P.Predict(x=P.Array.of(x)), P.Snapshot(inline=True), lambda a: P.Restore(weights=a[-1]),
        P.Predict(x=P.Array.of(x)))
    assert "learning.contrastive" == d.name
    assert "test_probe_accuracy" in res.metrics
    assert ev.metrics["probe_accuracy"] > 0.8
    assert 1 == restored.version
    assert first.labels == again.labels
    np.testing.assert_allclose(first.scores.numpy(), again.scores.numpy(), atol=1e-5)
