"""System 2, the council: `voices` persona-parameterised voices ponder over the executive
memory, each halting by a learnt rule, and a meta-arbiter fuses them into a consensus.

A voice starts from System 1's summary plus its persona vector and repeats one shared block
(its queries FiLM'd by its persona) that attends over the memory slots (with a recency
embedding) and System 1's token states. After ponder step n it halts with probability
lambda_n = sigmoid(w . h_n) (PonderNet, Banino et al. 2021): p_n = lambda_n prod_{j<n}(1 -
lambda_j), the last step takes what is left. Its thought is the expectation sum_n p_n h_n and
its cost the expected number of steps sum_n n p_n; both are differentiable in the halting
logits, so the ponder cost in the loss teaches it when to stop. Once every voice of every
example has less than `halt_epsilon` of its mass left, the loop stops: those steps are never
computed. The meta-arbiter scores each voice's thought, softmaxes over voices and takes the
weighted sum: the consensus, from which the council's logits come. Coherence (the mean cosine
of the voices' thoughts with the consensus) says how much the voices agreed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import CouncilConfig
from .modules import Block

__all__ = ["Council", "CouncilOut"]


@dataclass
class CouncilOut:
    logits: torch.Tensor  # (B, V) the consensus's
    steps: torch.Tensor  # (B,) expected ponder steps, summed over voices (the compute cost)
    computed: int  # ponder steps actually run for this batch
    coherence: torch.Tensor  # (B,)
    weights: torch.Tensor  # (B, K) the arbiter's weight of each voice
    consensus: torch.Tensor  # (B, D)


class Council(nn.Module):
    def __init__(self, cfg: CouncilConfig) -> None:
        super().__init__()
        D, K = cfg.dim, cfg.voices
        self.cfg = cfg
        self.persona = nn.Parameter(torch.randn(K, D) * 0.5)
        self.persona_film = nn.Linear(D, 2 * D)  # persona -> (gamma, beta) of its queries
        nn.init.zeros_(self.persona_film.weight)
        nn.init.zeros_(self.persona_film.bias)
        self.recency = nn.Parameter(torch.randn(cfg.memory_slots, D) * 0.02)  # slot M-1 is the newest
        self.block = Block(D, cfg.heads)
        self.halt = nn.Linear(D, 1)
        nn.init.constant_(self.halt.bias, -1.0)  # lambda ~ 0.27 at first: about three steps expected
        self.arbiter = nn.Linear(D, 1)
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, cfg.vocab)

    def forward(self, summary: torch.Tensor, tokens: torch.Tensor, memory: torch.Tensor,
                rho: torch.Tensor) -> CouncilOut:
        """summary (B, D), tokens (B, W, D), memory (B, M, D), rho (B, 2)."""
        B, D = summary.shape
        K, N = self.cfg.voices, self.cfg.max_ponder
        context = torch.cat([memory + self.recency[None], tokens], 1)  # (B, M + W, D)
        film = self.persona_film(self.persona)[None].expand(B, K, 2 * D)  # (B, K, 2D)
        h = summary[:, None] + self.persona[None]  # (B, K, D)
        remain = summary.new_ones(B, K)
        thought = torch.zeros_like(h)
        steps = summary.new_zeros(B, K)
        computed = 0
        for n in range(1, N + 1):
            h = self.block(h, context, rho, film)
            computed = n
            lam = torch.sigmoid(self.halt(h)).squeeze(-1)  # (B, K)
            # the last step takes all that is left: at max_ponder, or once so little is left
            # that another step would change nothing
            last = n == N or bool((remain * (1 - lam)).max() < self.cfg.halt_epsilon)
            if last:
                lam = torch.ones_like(lam)
            p = remain * lam
            thought = thought + p[..., None] * h
            steps = steps + n * p
            remain = remain * (1 - lam)
            if last:
                break
        w = torch.softmax(self.arbiter(thought).squeeze(-1), dim=1)  # (B, K)
        consensus = (w[..., None] * thought).sum(1)  # (B, D)
        coherence = F.cosine_similarity(thought, consensus[:, None], dim=-1).mean(1)
        return CouncilOut(logits=self.head(self.norm(consensus)), steps=steps.sum(1), computed=computed,
                          coherence=coherence.detach(), weights=w.detach(), consensus=consensus)
