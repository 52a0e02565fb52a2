"""Structural plasticity (sections 4.6, 4.9): split, merge, prune, gradient pruning, the
synapse-type action, shortcuts, emergent and alternative connections, concept neurons.

Every change is appended to the net's plasticity history (bounded by
`plasticity_history_size`) as (kind, wander count, detail), MARBLE's event log with a
timestamp; the clock is the wander count, so equal seeds give equal histories.
"""

from __future__ import annotations

from typing import Any

from .core import HIDDEN, OUTPUT
from .registries import SYNAPSE_TYPES
from .wander import Path

__all__ = ["maybe_split", "merge_parallel", "prune_low_potential", "gradient_prune_mask", "apply_gradient_prune_mask",
           "decide_synapse_action", "after_wander"]


def _log(net: Any, kind: str, detail: Any) -> None:
    net.state.plasticity_events.append((kind, net.state.wanders, detail))


def _rep_similarity(core: Any, a: int, b: int) -> float:
    import numpy as np

    ra, rb = core.rep[a], core.rep[b]
    return float(ra @ rb / (np.linalg.norm(ra) * np.linalg.norm(rb) + 1e-9))


def plasticity_mod(net: Any) -> float:
    """mod = plasticity_modulation + reward_scale * reward - stress_scale * stress."""
    cfg, ctx = net.cfg, net.state.context
    return cfg.plasticity_modulation + cfg.reward_scale * ctx["reward"] - cfg.stress_scale * ctx["stress"]


def maybe_split(net: Any, path: Path) -> int:
    """Split each traversed synapse whose potential reaches plasticity_threshold (with
    probability split_probability, past the structural dropout check): a new neuron between
    its ends, representation (source + target) / 2, one tier slower; w1, w2 per section 4.6."""
    core, cfg, rng = net.core, net.cfg, net.rng
    made = 0
    for s in list(path.synapses):
        if not core.alive[s] or core.pot[s] < cfg.plasticity_threshold:
            continue
        # splits only while the learning rate is at least half its start: a split changes its
        # path's output (w1 w2 is not w), and a late one, when the rate has decayed, leaves the
        # paths through it no time to relearn (Neuro's choice; MARBLE splits at a fixed rate)
        p = cfg.split_probability if net.state.lr >= 0.5 * cfg.learning_rate else 0.0
        if rng.random() >= p or rng.random() < cfg.structural_dropout_prob:
            continue
        a, b = int(core.src[s]), int(core.dst[s])
        sim = _rep_similarity(core, a, b)
        mod = plasticity_mod(net)
        base = float(core.w[s]) * mod * cfg.structural_learning_rate * (1.0 + sim)
        tier = min(2, int(max(core.tier[a], core.tier[b])) + 1)
        n = core.add_neuron((core.rep[a] + core.rep[b]) / 2.0, HIDDEN, "standard", tier)
        stype = list(SYNAPSE_TYPES)[int(core.stype[s])]
        core.add_synapse(a, n, base * cfg.struct_weight_multiplier1, stype, float(core.pot[s]))
        core.add_synapse(n, b, base * cfg.struct_weight_multiplier2, stype, float(core.pot[s]))
        _log(net, "split", {"synapse": s, "neuron": n, "potential": float(core.pot[s])})
        core.remove_synapse(s)
        made += 1
    return made


def merge_parallel(net: Any) -> int:
    """Merge synapses with the same ends whose weights differ by less than merge_tolerance
    (the survivor takes their mean weight and the larger potential)."""
    core, tol = net.core, net.cfg.merge_tolerance
    merged = 0
    for n in range(core.n_neurons):
        by_dst: dict[int, list[int]] = {}
        for s in core.out[n]:
            by_dst.setdefault(int(core.dst[s]), []).append(s)
        for group in by_dst.values():
            while len(group) > 1:
                a, b = group[0], group[1]
                if abs(core.w[a] - core.w[b]) >= tol:
                    group.pop(1)
                    continue
                core.w[a] = (core.w[a] + core.w[b]) / 2.0
                core.pot[a] = max(core.pot[a], core.pot[b])
                core.remove_synapse(b)
                group.pop(1)
                merged += 1
                _log(net, "merge", {"kept": a, "removed": b})
    return merged


def prune_low_potential(net: Any, threshold: float) -> int:
    """Remove live synapses whose potential is below `threshold`, never a neuron's last
    outgoing one (a neuron left with none would end every wander through it)."""
    import numpy as np

    core = net.core
    pruned = 0
    for s in np.flatnonzero(core.alive & (core.pot < threshold)):
        s = int(s)
        if len(core.out[int(core.src[s])]) > 1 and core.role[int(core.dst[s])] != OUTPUT:
            core.remove_synapse(s)
            pruned += 1
    if pruned:
        _log(net, "prune", {"synapses": pruned, "threshold": threshold})
    return pruned


