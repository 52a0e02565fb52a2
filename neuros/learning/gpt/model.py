"""The decoder (seed 5.14): token and position embeddings, blocks of masked multi-head self-
attention and a feed-forward layer (pre-LayerNorm, residual), a final LayerNorm and a linear
head. Written once against the Tensor interface (tensor.py), so it runs on our `Tensor` and on
torch tensors alike: parameters are a dict of either.

Shapes: B batch, T context, C = d_model, H heads, D = C / H, V vocabulary.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["init_params", "forward", "log_softmax", "cross_entropy", "kl_divergence", "causal_bias", "one_hot",
           "positions"]


def init_params(vocab: int, context: int, d_model: int, layers: int, seed: int) -> dict[str, Any]:
    """Numpy float64 arrays (nanoGPT's init: N(0, 0.02), residual projections scaled by 1/sqrt(2L))."""
    import numpy as np

    rng = np.random.default_rng(seed)
    normal = lambda *shape, scale=0.02: rng.normal(0, scale, shape)  # noqa: E731
    resid = 0.02 / math.sqrt(2 * layers)
    p = {"wte": normal(vocab, d_model), "wpe": normal(context, d_model),
         "lnf.g": np.ones(d_model), "lnf.b": np.zeros(d_model), "head": normal(d_model, vocab)}
    for i in range(layers):
        p.update({f"h{i}.ln1.g": np.ones(d_model), f"h{i}.ln1.b": np.zeros(d_model),
                  f"h{i}.q": normal(d_model, d_model), f"h{i}.k": normal(d_model, d_model),
                  f"h{i}.v": normal(d_model, d_model), f"h{i}.proj": normal(d_model, d_model, scale=resid),
                  f"h{i}.ln2.g": np.ones(d_model), f"h{i}.ln2.b": np.zeros(d_model),
                  f"h{i}.fc": normal(d_model, 4 * d_model), f"h{i}.fc.b": np.zeros(4 * d_model),
                  f"h{i}.out": normal(4 * d_model, d_model, scale=resid), f"h{i}.out.b": np.zeros(d_model)})
    return p


def one_hot(ids: Any, vocab: int) -> Any:
    """(B, T) ids -> (B, T, V) float64 rows of the identity: an embedding is one_hot @ wte."""
    import numpy as np

    return np.eye(vocab)[np.asarray(ids)]


def positions(t: int, context: int) -> Any:
    """(T, context) one-hot positions 0..T-1: positions @ wpe are the first T position embeddings."""
    import numpy as np

    if t > context:
        raise ValueError(f"a sequence of {t} tokens is longer than the model's context ({context}); cut it")
    return np.eye(context)[:t]


def causal_bias(t: int) -> Any:
    """(T, T): 0 where a position may attend (itself and earlier), -1e9 where it may not (later)."""
    import numpy as np

    return np.triu(np.full((t, t), -1e9), 1)


def _layer_norm(x: Any, g: Any, b: Any) -> Any:
    mu = x.mean(-1, keepdim=True)
    xc = x - mu
    var = (xc * xc).mean(-1, keepdim=True)
    return xc * (var + 1e-5) ** -0.5 * g + b


def _softmax(x: Any, dim: int = -1) -> Any:
    e = (x - x.amax(dim, keepdim=True)).exp()
    return e / e.sum(dim, keepdim=True)


def _gelu(x: Any) -> Any:
    return 0.5 * x * (1.0 + (0.7978845608 * (x + 0.044715 * x * x * x)).tanh())


def forward(p: dict[str, Any], tokens: Any, pos: Any, bias: Any, layers: int, heads: int) -> Any:
    """Logits (B, T, V) from one-hot tokens (B, T, V), one-hot positions (T, context) and the
    causal bias (T, T) (constants: numpy arrays for our Tensor, tensors for torch)."""
    b, t, _ = tokens.shape
    c = p["wte"].shape[1]
    d = c // heads
    x = tokens @ p["wte"] + pos @ p["wpe"]  # (B, T, C)
    for i in range(layers):
        h = _layer_norm(x, p[f"h{i}.ln1.g"], p[f"h{i}.ln1.b"])
        q, k, v = ((h @ p[f"h{i}.{w}"]).reshape(b, t, heads, d).transpose(1, 2) for w in "qkv")  # (B, H, T, D)
        att = _softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(d)) + bias)  # (B, H, T, T), masked
        y = (att @ v).transpose(1, 2).reshape(b, t, c)  # (B, T, C)
        x = x + y @ p[f"h{i}.proj"]
        h = _layer_norm(x, p[f"h{i}.ln2.g"], p[f"h{i}.ln2.b"])
        x = x + _gelu(h @ p[f"h{i}.fc"] + p[f"h{i}.fc.b"]) @ p[f"h{i}.out"] + p[f"h{i}.out.b"]
    return _layer_norm(x, p["lnf.g"], p["lnf.b"]) @ p["head"]  # (B, T, V)


def log_softmax(logits: Any) -> Any:
    z = logits - logits.amax(-1, keepdim=True)
    return z - z.exp().sum(-1, keepdim=True).log()


def cross_entropy(logits: Any, targets: Any) -> Any:
    """Mean -log p(target) per position; `targets` one-hot (B, T, V)."""
    b, t, _ = logits.shape
    return -(log_softmax(logits) * targets).sum() * (1.0 / (b * t))


def kl_divergence(logits: Any, prev_log_probs: Any) -> Any:
    """The seed's distillation term KL(softmax(logits) || prev), mean per position; `prev_log_probs`
    (B, T, V) the log-probabilities of the model distilled from (a constant)."""
    b, t, _ = logits.shape
    logp = log_softmax(logits)
    return (logp.exp() * (logp - prev_log_probs)).sum() * (1.0 / (b * t))
