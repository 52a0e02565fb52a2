"""Message passing over the core with MARBLE's attention module (section 3.2), vectorised.

Each live synapse s -> d carries the source's representation to the target. A target attends
over what reaches it: alpha = softmax_d(((r_d + ctx) . (r_s + ctx)) / (sqrt(k) * temperature)),
the context-aware form of section 4.7 with `ctx` the decayed mean of the neuromodulatory
context history; the weights are gated (sine of the round, or a logistic-map chaos), dropped
out in training, and the mix is layer-normalised and sent through a small fixed MLP:
r_d <- (1 - a) r_d + a * MLP(LayerNorm(sum_s alpha_s w_s r_s)). With mixed precision the
MLP computes in float16. The MLP's weights are fixed at creation (seeded), saved with the net.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["AttentionModule", "context_attention"]


def context_attention(q: Any, k: Any, ctx: Any) -> Any:
    """softmax(((Q + ctx)(K + ctx)^T) / sqrt(d)): Q (n, d), K (m, d), ctx (d,) -> (n, m)."""
    import numpy as np

    logits = (q + ctx) @ (k + ctx).T / math.sqrt(q.shape[-1])
    logits -= logits.max(-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(-1, keepdims=True)


class AttentionModule:
    """The attention and MLP of message passing; `gate_state` is the chaotic gate's value."""

    def __init__(self, rep_size: int, rng: Any) -> None:
        import numpy as np

        self.w1 = rng.normal(0.0, 1.0 / math.sqrt(rep_size), (rep_size, 2 * rep_size)).astype(np.float32)
        self.w2 = rng.normal(0.0, 1.0 / math.sqrt(2 * rep_size), (2 * rep_size, rep_size)).astype(np.float32)
        self.gate_state = 0.5
        self.rounds = 0

    def gate(self, kind: str, r: float) -> float:
        if kind == "sine":
            return 0.5 * (1.0 + math.sin(0.1 * self.rounds))
        if kind == "chaotic":
            self.gate_state = r * self.gate_state * (1.0 - self.gate_state)
            return self.gate_state
        return 1.0

    def message_passing(self, core: Any, cfg: Any, ctx: Any, rng: Any, training: bool) -> float:
        """One round over every live synapse; returns the mean change of the representations."""
        import numpy as np

        live = np.flatnonzero(core.alive)
        if not len(live):
            return 0.0
        src, dst, w = core.src[live], core.dst[live], core.w[live]
        reps = core.rep.astype(np.float32)
        c = np.zeros(reps.shape[1], np.float32) if ctx is None else np.asarray(ctx, np.float32)
        logits = ((reps[dst] + c) * (reps[src] + c)).sum(1) / (math.sqrt(reps.shape[1]) * cfg.attention_temperature)
        top = np.full(core.n_neurons, -np.inf)
        np.maximum.at(top, dst, logits)
        e = np.exp(logits - top[dst])
        norm = np.zeros(core.n_neurons)
        np.add.at(norm, dst, e)
        alpha = e / norm[dst]  # softmax over the synapses into each target
        alpha *= self.gate(cfg.attention_gating, cfg.chaotic_gating_param)
        if training and cfg.attention_dropout > 0:
            alpha *= (rng.random(len(alpha)) >= cfg.attention_dropout) / (1.0 - cfg.attention_dropout)
        mix = np.zeros_like(reps)
        np.add.at(mix, dst, (alpha * w)[:, None] * reps[src])  # (N, d)
        got = np.zeros(core.n_neurons, bool)
        got[dst] = True
        h = mix[got]
        h = (h - h.mean(1, keepdims=True)) / (h.std(1, keepdims=True) + 1e-5)  # layer norm
        dtype = np.float16 if cfg.use_mixed_precision else np.float32
        hid = np.maximum(h.astype(dtype) @ self.w1.astype(dtype), 0)
        upd = (hid @ self.w2.astype(dtype)).astype(np.float32)
        a = cfg.message_passing_alpha
        before = core.rep[got].copy()
        core.rep[got] = (1.0 - a) * core.rep[got] + a * upd
        self.rounds += 1
        return float(np.abs(core.rep[got] - before).mean())

    def to_dict(self) -> dict[str, Any]:
        return {"w1": self.w1.astype("<f4").tobytes(), "w2": self.w2.astype("<f4").tobytes(),
                "shape": list(self.w1.shape), "gate_state": self.gate_state, "rounds": self.rounds}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "AttentionModule":
        import numpy as np

        m = cls.__new__(cls)
        d, h = doc["shape"]
        m.w1 = np.frombuffer(doc["w1"], "<f4").reshape(d, h).copy()
        m.w2 = np.frombuffer(doc["w2"], "<f4").reshape(h, d).copy()
        m.gate_state, m.rounds = float(doc["gate_state"]), int(doc["rounds"])
        return m
