"""Parallel wanderers' rounds without a kernel (the kernel path, with wanderer neuros in their
own processes, is in test_service.py): a share trains on its copy and leaves the graph's
shape alone; merging one share gives its net exactly; two shares add their weight deltas
(or average them); the learner settles the splits; two wanderers learn a model as good as
one on the same data; equal seeds give equal nets."""

from __future__ import annotations

import msgspec
import numpy as np

from neuro.neuros.learning.marble.blitz import Neuronenblitz
from neuro.neuros.learning.marble.config import MarbleConfig, config_with
from neuro.neuros.learning.marble.merge import ADDED_COLUMNS, MEAN_COLUMNS, merge_round
from neuro.neuros.learning.marble.parallel import ParallelWanderers, train_share


class InProcess(ParallelWanderers):
    """The wanderers' own code (train_share), run here instead of in wanderer neuros."""

    def _call(self, requests):
        return [train_share(r) for r in requests]


def _sine(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 2 * np.pi, (n, 1)).astype(np.float32)
    t = (np.sin(x[:, 0]) + rng.normal(0, 0.1, n)).reshape(-1, 1)
    cut = int(0.8 * n)
    return x[:cut], t[:cut], x[cut:], t[cut:]


def _net(**options):
    x, t, _, _ = _sine()
    cfg = config_with(MarbleConfig(), {"seed": 0, "input_neurons": 16, "core_neurons": 8, **options})
    return Neuronenblitz(cfg, x, 1), x, t


def _arrays(reply):
    doc = msgspec.msgpack.decode(reply.learnt)
    return {k: np.frombuffer(v, "<f8") for k, v in doc["arrays"].items()}, doc["state"]


def test_merging_one_share_gives_that_shares_net_exactly():
    net, x, t = _net()
    before = net.core.w.copy()
    [req] = InProcess(None, net.cfg, 0)._requests(0, net, x, t, list(range(20)))
    reply = train_share(req)
    got, state = _arrays(reply)
    merge_round(net, [reply])
    assert not np.array_equal(before, net.core.w)  # the share learnt something
    for name in (*ADDED_COLUMNS, *MEAN_COLUMNS):
        assert np.array_equal(getattr(net.core, name), got[name]), name
    assert (net.state.wanders, net.state.phase, net.state.exploration_bonus, net.state.context) == (
        state["wanders"], state["phase"], state["exploration_bonus"], state["context"])
    assert len(reply.errors) == 20 and reply.cpu_s > 0


def test_two_shares_add_their_weight_deltas_or_average_them():
    for strategy in ("replay", "average"):
        net, x, t = _net(parallel_update_strategy=strategy, parallel_wanderers=2, weight_limit=100.0)
        base, wanders = net.core.w.copy(), net.state.wanders
        replies = [train_share(r) for r in InProcess(None, net.cfg, 0)._requests(0, net, x, t, list(range(40)))]
        (a, sa), (b, sb) = _arrays(replies[0]), _arrays(replies[1])
        delta = (a["w"] - base) + (b["w"] - base)
        merge_round(net, replies)
        want = base + (delta if strategy == "replay" else delta / 2)
        assert np.allclose(net.core.w, want), strategy
        assert np.allclose(net.core.rms, (a["rms"] + b["rms"]) / 2)  # a running average: the mean of the ends
        assert net.state.wanders == sa["wanders"] + sb["wanders"] - wanders  # counters add up


def test_a_share_leaves_the_graph_to_the_learner_which_settles_its_splits():
    grow = {"split_probability": 1.0, "plasticity_threshold": 0.0, "parallel_wanderers": 2}
    net, x, t = _net(**grow)
    [req, _] = InProcess(None, net.cfg, 0)._requests(0, net, x, t, list(range(20)))
    reply = train_share(req)
    assert len(_arrays(reply)[0]["w"]) == len(net.core.w) and reply.paths  # same shape; the paths come back
    start = net.core.n_neurons
    net.fit_epoch(x, t, 1, InProcess(None, net.cfg, 0))
    assert net.core.n_neurons > start  # split here, from the paths the shares answered
    still, x, t = _net(**{**grow, "structural_plasticity_enabled": False})
    still.fit_epoch(x, t, 1, InProcess(None, still.cfg, 0))
    assert still.core.n_neurons == start


def _trained(wanderers, epochs=6, seed=0):
    x, t, xt, tt = _sine()
    cfg = config_with(MarbleConfig(), {"seed": seed, "input_neurons": 16, "core_neurons": 8,
                                       "parallel_wanderers": wanderers, "parallel_chunk_size": 32})
    net = Neuronenblitz(cfg, x, 1)
    for e in range(epochs):
        net.fit_epoch(x, t, epochs, InProcess(None, cfg, e))
    return net, float(((net.predict(xt) - tt) ** 2).mean()), float(((tt - t.mean()) ** 2).mean())


def test_two_wanderers_learn_a_model_as_good_as_one_on_the_same_data():
    _, one, mean = _trained(1)
    _, two, _ = _trained(2)
    assert one < 0.5 * mean and two < 0.5 * mean  # both learnt the sine
    assert two <= 1.5 * one


def test_equal_seeds_give_equal_nets_through_wanderers():
    a, mse_a, _ = _trained(2, epochs=2)
    b, mse_b, _ = _trained(2, epochs=2)
    assert mse_a == mse_b and np.array_equal(a.core.w, b.core.w)
