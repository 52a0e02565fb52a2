"""Training the mixture (the log mixture objective) and each learner alone (MSE), with the same
optimiser and steps: the experiment's figure and its baseline. torch inside."""

from __future__ import annotations

from typing import Any

from .model import Mixture, make_expert, mixture_loss

__all__ = ["fit_mixture", "fit_single", "mse"]


def fit_mixture(model: Mixture, x: Any, y: Any, steps: int, lr: float, sigma: float, opt: Any = None) -> float:
    """`steps` full-batch Adam steps on the mixture objective; the last loss."""
    import torch

    opt = opt or torch.optim.Adam(model.parameters(), lr=lr)
    loss = torch.zeros(())
    for _ in range(steps):
        _, logits, preds = model.forward(x)
        loss = mixture_loss(logits, preds, y, sigma)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


def fit_single(kind: str, x: Any, y: Any, steps: int, lr: float, hidden: int, frequencies: tuple[float, ...],
               seed: int) -> Any:
    """One learner of `kind` alone, `steps` full-batch Adam steps on the MSE."""
    import torch

    torch.manual_seed(seed)
    net = make_expert(kind, x.shape[1], y.shape[1], hidden, frequencies).to(x.device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def mse(pred: Any, y: Any) -> float:
    return float(((pred.detach() - y) ** 2).mean())
