"""The genome theta: a local rule family that holds Hebbian, Oja and the delta rule, started at Hebbian.

At every synapse (i post, j pre) of a D_i-input cortex, one plastic step is

    dW_ij = (eta / D_i) * ( A_i * p_j  +  B_i * w_ij )
    A_i   = g * (a_post * post_i + a_drive * z_i)  +  (1 - g) * (r_post * post_i + r_drive * z_i)  +  mlp_A
    B_i   = b_decay + b_oja * post_i^2  +  mlp_B          mlp = MLP(post_i, z_i, g), last layer zero at start

    post_i  the post activity: the teacher's target while storing, the neuron's own response
            while recalling (teacher forcing mixes them)
    z_i     the neuron's drive (W . pre)_i before the update: its dendritic prediction
    g       the teacher gate, a third factor: 1 while a teacher drives post, alpha in a forcing
            stage's recall, 0 when the cortex runs on its own (recall, distractors)
    p_j     the presynaptic activity after the feedback pulse: p <- p - rate * ((p - pre) +
            gain * W^T W p), `reflect_steps` times from p = pre (the seed's stage 7, a pulse
            passed back through the same synapses); with gain 0, p = pre exactly

Special cases: Hebbian is a_post = 1 and everything else 0 (the start: theta begins at the
baseline it must beat); the delta rule a_drive = -a_post; Oja's rule (post clamped) b_oja =
-1; a decay b_decay < 0. With gain > 0 the delta rule on the fed-back p approximates a
projection (recursive least-squares) rule: p loses the part of the cue the synapses already
carry, so a new pair overwrites less of the old ones. The step is per 1/D_i and z, p are O(1)
at any width, so one genome runs at any D. Since pre is +-1, a rule linear in pre loses no
generality in pre; the MLP reads the post neuron's quantities, so it costs (B, D, H), not
(B, D, D, H).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Genome"]

# The linear coefficients, in the order `coef` holds them, and where they start (Hebbian).
COEFFICIENTS = ("a_post", "a_drive", "r_post", "r_drive", "b_decay", "b_oja")
HEBBIAN = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0)


class Genome(nn.Module):
    """theta: the rule's coefficients, its MLP, the feedback pulse's rate and gain, and eta (as log eta)."""

    def __init__(self, hidden: int = 16, eta: float = 1.0, seed: int = 0, reflect_steps: int = 3) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.reflect_steps = reflect_steps
        self.coef = nn.Parameter(torch.tensor(HEBBIAN))  # (6,) COEFFICIENTS
        self.w_in = nn.Parameter(torch.randn(3, hidden, generator=g) * 0.5)  # (3, H): post, z, gate
        self.b_in = nn.Parameter(torch.zeros(hidden))
        self.w_out = nn.Parameter(torch.zeros(hidden, 2))  # (H, 2): zero, so the start is Hebbian exactly
        self.log_eta = nn.Parameter(torch.tensor(math.log(eta)))
        self.reflect_rate = nn.Parameter(torch.tensor(0.5))
        self.reflect_gain = nn.Parameter(torch.tensor(0.0))  # 0: no pulse, p = pre

    @property
    def eta(self) -> torch.Tensor:
        return self.log_eta.exp()

    def reflect(self, W: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        """The presynaptic activity after the feedback pulse: W (B, Do, Di), pre (B, Di) -> (B, Di)."""
        p = pre
        for _ in range(self.reflect_steps):
            back = torch.einsum("boi,bo->bi", W, torch.einsum("boi,bi->bo", W, p))  # W^T W p
            p = p - self.reflect_rate * ((p - pre) + self.reflect_gain * back)
        return p

    def forward(self, W: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, drive: torch.Tensor,
                gate: float) -> torch.Tensor:
        """dW (B, Do, Di) for W (B, Do, Di), pre (B, Di), post and drive (B, Do), gate in [0, 1]."""
        a_post, a_drive, r_post, r_drive, b_decay, b_oja = self.coef
        feats = torch.stack([post, drive, torch.full_like(post, gate)], -1)  # (B, Do, 3)
        extra = torch.tanh(feats @ self.w_in + self.b_in) @ self.w_out  # (B, Do, 2)
        A = gate * (a_post * post + a_drive * drive) + (1 - gate) * (r_post * post + r_drive * drive) + extra[..., 0]
        B = b_decay + b_oja * post * post + extra[..., 1]
        p = self.reflect(W, pre)
        return self.eta / W.shape[-1] * (A[:, :, None] * p[:, None, :] + B[:, :, None] * W)
