"""Neuronenblitz: it learns a sine from the wander rule, equal seeds give equal nets, its
state round-trips exactly, and the formulas of sections 3.6, 4.8, 4.13-4.16 hold."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from neuro.neuros.learning.marble import brain, plasticity
from neuro.neuros.learning.marble.blitz import Neuronenblitz
from neuro.neuros.learning.marble.caches import TTLCache
from neuro.neuros.learning.marble.config import MarbleConfig, config_with
from neuro.neuros.learning.marble.memory import DreamReplayBuffer, PrioritizedReplay
from neuro.neuros.learning.marble.schedules import discounted_returns, q_update, scheduled_epsilon, scheduled_lr
from neuro.neuros.learning.marble.wander import wander


def _sine(n=80, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 2 * np.pi, (n, 1)).astype(np.float32)
    return x, np.sin(x)


def _net(**options):
    x, t = _sine()
    return Neuronenblitz(config_with(MarbleConfig(), {"input_neurons": 16, "core_neurons": 8, **options}), x, 1), x, t


def test_it_learns_a_sine_well_below_predicting_the_mean():
    """Twelve epochs on 80 points: the training MSE falls below a quarter of the variance."""
    net, x, t = _net(epochs=12, input_neurons=32, core_neurons=16, learning_rate=0.1)
    for _ in range(12):
        net.fit_epoch(x, t, 12)
    mse = float(((net.predict(x) - t) ** 2).mean())
    assert mse < 0.25 * float(t.var())


def test_equal_seeds_give_equal_nets_and_other_seeds_differ():
    a, x, t = _net()
    b, _, _ = _net()
    c, _, _ = _net(seed=1)
    for net in (a, b, c):
        net.fit_epoch(x, t)
    assert np.array_equal(a.core.w, b.core.w)
    assert not np.array_equal(a.core.w, c.core.w)


def test_a_restored_net_trains_on_exactly_as_the_original():
    """to_dict / from_dict (through msgpack) carry the core, the state and the generator."""
    a, x, t = _net()
    a.fit_epoch(x, t)
    b = Neuronenblitz.from_dict(msgspec.msgpack.decode(msgspec.msgpack.encode(a.to_dict())))
    a.fit_epoch(x, t)
    b.fit_epoch(x, t)
    assert np.array_equal(a.core.w, b.core.w)
    assert np.array_equal(a.predict(x), b.predict(x))


def test_a_wander_reaches_its_target_and_raises_the_route_potentials_it_took():
    net, x, _ = _net(backtrack_probability=0.0)
    entry, _ = net.entries(x[0])[0]
    target = int(net.core.output_ids[0])
    before = net.core.pot.copy()
    path = wander(net, entry, target, 1.0, net.rng)
    assert path.reached and target == int(net.core.dst[path.synapses[-1]])
    assert all(net.core.pot[s] > before[s] for s in path.synapses)


def test_reset_learning_state_clears_momentum_traces_and_buffers():
    net, x, t = _net()
    net.fit_epoch(x, t)
    assert np.abs(net.core.mom).sum() > 0 and len(net.replay) > 0
    net.reset_learning_state()
    assert 0.0 == np.abs(net.core.mom).sum() + np.abs(net.core.elig).sum()
    assert 0 == len(net.replay) + len(net.episodic)


def test_a_split_puts_a_neuron_between_the_ends_with_the_seeds_weights():
    """w1 = w m1 mod slr (1 + sim), w2 likewise; the split synapse is gone."""
    net, x, _ = _net(split_probability=1.0, plasticity_threshold=0.0, struct_weight_multiplier1=2.0,
                     struct_weight_multiplier2=0.5)
    entry, _ = net.entries(x[0])[0]
    path = wander(net, entry, int(net.core.output_ids[0]), 1.0, net.rng)
    s = path.synapses[0]
    a, b, w = int(net.core.src[s]), int(net.core.dst[s]), float(net.core.w[s])
    ra, rb = net.core.rep[a], net.core.rep[b]
    sim = float(ra @ rb / (np.linalg.norm(ra) * np.linalg.norm(rb) + 1e-9))
    n_before = net.core.n_neurons
    path.synapses = [s]
    assert 1 == plasticity.maybe_split(net, path)
    new = n_before
    into = [i for i in net.core.out[a] if int(net.core.dst[i]) == new]
    out = [i for i in net.core.out[new] if int(net.core.dst[i]) == b]
    assert not net.core.alive[s]
    assert w * 2.0 * (1 + sim) == pytest.approx(float(net.core.w[into[0]]))
    assert w * 0.5 * (1 + sim) == pytest.approx(float(net.core.w[out[0]]))
    assert np.allclose((ra + rb) / 2, net.core.rep[new])


def test_gradient_pruning_takes_the_lowest_share_of_gradients():
    grad = np.array([0.5, 0.1, 0.9, 0.2, 0.0])
    alive = np.array([True, True, True, True, False])
    assert [False, True, False, True, False] == plasticity.gradient_prune_mask(grad, alive, 0.5).tolist()


def test_the_wander_cache_expires_after_its_ttl_and_evicts_the_least_recently_used():
    cache = TTLCache(size=2, ttl=10)
    cache.put("a", 1, now=0)
    cache.put("b", 2, now=0)
    assert 1 == cache.get("a", now=5)
    cache.put("c", 3, now=5)  # evicts b, the least recently used
    assert (None, 1, None) == (cache.get("b", 5), cache.get("a", 5), cache.get("c", 20))
    assert (1, 1) == (cache.evicted, cache.expired)


def test_prioritised_replay_weights_follow_the_formula():
    """P_i = p_i^a / sum p^a; w_i = (1 / (N P_i))^b / max w."""
    buf = PrioritizedReplay(10)
    buf.add(0, 1.0)
    buf.add(1, 3.0)
    picks = dict(buf.sample(200, alpha=1.0, beta=1.0, rng=np.random.default_rng(0)))
    p = np.array([1.0, 3.0]) / 4.0
    w = 1.0 / (2 * p)
    assert w[0] / w.max() == pytest.approx(picks[0], rel=1e-4)
    assert w[1] / w.max() == pytest.approx(picks[1], rel=1e-4)


def test_the_dream_buffer_keeps_salient_examples_long_term():
    buf = DreamReplayBuffer(instant=2, long_term=1, threshold=0.5)
    for i, s in enumerate([0.9, 0.1, 0.2, 0.7]):
        buf.add(i, s)
    assert [(0, 0.9)] == buf.long_term
    assert [2, 3] == [i for i, _ in buf.instant]


def test_brain_formulas_growth_factor_adaptation_and_dream_decay():
    net, _, _ = _net(neurogenesis_factor=1.5, neurogenesis_increase_step=0.5, max_neurogenesis_factor=1.8)
    net.state.context.update(arousal=0.2, reward=0.4, stress=0.5)
    assert (1 + 0.4) * 1.5 == pytest.approx(brain.growth_factor(net))
    brain.adapt_factor(net, val_loss=2.0, previous=1.0)
    assert 1.8 == net.state.neurogenesis_factor  # capped
    brain.adapt_factor(net, val_loss=0.5, previous=1.0)
    assert 1.8 - net.cfg.neurogenesis_decrease_step == pytest.approx(net.state.neurogenesis_factor)
    cfg = net.cfg
    expected = cfg.dream_synapse_decay * (1 + cfg.dream_arousal_scale * 0.2) * (1 - cfg.dream_stress_scale * 0.5)
    assert expected == pytest.approx(brain.dream_decay(cfg, net.state.context))


def test_neurogenesis_adds_floor_of_base_times_factor():
    net, _, _ = _net(neurogenesis_base_neurons=3, neurogenesis_base_synapses=5)
    net.state.neurogenesis_factor = 1.0
    net.state.context.update(arousal=0.5, reward=0.0)
    n, s = net.core.n_neurons, net.core.n_synapses
    assert (math.floor(3 * 1.5), math.floor(5 * 1.5)) == brain.neurogenesis(net)
    assert (n + 4, s + 4 * 2 + 7) == (net.core.n_neurons, net.core.n_synapses)


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    stop = brain.EarlyStopping(patience=2, delta=0.1)
    assert [False, False, False, True] == [stop.update(v) for v in (1.0, 0.5, 0.45, 0.48)]


def test_sleep_replays_salient_examples_and_decays_every_weight():
    net, x, t = _net(dream_cycles=4, dream_synapse_decay=0.5)
    net.fit_epoch(x, t)
    out = net.sleep(x, t)
    assert 4.0 == out["replayed"]
    assert out["dream_decay"] == pytest.approx(brain.dream_decay(net.cfg, net.state.context))


def test_schedules_and_q_learning_follow_their_formulas():
    cfg = MarbleConfig(lr_scheduler="exponential", scheduler_gamma=0.5, min_learning_rate=0.01,
                       epsilon_scheduler="exponential", epsilon_scheduler_gamma=0.5, rl_min_epsilon=0.04)
    assert 0.05 == scheduled_lr(cfg, 0.1, 1, 10)
    assert 0.01 == scheduled_lr(cfg, 0.015, 1, 10)
    assert 0.04 == scheduled_epsilon(cfg, 0.05, 1)
    assert [1 + 0.5 * (2 + 0.5 * 3), 2 + 0.5 * 3, 3.0] == discounted_returns([1.0, 2.0, 3.0], 0.5)
    net, x, _ = _net()
    entry, _ = net.entries(x[0])[0]
    path = wander(net, entry, int(net.core.output_ids[0]), 1.0, net.rng)
    last = path.synapses[-1]
    q_update(net.core, net.cfg, path.synapses, reward=-1.0, alpha=0.5)
    assert -0.5 == net.core.q[last]


def test_interconnect_merges_another_net_into_this_one():
    a, x, _ = _net()
    b, _, _ = _net(seed=1)
    n = a.core.n_neurons + b.core.n_neurons
    a.interconnect(b)
    assert n == a.core.n_neurons
    assert 1 == len(a.core.output_ids)
    assert a.predict(x[:3]).shape == (3, 1)
