"""The whole net: System 1, the council, the neuromodulator and the per-example gate."""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import CouncilConfig
from .modules import Neuromodulator
from .system1 import System1
from .system2 import Council

__all__ = ["CouncilModel", "entropy"]


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of softmax(logits) per row: (B, V) -> (B,)."""
    logp = torch.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1)


class CouncilModel(nn.Module):
    def __init__(self, cfg: CouncilConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.s1 = System1(cfg)
        self.council = Council(cfg)
        self.modulator = Neuromodulator(cfg.s1_layers + 1)  # the last layer is the council's block
        # The learnt gate reads three per-example signals, each in about [0, 1]: System 1's
        # entropy / log V, 1 - its value estimate (its own doubt) and the stream's alarm (its
        # recent surprise, online.py) / log V. It starts as the entropy gate at its default
        # threshold (20 * (entropy - 0.15)); its objective then moves it (online.py). Started
        # anywhere else it closed before the council, trained only where called, was any good.
        self.gate = nn.Linear(3, 1)
        with torch.no_grad():
            self.gate.weight.copy_(torch.tensor([[20.0, 0.0, 0.0]]))
            self.gate.bias.fill_(-3.0)

    def gate_features(self, s1_logits: torch.Tensor, s1_value: torch.Tensor,
                      alarm: torch.Tensor) -> torch.Tensor:
        log_v = math.log(self.cfg.vocab)
        return torch.stack([entropy(s1_logits) / log_v, 1 - torch.sigmoid(s1_value), alarm / log_v], -1)

    def gate_prob(self, features: torch.Tensor) -> torch.Tensor:
        """P(call System 2) per example: (B, 3) -> (B,)."""
        return torch.sigmoid(self.gate(features).squeeze(-1))
