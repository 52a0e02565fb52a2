"""The genome: one tiny MLP theta applied at every synapse, dW_ij = Phi(pre_j, post_i, own_i, w_ij).

    pre_j   the presynaptic activity (the cue's bit j)                         (B, 1, Di)
    post_i  the postsynaptic activity: the teacher's target while storing, the
            neuron's own response while recalling (teacher forcing mixes them)  (B, Do, 1)
    own_i   the neuron's own response to the cue before the update (its
            prediction): the second compartment of the post neuron             (B, Do, 1)
    w_ij    the synapse's current strength, times sqrt(Di) so it is O(1)        (B, Do, Di)

The seed's genome reads (pre, post, w). `own` is what a synapse of a real neuron also sees
(the neuron's dendritic prediction beside its teaching input, as in Urbanczik & Senn 2014): a
rule of (pre, post, w) alone cannot tell a stored pair from crosstalk, so it cannot beat the
one-shot Hebbian rule by much (the docs have the run). The MLP is never told what rule to be;
the delta rule, (post - own) * pre, is one function it can become.

The first layer is split by input so the (B, Do, Di, H) pre-activation is a broadcast sum,
not a (B, Do, Di, 4) feature tensor times a matrix: the same numbers, a third of the memory.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Genome"]


class Genome(nn.Module):
    """theta: the rule's MLP (4 -> hidden -> 1, tanh) and its step size eta (kept as log eta)."""

    def __init__(self, hidden: int = 16, eta: float = 0.2, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w_in = nn.Parameter(torch.randn(4, hidden, generator=g) * 0.5)  # (4, H): pre, post, own, w
        self.b_in = nn.Parameter(torch.zeros(hidden))  # (H,)
        self.w_out = nn.Parameter(torch.randn(hidden, generator=g) / math.sqrt(hidden))  # (H,)
        self.b_out = nn.Parameter(torch.zeros(()))
        self.log_eta = nn.Parameter(torch.tensor(math.log(eta)))

    @property
    def eta(self) -> torch.Tensor:
        return self.log_eta.exp()

    def forward(self, pre: torch.Tensor, post: torch.Tensor, own: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """eta * Phi at every synapse: pre (B, Di), post and own (B, Do), w (B, Do, Di) -> (B, Do, Di)."""
        a = self.w_in
        scale = math.sqrt(w.shape[-1])
        z = (pre[:, None, :, None] * a[0]  # (B, 1, Di, H)
             + (post[:, :, None] * a[1] + own[:, :, None] * a[2] + self.b_in)[:, :, None, :]  # (B, Do, 1, H)
             + (w * scale)[..., None] * a[3])  # (B, Do, Di, H)
        return self.eta * (torch.tanh(z) @ self.w_out + self.b_out)  # (B, Do, Di)
