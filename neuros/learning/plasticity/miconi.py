"""A Miconi-style plastic network (Miconi, Clune & Stanley 2018, "Differentiable plasticity"),
the trained baseline the genome is held against.

Each synapse has a slow weight w_ij and a plasticity coefficient alpha_ij, both meta-trained,
plus a Hebbian trace that one lifetime fills:
    storing pair k:   Hebb <- (1 - eta) Hebb + eta t_k c_k^T       (post clamped to the target)
    recalling cue c:  h = tanh((W + alpha * Hebb) c)
W, alpha and eta are trained by backprop through the lifetime, on the same task stream and
loss as the genome. Its rule is fixed (a decaying Hebbian trace); what it learns is where and
how strongly to use it. Its parameters are per synapse, so it runs at the width it was
trained at only.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PlasticNet", "train_plastic_net", "plastic_net_accuracy"]


class PlasticNet(nn.Module):
    def __init__(self, dim: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W = nn.Parameter(torch.randn(dim, dim, generator=g) * 0.01 / math.sqrt(dim))  # (D, D)
        self.alpha = nn.Parameter(torch.full((dim, dim), 1.0))  # (D, D)
        self.logit_eta = nn.Parameter(torch.tensor(-2.0))  # eta = sigmoid(.) in (0, 1)

    def forward(self, cues: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Drives (B, K, D) of recalling every cue after storing every pair of (B, K, D)."""
        eta = torch.sigmoid(self.logit_eta)
        hebb = torch.zeros(cues.shape[0], *self.W.shape, device=cues.device)  # (B, D, D)
        for k in range(cues.shape[1]):
            hebb = (1 - eta) * hebb + eta * targets[:, k, :, None] * cues[:, k, None, :]
        return torch.einsum("boi,bki->bko", self.W + self.alpha * hebb, cues)


def train_plastic_net(cfg: Any, steps: int, seed: int = 0, device: Any = "cpu") -> PlasticNet:
    """A PlasticNet of width cfg.dim trained for `steps` Adam steps on the genome's task stream."""
    from .metatrain import draw_tasks

    net = PlasticNet(cfg.dim, seed).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    for step in range(steps):
        c, t = (torch.from_numpy(a).to(device) for a in draw_tasks(cfg, step))
        loss = F.softplus(-t * net(c, t)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net


@torch.no_grad()
def plastic_net_accuracy(net: PlasticNet, cues: torch.Tensor, targets: torch.Tensor) -> float:
    return float((torch.sign(net(cues, targets)) == targets).float().mean())
