"""The depth settings of issue 20's second round: the coupling cap, the small nudge, the readout."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from neuro.neuros.learning.eqprop.baselines import bptt_direction  # noqa: E402
from neuro.neuros.learning.eqprop.config import EqPropConfig  # noqa: E402
from neuro.neuros.learning.eqprop.measure import cosines  # noqa: E402
from neuro.neuros.learning.eqprop.model import EqPropNet, ep_direction  # noqa: E402
from neuro.neuros.learning.eqprop.train import Learner  # noqa: E402


def _blobs(n=256, n_in=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = 2 * rng.standard_normal((classes, n_in))
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.standard_normal((n, n_in))).astype(np.float32), y


def _onehot(y, classes):
    return torch.nn.functional.one_hot(torch.as_tensor(y), classes).float()


def test_a_bound_above_one_needs_the_alternating_schedule():
    """A coupling cap >= 1 is refused for synchronous relaxation, with the fix in the message."""
    with pytest.raises(ValueError, match=r"`lipschitz` must be in \(0, 1\) or None, got 2.0 \(a bound >= 1 needs"):
        EqPropConfig(lipschitz=2.0)
    assert 2.0 == EqPropConfig(lipschitz=2.0, schedule="alternating").lipschitz


def test_the_coupling_cap_holds_while_a_net_trains_at_a_high_rate():
    """With schedule="alternating" and lipschitz=1.2, training at lr 0.05 keeps |A| <= 1.2."""
    x, y = _blobs()
    cfg = EqPropConfig(hidden=(16, 16), schedule="alternating", lipschitz=1.2, homeostasis=False, lr=0.05,
                       init_gain=2.0, seed=0, device="cpu", batch_size=32)
    learner = Learner(cfg, (12,), 4)
    uncapped = Learner(msgspec.structs.replace(cfg, lipschitz=None), (12,), 4)
    for _ in range(3):
        learner.fit_epoch(x, y)
        uncapped.fit_epoch(x, y)
    assert learner.net.lipschitz_exact() <= 1.2 * 1.01
    assert uncapped.net.lipschitz_exact() > 1.2  # the cap did something


def test_the_readout_update_matches_bptt_through_the_relaxation():
    """With output="readout" (cross-entropy on logits outside the energy) EP follows BPTT in every layer."""
    x, y = _blobs(n=64)
    cfg = EqPropConfig(hidden=(20, 20), output="readout", schedule="alternating", lipschitz=None, free_steps=2000,
                       nudge_steps=2000, tol=1e-9, beta=0.005, seed=0)
    net = EqPropNet(cfg, 12, 4)
    X, Y = torch.as_tensor(x), _onehot(y, 4)
    d = ep_direction(net, X, Y)
    gW, gb, _, o = bptt_direction(net, X, Y, d.free.steps + 50)
    overall, per = cosines([*d.dW, *d.db], [*gW, *gb])
    assert overall > 0.999, per
    assert min(per) > 0.99, per
    expected = -(Y * o.log_softmax(1)).sum(1).mean()  # the loss reported is the cross-entropy
    assert float(expected) == pytest.approx(d.loss, rel=1e-4)


def test_the_readout_learns_and_its_logits_leave_the_box():
    """A readout net learns separable blobs, and its outputs are unclipped logits."""
    x, y = _blobs()
    cfg = EqPropConfig(hidden=(32,), output="readout", schedule="alternating", lipschitz=None, homeostasis=False,
                       seed=0, device="cpu", batch_size=16, lr=3e-3)
    learner = Learner(cfg, (12,), 4)
    for _ in range(5):
        learner.fit_epoch(x, y)
    scores, _, _ = learner.predict(x)
    assert learner.evaluate(x, y)["accuracy"] > 0.8
    assert scores.min() < 0.0 or scores.max() > 1.0


def test_a_smaller_nudge_brings_the_estimate_closer_to_bptt():
    """After training at a large rate, the per-layer cosine with BPTT rises as beta falls (the bias)."""
    from neuro.neuros.learning.eqprop.experiments import cosine_vs_bptt

    x, y = _blobs(n=256, classes=4)
    cfg = EqPropConfig(hidden=(24, 24, 24), schedule="alternating", lipschitz=None, output="linear", homeostasis=False,
                       lr=1e-2, seed=0, device="cpu", batch_size=32, tol=1e-4, check_every=5)
    learner = Learner(cfg, (12,), 4)
    for _ in range(3):
        learner.fit_epoch(x, y)
    worst = {beta: min(cosine_vs_bptt(learner, x[:64], y[:64], beta=beta)[1]) for beta in (0.2, 1e-3)}
    assert worst[1e-3] > 0.99, worst
    assert worst[1e-3] > worst[0.2], worst
