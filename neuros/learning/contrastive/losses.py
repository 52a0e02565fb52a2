"""InfoNCE (the seed's 5.1), for two views z (N, D) and z_plus (N, D) of the same N inputs:

    L = -(1/2N) sum_i log( exp(sim(z_i, z_i+)/tau) / sum_{j != i} exp(sim(z_i, z_j)/tau) )

over all 2N embeddings (each view is an anchor once), sim the cosine similarity. The seed's sum
runs over j = 1..2N; the anchor's similarity with itself (always 1/tau) is left out, as in
SimCLR's NT-Xent, since it carries no information and only flattens the softmax."""

from __future__ import annotations

from typing import Any

__all__ = ["info_nce"]


def info_nce(z: Any, z_plus: Any, tau: float) -> Any:
    import torch
    import torch.nn.functional as F

    n = len(z)
    e = F.normalize(torch.cat([z, z_plus]), dim=1)  # (2N, D) on the unit sphere: dot = cosine
    sim = e @ e.T / tau  # (2N, 2N)
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=sim.device), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(sim.device)  # i's other view
    return F.cross_entropy(sim, positive)
