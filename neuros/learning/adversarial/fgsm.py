"""FGSM and adversarial training (seed 5.7). torch.

    x_adv = clip(x + eps * sign(grad_x L(model(x), y)), lo, hi)

Adversarial training updates the model on (x_adv, y) made on the fly against its current
weights, mixed with the clean batch (`adv_weight` of the loss on x_adv, the rest on x).
"""

from __future__ import annotations

from typing import Any

__all__ = ["fgsm", "classifier", "train_classifier", "accuracy"]


def fgsm(net: Any, x: Any, y: Any, eps: float, lo: float = 0.0, hi: float = 1.0) -> Any:
    """The fast gradient sign perturbation of x (B, D) against `net`, clipped to [lo, hi]."""
    import torch
    import torch.nn.functional as F

    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(net(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return (x + eps * grad.sign()).clamp(lo, hi).detach()


def classifier(n_in: int, hidden: int, classes: int, seed: int, device: Any = "cpu") -> Any:
    """The MLP n_in -> hidden -> hidden -> classes both trainings use."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, classes)).to(device)


def train_classifier(net: Any, x: Any, y: Any, *, epochs: int, lr: float, batch_size: int, eps: float,
                     adv_weight: float, seed: int, opt: Any = None, clip: tuple[float, float] = (0.0, 1.0)) -> float:
    """Train `net` on tensors (x, y) with Adam (`opt`, or a new one); adv_weight > 0 trains on
    FGSM examples (clipped to `clip`) too. Returns the last epoch's mean loss."""
    import torch
    import torch.nn.functional as F

    opt = opt or torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    mean = float("nan")
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen).to(x.device)
        total, batches = 0.0, 0
        for i in range(0, len(x), batch_size):
            xb, yb = x[order[i:i + batch_size]], y[order[i:i + batch_size]]
            loss = F.cross_entropy(net(xb), yb)
            if adv_weight > 0:
                adv = fgsm(net, xb, yb, eps, *clip)
                loss = (1 - adv_weight) * loss + adv_weight * F.cross_entropy(net(adv), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, batches = total + float(loss.detach()), batches + 1
        mean = total / max(batches, 1)
    return mean


def accuracy(net: Any, x: Any, y: Any, eps: float = 0.0) -> float:
    """Accuracy on (x, y), or on their FGSM perturbations at eps (robust accuracy) when eps > 0."""
    import torch

    if eps > 0:
        x = fgsm(net, x, y, eps)
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())
