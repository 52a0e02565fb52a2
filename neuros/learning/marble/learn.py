"""Neuronenblitz's learning step on one path (section 4.5), vectorised over its synapses.

    Delta   = weight_update_fn(s, e, L)         (default e s / (L + 1)) [+ gradient noise]
    Delta'  = Delta * eligibility trace
    v'      = beta v + (1 - beta) Delta'^2 ;  scaled = Delta' / sqrt(v' + eps)
    m'      = mu m + scaled ;                 update = lr (mu m' + scaled)
    update *= cos(phi_syn - phi_global) [* chaotic gate] * max(0, 1 - fatigue)
              * 1 / (1 + visits^activity_gate_exponent) [* echo]
    update  = clip(update, +-synapse_update_cap / (1 + depth_clip_scaling L / max_wander_depth))
    w      <- clip(w + update, +-weight_limit)  after gradient_accumulation_steps, then decay
    potential <- min(cap, potential + |scaled| gradient_score_scale)
    gate   <- gate * memory_gate_decay + memory_gate_strength |e|
    score   = |e| |w| / max(L, 1) (1 + gate)

Then the phase (phi += phase_rate + phase_adaptation_rate e), the chaotic gate
(c' = r c (1 - c)), fatigue (f' = f fatigue_decay + fatigue_increase) and the synapse-type
attention (a' = a attention_decay + attention_update_scale activity) move on.
"""

from __future__ import annotations

import math
from typing import Any

from .core import OUTPUT
from .wander import Path, step_value

__all__ = ["error_of", "path_gradients", "learn_path", "flush_updates"]


def error_of(cfg: Any, t: float, y: float) -> float:
    """e = validation_fn(t, y) * loss(t, y) * loss_scale: the signed error that drives learning."""
    d = t - y
    if cfg.loss_module == "mse":
        ell = 2.0 * d
    elif cfg.loss_module == "l1":
        ell = math.copysign(1.0, d) if d else 0.0
    elif cfg.loss_module == "smooth_l1":
        ell = d if abs(d) < 1.0 else math.copysign(1.0, d)
    elif cfg.loss_fn == "clipped_error":
        ell = max(-1.0, min(1.0, d))
    else:
        ell = d
    v = 1.0 if cfg.validation_fn == "one" else min(1.0, abs(d))
    return v * ell * cfg.loss_scale


def path_gradients(core: Any, cfg: Any, path: Path) -> Any:
    """dy/dw_k for each synapse of `path` by the chain rule along it (central differences,
    so every registered neuron and synapse type works)."""
    import numpy as np

    n, h = len(path.synapses), 1e-4
    dv_dw, dv_dv = np.zeros(n), np.zeros(n)
    for k, (s, v) in enumerate(zip(path.synapses, path.values)):
        w = float(core.w[s])
        if core.stype[s] == 0 and core.ntype[core.dst[s]] == 0:  # standard types: z = v w, exactly
            z = v * w
            slope = 1.0 if core.role[core.dst[s]] == OUTPUT else _combine_slope(cfg.combine_fn, z)
            dv_dw[k], dv_dv[k] = slope * v, slope * w
            continue
        core.w[s] = w + h
        up = step_value(core, cfg, s, v)
        core.w[s] = w - h
        down = step_value(core, cfg, s, v)
        core.w[s] = w
        dv_dw[k] = (up - down) / (2 * h)
        dv_dv[k] = (step_value(core, cfg, s, v + h) - step_value(core, cfg, s, v - h)) / (2 * h)
    downstream = np.ones(n)  # dy/dv_k: the product of the later hops' slopes
    for k in range(n - 2, -1, -1):
        downstream[k] = downstream[k + 1] * dv_dv[k + 1]
    return dv_dw * downstream


def _combine_slope(kind: str, z: float) -> float:
    if kind == "relu":
        return 1.0 if z > 0.0 else 0.0
    if kind == "tanh":
        return 1.0 - math.tanh(z) ** 2
    return 1.0


