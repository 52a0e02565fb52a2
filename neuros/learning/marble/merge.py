"""How the learner folds a round of its parallel wanderers into its own net (parallel.py).

Each wanderer trained its share of the round on its own copy of the net as it was when the
round began, leaving the graph's shape alone; what it changed is its delta from that start.
The learner's net then moves by:

- the **sum of the deltas** for what adds up: weights, route potentials, visits and Q values
  per synapse, visits per neuron, the wander and anomaly counters, the global phase and the
  type losses; to first order what the shares run one after another would give.
  `parallel_update_strategy = "average"` moves the weights by the mean delta instead;
- the **mean of the ends** for running averages and traces: fatigue, eligibility, RMSProp v,
  momentum, echo, last |update|, memory gate, type attention, the context and the error
  mean, the chaotic gate;
- the **product of the ratios** for what decays by a factor: exploration bonus, epsilon and
  the monitor's depth factor;
- the **last share's window** for the histories (context history, wander lengths); each
  share's new episodic memories join the learner's.

With one wanderer every rule gives that wanderer's net exactly. Weights are clipped to
`weight_limit` and potentials to [0, synapse_potential_cap] afterwards, as learning keeps them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["merge_round", "ADDED_COLUMNS", "MEAN_COLUMNS"]

ADDED_COLUMNS = ("w", "pot", "visits", "q", "nvisits")  # nvisits: per neuron
MEAN_COLUMNS = ("fat", "elig", "rms", "mom", "echo", "grad", "gate")
_ADDED_STATE = ("wanders", "anomalies", "phase")
_MULTIPLIED_STATE = ("exploration_bonus", "epsilon", "depth_factor")
_MEAN_STATE = ("chaos", "error_mean")


def _added(start: Any, ends: list[Any]) -> Any:
    return ends[0] if len(ends) == 1 else start + sum(e - start for e in ends)


def _mean(ends: list[Any]) -> Any:
    return ends[0] if len(ends) == 1 else sum(ends) / len(ends)


def _multiplied(start: float, ends: list[float]) -> float:
    if len(ends) == 1 or not start:
        return _mean(ends)
    out = start
    for e in ends:
        out *= e / start
    return out


def merge_round(net: Any, replies: list[Any]) -> None:
    """Move `net` (as it was when the round began) by what the `replies`' nets learnt."""
    import msgspec
    import numpy as np

    if not replies:
        return
    docs = [msgspec.msgpack.decode(r.learnt) for r in replies]
    core, cfg, st = net.core, net.cfg, net.state

    def columns(name: str) -> list[Any]:
        out = [np.frombuffer(d["arrays"][name], "<f8").copy() for d in docs]
        if any(a.shape != getattr(core, name).shape for a in out):
            raise ValueError(f"a parallel wanderer answered a net of another shape ({name}: "
                             f"{[a.shape for a in out]}, expected {getattr(core, name).shape})")
        return out

    for name in ADDED_COLUMNS:
        base, ends = getattr(core, name), columns(name)
        if name == "w" and cfg.parallel_update_strategy == "average":
            setattr(core, name, base + _mean([e - base for e in ends]))
        else:
            setattr(core, name, _added(base, ends))
    for name in MEAN_COLUMNS:
        setattr(core, name, _mean(columns(name)))
    core.limit_weights(cfg.weight_limit)
    np.clip(core.pot, 0.0, cfg.synapse_potential_cap, out=core.pot)

    states = [d["state"] for d in docs]
    for name in _ADDED_STATE:
        setattr(st, name, _added(getattr(st, name), [s[name] for s in states]))
    for name in _MULTIPLIED_STATE:
        setattr(st, name, _multiplied(getattr(st, name), [s[name] for s in states]))
    for name in _MEAN_STATE:
        setattr(st, name, _mean([s[name] for s in states]))
    st.type_loss = _added(st.type_loss, [np.asarray(s["type_loss"], float) for s in states])
    st.type_attention = _mean([np.asarray(s["type_attention"], float) for s in states])
    st.context = {k: _mean([s["context"][k] for s in states]) for k in st.context}
    last = states[-1]
    st.context_history.clear()
    st.context_history.extend(tuple(c) for c in last["context_history"])
    st.wander_history.clear()
    st.wander_history.extend(last["wander_history"])
    st.history_sum = sum(st.wander_history)
    st.history_sq = sum(n * n for n in st.wander_history)
    for reply in replies:
        for e, t, *p in reply.episodic:
            net.episodic.remember(e, t, tuple(p))
