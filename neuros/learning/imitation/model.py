"""Behaviour cloning (seed 5.2): an MLP policy trained with categorical cross-entropy on the
expert's actions, L = -sum_i y_i log p_i (y one-hot at the expert's action). torch inside."""

from __future__ import annotations

from typing import Any

__all__ = ["Policy", "clone_epoch", "cross_entropy"]


def Policy(n_in: int, hidden: int, n_actions: int, seed: int, device: Any = "cpu") -> Any:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_actions)).to(device)


def cross_entropy(logits: Any, actions: Any) -> Any:
    """Mean over the batch of -sum_i y_i log p_i, y one-hot at the expert's action."""
    import torch.nn.functional as F

    return -(F.one_hot(actions, logits.shape[1]) * F.log_softmax(logits, -1)).sum(1).mean()


def clone_epoch(net: Any, opt: Any, x: Any, y: Any, batch: int, gen: Any) -> float:
    import torch

    order = torch.randperm(len(x), generator=gen).to(x.device)
    total, batches = 0.0, 0
    for start in range(0, len(x), batch):
        idx = order[start:start + batch]
        loss = cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total, batches = total + loss.item(), batches + 1
    return total / max(batches, 1)