def learn_path(net: Any, path: Path, e: float, weight: float = 1.0) -> float:
    """Apply the learning step for error `e` on `path` (`weight`: a replay's importance
    weight); returns the path's score. Updates are accumulated until flush_updates.

    Plain Python over the path's few synapses: a wander's path is 2 to 6 long, where each
    numpy call costs more than the arithmetic (numpy took 5x as long here); the per-synapse
    state lives in the core's numpy columns all the same, and the decays over every synapse
    (blitz.py) are vectorised."""
    if not path.synapses:
        return 0.0
    core, cfg, st, rng = net.core, net.cfg, net.state, net.rng
    ids, s = list(path.synapses), list(path.values)
    L = len(ids)
    if cfg.span_module == "threshold":  # dynamic attention span: the last `span` synapses learn
        att = [float(st.type_attention[core.stype[i]]) for i in ids]
        top = max(att) + 1e-12
        span = min(cfg.max_attention_span, sum(a / top >= cfg.attention_span_threshold for a in att) or 1)
    else:
        span = min(cfg.max_attention_span, L)
    ids, s = ids[L - span:], s[L - span:]
    if cfg.weight_update_fn == "default":
        delta = [e * v / (L + 1) for v in s]
    elif cfg.weight_update_fn == "plain":
        delta = [e * v for v in s]
    else:
        delta = [e * g for g in path_gradients(core, cfg, path)[L - span:].tolist()]
    if cfg.gradient_noise_std:
        delta = [d + n for d, n in zip(delta, rng.normal(0.0, cfg.gradient_noise_std, len(delta)).tolist())]
    lam, beta, mu, lr = cfg.eligibility_decay, cfg.rmsprop_beta, cfg.momentum_coefficient, st.lr
    cap = cfg.synapse_update_cap / (1.0 + cfg.depth_clip_scaling * (L / cfg.max_wander_depth))
    chaos = st.chaos if cfg.chaotic_gating_enabled else 1.0
    w_col, pot, rms, mom, elig, fat, visits, phase, echo, grad, gate = (
        core.w, core.pot, core.rms, core.mom, core.elig, core.fat, core.visits, core.phase, core.echo, core.grad,
        core.gate)
    score = 0.0
    for i, d, v in zip(ids, delta, s):
        elig[i] = lam * elig[i] + (1.0 - lam)
        d *= elig[i]
        rms[i] = beta * rms[i] + (1.0 - beta) * d * d
        scaled = d / math.sqrt(rms[i] + cfg.grad_epsilon)
        mom[i] = mu * mom[i] + scaled
        u = lr * (mu * mom[i] + scaled)
        u *= math.cos(phase[i] - st.phase) * chaos
        if cfg.synaptic_fatigue_enabled:
            u *= max(0.0, 1.0 - fat[i])
            fat[i] += cfg.fatigue_increase  # the decay of every synapse runs once an example (blitz.py)
        u *= 1.0 / (1.0 + visits[i] ** cfg.activity_gate_exponent)
        if cfg.use_echo_modulation:
            u *= echo[i]
            echo[i] = 0.9 * echo[i] + 0.1 * abs(v)
        u = max(-cap, min(cap, u * weight))
        st.pending[i] = st.pending.get(i, 0.0) + u
        pot[i] = min(cfg.synapse_potential_cap, pot[i] + abs(scaled) * cfg.gradient_score_scale)
        grad[i] = abs(u)
        gate[i] = gate[i] * cfg.memory_gate_decay + cfg.memory_gate_strength * abs(e)
        score += abs(e) * abs(w_col[i]) / max(L, 1) * (1.0 + gate[i])

    st.accumulated += 1
    if st.accumulated >= cfg.gradient_accumulation_steps:
        flush_updates(net)
    st.phase += cfg.phase_rate + cfg.phase_adaptation_rate * e
    if cfg.chaotic_gating_enabled:
        st.chaos = cfg.chaotic_gating_param * st.chaos * (1.0 - st.chaos)
    st.type_attention *= cfg.attention_decay
    for i in ids:
        t = core.stype[i]
        st.type_attention[t] += cfg.attention_update_scale
        st.type_loss[t] += abs(e)
    return score / len(ids)


def flush_updates(net: Any) -> None:
    """Apply the accumulated updates: w <- clip(w (1 - weight_decay) + update, +-weight_limit)."""
    import numpy as np

    core, cfg, st = net.core, net.cfg, net.state
    if len(st.pending) <= 16:  # a path's few synapses: plain Python is faster than numpy here
        keep, limit = 1.0 - cfg.weight_decay, cfg.weight_limit
        for i, u in st.pending.items():
            if core.alive[i]:
                core.w[i] = max(-limit, min(limit, (core.w[i] + u) * keep))
    else:
        ids = np.fromiter(st.pending, np.int64, len(st.pending))
        upd = np.fromiter(st.pending.values(), np.float64, len(st.pending))
        live = core.alive[ids]
        ids, upd = ids[live], upd[live]
        core.w[ids] = np.clip((core.w[ids] + upd) * (1.0 - cfg.weight_decay), -cfg.weight_limit, cfg.weight_limit)
    st.pending.clear()
    st.accumulated = 0
