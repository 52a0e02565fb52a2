"""Neuronenblitz's dynamic wander (section 4.3) and beam search.

A wander starts at an entry neuron with the input's value and steps along outgoing synapses
until it reaches its target output neuron or `max_wander_depth`. At each step the candidates
(after dropout) are scored, score = potential / temperature + exploration bonus / (1 + visits)
+ curiosity / (1 + the target neuron's visits) [+ Q] [+ gradient path score] [+ log attention],
and one is drawn from the softmax of the scores (epsilon-greedy when reinforcement learning is
on). A synapse straight to the target is taken with probability 1 - continue_decay_rate^(d+1).
A training wander may backtrack, updates the route potentials it traverses, and may start by
replaying a remembered path; a greedy wander (prediction) takes the best score every step and
is cached (wander and subpath caches, TTL and LRU).

The value: v' = activation(combine_fn(transmit(v, w))) into a hidden neuron; an output neuron
takes transmit(v, w) as it is, so a regressor can answer below zero with combine_fn = relu.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .core import OUTPUT
from .registries import NEURON_TYPES, SYNAPSE_TYPES

__all__ = ["Path", "wander", "beam_wander", "greedy_path", "replay_values"]

_TRANSMIT = list(SYNAPSE_TYPES.values())
_ACTIVATE = list(NEURON_TYPES.values())


@dataclass
class Path:
    """The synapses a wander took, the value entering each, its output and whether it reached
    its target."""

    synapses: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    output: float = 0.0
    reached: bool = False
    backtracks: int = 0


def _combine(kind: str, z: float) -> float:
    if kind == "relu":
        return z if z > 0.0 else 0.0
    if kind == "tanh":
        return math.tanh(z)
    return z


def step_value(core: Any, cfg: Any, s: int, v: float) -> float:
    """The value synapse `s` delivers to its target neuron from value `v`."""
    if len(_TRANSMIT) != len(SYNAPSE_TYPES) or len(_ACTIVATE) != len(NEURON_TYPES):  # a type registered since
        _TRANSMIT[:], _ACTIVATE[:] = list(SYNAPSE_TYPES.values()), list(NEURON_TYPES.values())
    z = _TRANSMIT[int(core.stype[s])](v, float(core.w[s]))
    d = int(core.dst[s])
    if core.role[d] == OUTPUT:
        return z
    return _ACTIVATE[int(core.ntype[d])](_combine(cfg.combine_fn, z))


def replay_values(core: Any, cfg: Any, synapses: list[int], value: float) -> Path:
    """Recompute a path's values with the current weights (a parallel wanderer's path, a
    cached one, a replayed memory); stops at the first synapse that no longer exists."""
    path = Path()
    v = value
    for s in synapses:
        if not core.alive[s] or (path.synapses and int(core.src[s]) != int(core.dst[path.synapses[-1]])):
            break
        path.synapses.append(s)
        path.values.append(v)
        v = step_value(core, cfg, s, v)
    path.output = v
    return path


def scores(net: Any, current: int, cands: Any) -> Any:
    """The score of each candidate synapse (an int array) out of `current`."""
    import numpy as np

    core, cfg, st = net.core, net.cfg, net.state
    sc = core.pot[cands] / cfg.wander_temperature
    sc = sc + st.exploration_bonus / (1.0 + core.visits[cands])
    if cfg.curiosity_strength:
        sc = sc + cfg.curiosity_strength / (1.0 + core.nvisits[core.dst[cands]])
    if cfg.reinforcement_learning_enabled:
        sc = sc + core.q[cands]
    if cfg.use_gradient_path_scoring:
        g = np.sqrt(core.rms[cands]) if cfg.rms_gradient_path_scoring else core.grad[cands]
        sc = sc + cfg.gradient_path_score_scale * g
    if cfg.dynamic_attention_enabled:
        from .attention import context_attention

        att = context_attention(core.rep[current][None, :], core.rep[core.dst[cands]], net.context_embedding())
        sc = sc + np.log(att[0] + 1e-9)
    return sc


def _choose(net: Any, current: int, cands: list[int], rng: Any, greedy: bool) -> int:
    import numpy as np

    if len(cands) == 1:
        return cands[0]
    arr = np.asarray(cands)
    sc = scores(net, current, arr)
    if greedy:
        return int(arr[int(np.argmax(sc))])
    p = np.exp(sc - sc.max())
    p /= p.sum()
    cfg, st = net.cfg, net.state
    if cfg.reinforcement_learning_enabled:
        eps = st.epsilon
        if cfg.entropy_epsilon_enabled:
            h = float(-(p * np.log(p + 1e-12)).sum()) / math.log(len(p))
            eps *= 1.0 / (1.0 + math.exp(-cfg.exploration_entropy_scale * (h - cfg.exploration_entropy_shift)))
        if rng.random() < eps:
            return int(arr[int(rng.integers(len(arr)))])
    return int(arr[int(rng.choice(len(arr), p=p))])


def _candidates(core: Any, current: int, target: int) -> tuple[list[int], list[int]]:
    out = core.out[current]
    direct = [s for s in out if core.dst[s] == target]
    others = [s for s in out if core.role[core.dst[s]] != OUTPUT]
    return direct, others


def wander(net: Any, entry: int, target: int, value: float, rng: Any) -> Path:
    """A training wander from `entry` towards output neuron `target` (section 4.3)."""
    core, cfg, st = net.core, net.cfg, net.state
    depth_max = cfg.max_wander_depth * st.depth_factor
    if cfg.wander_depth_noise:
        depth_max += rng.normal(0.0, cfg.wander_depth_noise)
    depth_max = max(1, int(round(depth_max)))
    path, current, v = Path(), entry, value
    if cfg.episodic_memory_prob and rng.random() < cfg.episodic_memory_prob:
        remembered = net.episodic.recall(entry, target)
        if remembered:  # episodic bias: follow the remembered start for up to episodic_sim_length steps
            head = replay_values(core, cfg, list(remembered[:cfg.episodic_sim_length]), value)
            path.synapses, path.values = head.synapses, head.values
            if head.synapses:
                current, v = int(core.dst[head.synapses[-1]]), head.output
    tries = 0
    while len(path.synapses) < depth_max and current != target:
        tries += 1
        if tries > 4 * depth_max:
            break
        direct, others = _candidates(core, current, target)
        if cfg.dropout_probability:
            p = st.dropout
            direct = [s for s in direct if rng.random() >= p] or direct
            others = [s for s in others if rng.random() >= p] or others
        if not direct and not others:
            break
        keep_going = cfg.continue_decay_rate ** (len(path.synapses) + 1)
        pool = direct if direct and (not others or rng.random() >= keep_going) else others
        s = _choose(net, current, pool, rng, greedy=False)
        if (cfg.backtrack_enabled and path.synapses and len(path.synapses) < cfg.backtrack_depth_limit
                and rng.random() < cfg.backtrack_probability):
            # step back one synapse and choose again from there
            last = path.synapses.pop()
            v = path.values.pop()
            current = int(core.src[last])
            path.backtracks += 1
            continue
        path.synapses.append(s)
        path.values.append(v)
        v = step_value(core, cfg, s, v)
        core.pot[s] = min(cfg.synapse_potential_cap, core.pot[s] * cfg.route_potential_decay
                          + cfg.route_potential_increase)
        core.visits[s] += 1.0
        current = int(core.dst[s])
        core.nvisits[current] += 1.0
    path.output, path.reached = v, current == target
    return path


def beam_wander(net: Any, entry: int, target: int, value: float, width: int) -> Path:
    """Beam search of width `width`: the top paths by cumulative potential plus novelty
    (1 / (1 + visits)); the best that reaches the target, else the best partial one."""
    core, cfg = net.core, net.cfg
    beams: list[tuple[float, list[int], list[float], float, int]] = [(0.0, [], [], value, entry)]
    done: list[tuple[float, list[int], list[float], float, int]] = []
    for _ in range(cfg.max_wander_depth):
        grown = []
        for score, syns, vals, v, cur in beams:
            direct, others = _candidates(core, cur, target)
            for s in direct + others:
                item = (score + float(core.pot[s]) + 1.0 / (1.0 + float(core.visits[s])), syns + [s], vals + [v],
                        step_value(core, cfg, s, v), int(core.dst[s]))
                (done if item[4] == target else grown).append(item)
        if not grown:
            break
        beams = sorted(grown, key=lambda b: -b[0])[:width]
    best = max(done, key=lambda b: b[0]) if done else max(beams, key=lambda b: b[0])
    return Path(synapses=best[1], values=best[2], output=best[3], reached=best[4] == target)


def greedy_path(net: Any, entry: int, target: int) -> list[int]:
    """The best-scoring path from `entry` to `target` (prediction), through the caches."""
    core, cfg, st = net.core, net.cfg, net.state
    key = (entry, target, core.structure_version)
    hit = st.wander_cache.get(key, st.wanders)
    if hit is not None:
        return hit
    syns: list[int] = []
    current = entry
    seen = {entry}
    while len(syns) < cfg.max_wander_depth and current != target:
        tail = st.subpath_cache.get((current, target, core.structure_version), st.wanders)
        if tail is not None:
            syns += tail
            break
        direct, others = _candidates(core, current, target)
        if direct:
            s = _choose(net, current, direct, None, greedy=True)
        else:
            others = [s for s in others if int(core.dst[s]) not in seen]
            if not others:
                break
            s = _choose(net, current, others, None, greedy=True)
        syns.append(s)
        current = int(core.dst[s])
        seen.add(current)
    for k in range(1, len(syns)):  # every tail that reaches the target is a reusable subpath
        if int(core.dst[syns[-1]]) == target:
            st.subpath_cache.put((int(core.src[syns[k]]), target, core.structure_version), syns[k:], st.wanders)
    st.wander_cache.put(key, syns, st.wanders)
    return syns
