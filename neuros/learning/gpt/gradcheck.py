"""The gradient check: our autograd against torch's on the same decoder, the same weights and
the same loss (cross-entropy plus the distillation term), in float64."""

from __future__ import annotations

__all__ = ["gradient_check"]


def gradient_check(seed: int = 0, vocab: int = 11, context: int = 6, d_model: int = 8, layers: int = 2,
                   heads: int = 2, batch: int = 3, alpha: float = 0.5) -> dict[str, float]:
    """{"max_abs_grad_diff", "loss_diff"} between our Tensor and torch autograd."""
    import numpy as np
    import torch

    from .backend import NumpyOps
    from .model import causal_bias, cross_entropy, forward, init_params, kl_divergence, one_hot, positions
    from .tensor import parameter

    rng = np.random.default_rng(seed)
    # weights away from the init's near-zero values, so every path carries gradient
    start = {k: v + rng.normal(0, 0.3, v.shape) for k, v in init_params(vocab, context, d_model, layers, seed).items()}
    ids, targets = rng.integers(vocab, size=(batch, context)), rng.integers(vocab, size=(batch, context))
    teacher = np.log(rng.dirichlet(np.ones(vocab), size=(batch, context)))
    consts = [one_hot(ids, vocab), positions(context, context), causal_bias(context), one_hot(targets, vocab), teacher]

    def loss(p, c):
        logits = forward(p, c[0], c[1], c[2], layers, heads)
        return cross_entropy(logits, c[3]) + alpha * kl_divergence(logits, c[4])

    ops = NumpyOps("float64")
    ours = {k: parameter(v, ops) for k, v in start.items()}
    ours_loss = loss(ours, consts)
    ours_loss.backward()
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    theirs_loss = loss(theirs, [torch.tensor(c) for c in consts])
    theirs_loss.backward()
    diff = max(float(np.abs(ours[k].grad - theirs[k].grad.numpy()).max()) for k in start)
    return {"max_abs_grad_diff": diff, "loss_diff": abs(float(ours_loss.data) - float(theirs_loss.detach()))}
