"""System 1: the reflex. One pass of a small transformer over the last `window` symbols gives
next-symbol logits, a value estimate (the probability that its own answer is right) and a
memory write (the thought this step adds to the executive memory). By default it does not
read the memory: what it knows of the current rule it holds in its weights and its window.
With `s1_reads_memory` its one pass also attends over the memory slots, so it can learn
(from the council, by distillation) what the council reads there."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .config import CouncilConfig
from .modules import Block

__all__ = ["System1", "S1Out"]


@dataclass
class S1Out:
    logits: torch.Tensor  # (B, V)
    value: torch.Tensor  # (B,) logit of P(System 1's answer is right)
    write: torch.Tensor  # (B, D) the thought written to the executive memory
    summary: torch.Tensor  # (B, D) the last position's state: where the voices start
    tokens: torch.Tensor  # (B, W, D) every position's state: what the voices may attend to


class System1(nn.Module):
    def __init__(self, cfg: CouncilConfig) -> None:
        super().__init__()
        D = cfg.dim
        self.embed = nn.Embedding(cfg.vocab, D)
        self.pos = nn.Parameter(torch.randn(cfg.window, D) * 0.02)
        self.blocks = nn.ModuleList(Block(D, cfg.heads) for _ in range(cfg.s1_layers))
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, cfg.vocab)
        self.value = nn.Linear(D, 1)
        self.write = nn.Linear(D, D)
        self.reads_memory = cfg.s1_reads_memory
        self.recency = nn.Parameter(torch.randn(cfg.memory_slots, D) * 0.02)

    def forward(self, windows: torch.Tensor, rho: torch.Tensor, memory: torch.Tensor | None = None) -> S1Out:
        """windows (B, W) int64; rho (B, s1_layers, 2) plasticity scalars; memory (B, M, D),
        read only with `s1_reads_memory` (before this step's write)."""
        h = self.embed(windows) + self.pos[None]  # (B, W, D)
        W = h.shape[1]
        if self.reads_memory and memory is not None:
            h = torch.cat([memory + self.recency[None], h], 1)  # (B, M + W, D): one pass over both
        for i, block in enumerate(self.blocks):
            h = block(h, None, rho[:, i])
        h = self.norm(h)[:, -W:]
        last = h[:, -1]  # (B, D)
        return S1Out(logits=self.head(last), value=self.value(last).squeeze(-1), write=torch.tanh(self.write(last)),
                     summary=last, tokens=h)