def gradient_prune_mask(grad: Any, alive: Any, ratio: float) -> Any:
    """The lowest `ratio` share of live synapses by |gradient| (np.partition), as a mask."""
    import numpy as np

    live = np.flatnonzero(alive)
    k = int(len(live) * ratio)
    mask = np.zeros(len(grad), bool)
    if k <= 0:
        return mask
    g = grad[live]
    cut = np.partition(g, k - 1)[k - 1]
    mask[live[g <= cut][:k]] = True
    return mask


def apply_gradient_prune_mask(net: Any, mask: Any) -> int:
    """Delete the flagged synapses and their optimiser state (kept: a neuron's last out)."""
    import numpy as np

    core = net.core
    removed = 0
    for s in np.flatnonzero(mask):
        s = int(s)
        if core.alive[s] and len(core.out[int(core.src[s])]) > 1 and core.role[int(core.dst[s])] != OUTPUT:
            core.rms[s] = core.mom[s] = 0.0
            net.state.pending.pop(s, None)
            core.remove_synapse(s)
            removed += 1
    if removed:
        _log(net, "gradient_prune", {"synapses": removed})
    return removed


def decide_synapse_action(net: Any) -> str:
    """Create a synapse of the highest-loss type, or remove one of the highest-size type,
    whichever the type statistics favour (section 4.9); returns what it did."""
    import numpy as np

    core, st, rng, cfg = net.core, net.state, net.rng, net.cfg
    counts = np.bincount(core.stype[core.alive], minlength=len(st.type_loss)).astype(float)
    loss_rate = st.type_loss / np.maximum(counts, 1.0)
    size_share = counts / max(counts.sum(), 1.0)
    if loss_rate.max() >= size_share.max():
        t = int(np.argmax(loss_rate))
        made = core.random_synapse(rng, (cfg.weight_init_min, cfg.weight_init_max))
        if made is not None:
            core.stype[made] = t
            _log(net, "create", {"synapse": made, "type": list(SYNAPSE_TYPES)[t]})
            return "create"
        return "none"
    t = int(np.argmax(size_share))
    candidates = [int(s) for s in np.flatnonzero(core.alive & (core.stype == t))
                  if len(core.out[int(core.src[s])]) > 1 and core.role[int(core.dst[s])] != OUTPUT]
    if not candidates:
        return "none"
    s = candidates[int(rng.integers(len(candidates)))]
    core.remove_synapse(s)
    _log(net, "remove", {"synapse": s, "type": list(SYNAPSE_TYPES)[t]})
    return "remove"


def after_wander(net: Any, path: Path) -> None:
    """The structural side effects of one training wander: shortcuts, concept neurons,
    emergent and alternative connections, and the split."""
    core, cfg, st, rng = net.core, net.cfg, net.state, net.rng
    wr = (cfg.weight_init_min, cfg.weight_init_max)
    if cfg.shortcut_creation_threshold and len(path.synapses) > 2 and path.reached:
        key = tuple(path.synapses)
        st.path_counts[key] = st.path_counts.get(key, 0) + 1
        if st.path_counts[key] == cfg.shortcut_creation_threshold:
            a, b = int(core.src[path.synapses[0]]), int(core.dst[path.synapses[-1]])
            w = 1.0
            for s in path.synapses:
                w *= float(core.w[s])
            core.add_synapse(a, b, max(-cfg.weight_limit, min(cfg.weight_limit, w)))
            _log(net, "shortcut", {"from": a, "to": b})
    if cfg.concept_association_threshold:
        for s in path.synapses:
            pair = (int(core.src[s]), int(core.dst[s]))
            if core.role[pair[0]] != HIDDEN or core.role[pair[1]] != HIDDEN:
                continue
            st.pair_counts[pair] = st.pair_counts.get(pair, 0) + 1
            if st.pair_counts[pair] == cfg.concept_association_threshold:
                n = core.add_neuron((core.rep[pair[0]] + core.rep[pair[1]]) / 2.0, HIDDEN, "standard")
                core.add_synapse(pair[0], n, cfg.concept_learning_rate)
                core.add_synapse(n, pair[1], cfg.concept_learning_rate)
                _log(net, "concept", {"pair": pair, "neuron": n})
    if cfg.emergent_connection_prob and rng.random() < cfg.emergent_connection_prob:
        hidden = [i for i in range(core.n_neurons) if core.role[i] == HIDDEN]
        if len(hidden) > 1:
            a, b = rng.choice(hidden, 2, replace=False)
            core.add_synapse(int(a), int(b), float(rng.uniform(*wr)))
            _log(net, "emergent", {"from": int(a), "to": int(b)})
    if cfg.alternative_connection_prob:
        for s in path.synapses:
            if rng.random() < cfg.alternative_connection_prob:
                made = core.random_synapse(rng, wr, src=int(core.src[s]))
                if made is not None:
                    _log(net, "alternative", {"synapse": made})
    if cfg.structural_plasticity_enabled:
        maybe_split(net, path)
