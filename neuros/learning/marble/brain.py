"""MARBLE's brain (section 3.6): the neuromodulatory context, the neurogenesis controller,
the growth tier, early stopping and the dream decay that `sleep` applies.

    f    = (1 + max(arousal, reward)) * neurogenesis_factor
    N, S = floor(base_neurons f), floor(base_synapses f)
    factor <- min(max_factor, factor + increase_step)   when validation loss rose
    factor <- max(1, factor - decrease_step)            when it fell
    P(growth) = auto_neurogenesis_prob * min(1, val_loss)
    d    = dream_synapse_decay (1 + s_a arousal)(1 - s_s stress)
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["update_context", "growth_factor", "adapt_factor", "choose_growth_tier", "neurogenesis",
           "maybe_autonomous_neurogenesis", "dream_decay", "EarlyStopping"]

TIERS = ("vram", "ram", "disk")


def update_context(net: Any, error: float, novelty: float) -> None:
    """Move the neuromodulatory context after an example: reward rises when the error
    falls below its running mean and decays by reward_decay; stress follows |error|; arousal
    follows novelty; emotion is reward minus stress. Each new context joins the history."""
    st, cfg = net.state, net.cfg
    ctx, error, novelty = st.context, float(error), float(novelty)
    mean = st.error_mean
    ctx["reward"] = ctx["reward"] * cfg.reward_decay + (1 - cfg.reward_decay) * max(0.0, mean - abs(error))
    ctx["stress"] = 0.99 * ctx["stress"] + 0.01 * min(1.0, abs(error))
    ctx["arousal"] = 0.99 * ctx["arousal"] + 0.01 * novelty
    ctx["emotion"] = ctx["reward"] - ctx["stress"]
    st.error_mean = 0.99 * mean + 0.01 * abs(error)
    st.context_history.append((ctx["arousal"], ctx["stress"], ctx["reward"], ctx["emotion"]))


def growth_factor(net: Any) -> float:
    ctx = net.state.context
    return (1.0 + max(ctx["arousal"], ctx["reward"])) * net.state.neurogenesis_factor


def adapt_factor(net: Any, val_loss: float, previous: float | None) -> None:
    st, cfg = net.state, net.cfg
    if previous is None:
        return
    if val_loss > previous:
        st.neurogenesis_factor = min(cfg.max_neurogenesis_factor, st.neurogenesis_factor + cfg.neurogenesis_increase_step)
    elif val_loss < previous:
        st.neurogenesis_factor = max(1.0, st.neurogenesis_factor - cfg.neurogenesis_decrease_step)


def choose_growth_tier(net: Any) -> int:
    """vram unless the core's arrays exceed vram_limit_mb or the neurons' mean age exceeds
    max_neuron_age; then ram, or disk past ram_limit_mb (the tiers are labels here: every
    tier computes on the CPU)."""
    core, cfg = net.core, net.cfg
    mb = core.nbytes() / 2**20
    old = core.n_neurons and float(core.age.mean()) > cfg.max_neuron_age
    if mb > cfg.ram_limit_mb:
        return 2
    if mb > cfg.vram_limit_mb or old:
        return 1
    return 0


def neurogenesis(net: Any) -> tuple[int, int]:
    """Grow the core by N neurons and S synapses of the preferred type; returns (N, S)."""
    cfg = net.cfg
    f = growth_factor(net)
    n, s = math.floor(cfg.neurogenesis_base_neurons * f), math.floor(cfg.neurogenesis_base_synapses * f)
    if n <= 0 and s <= 0:
        return 0, 0
    types = [net.preferred_neuron_type()]
    net.core.expand(n, s, types, net.rng, (cfg.weight_init_min, cfg.weight_init_max), cfg.representation_noise_std,
                    tier=choose_growth_tier(net))
    net.state.plasticity_events.append(("neurogenesis", net.state.wanders, {"neurons": n, "synapses": s, "f": f}))
    return n, s


def maybe_autonomous_neurogenesis(net: Any, val_loss: float) -> tuple[int, int]:
    p = net.cfg.auto_neurogenesis_prob * min(1.0, val_loss)
    if p > 0 and net.rng.random() < p:
        return neurogenesis(net)
    return 0, 0


def dream_decay(cfg: Any, context: dict[str, float]) -> float:
    return cfg.dream_synapse_decay * (1 + cfg.dream_arousal_scale * context["arousal"]) * \
        (1 - cfg.dream_stress_scale * context["stress"])


class EarlyStopping:
    """Stop when validation loss has not improved by `delta` for `patience` epochs."""

    def __init__(self, patience: int, delta: float) -> None:
        self.patience, self.delta = patience, delta
        self.best: float | None = None
        self.stale = 0

    def update(self, loss: float) -> bool:
        """Record an epoch's validation loss; True when training should stop."""
        if self.best is None or loss < self.best - self.delta:
            self.best, self.stale = loss, 0
        else:
            self.stale += 1
        return self.stale >= self.patience

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best, "stale": self.stale}

    def load(self, doc: dict[str, Any]) -> None:
        self.best, self.stale = doc["best"], int(doc["stale"])
