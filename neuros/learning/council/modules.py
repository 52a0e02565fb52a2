"""Neuromodulated circuits shared by System 1 and the council: attention whose temperature a
plasticity scalar sets, FiLM gains, and the pre-norm block made of them. torch (imported only
when the model is built, inside the learner).

Neuromodulation (the seed's "plasticity scalars"): each layer l has two scalars per example,
rho_l = base_l + gain_l * surprise, where surprise is System 1's loss on that stream's last
observation (divided by log vocab). rho_att scales the attention logits (exp(rho_att): above 1
sharper focus, below 1 broader), rho_film sets how strongly the layer's learnt FiLM gain acts
(x * (1 + tanh(rho_film) * gamma) + beta). base and gain are learnt, so the net learns how a
surprise should change its attention and gains.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Neuromodulator", "FiLM", "NeuromodulatedAttention", "Block"]


class Neuromodulator(nn.Module):
    """Per-layer plasticity scalars from a per-example signal: (B,) -> (B, layers, 2)."""

    def __init__(self, layers: int) -> None:
        super().__init__()
        # [..., 0]: attention temperature (exp(0) = 1 at start); [..., 1]: FiLM strength. A
        # FiLM strength of 0 would give gamma no gradient, so it starts at 0.5.
        self.base = nn.Parameter(torch.tensor([[0.0, 0.5]]).repeat(layers, 1))  # (layers, 2)
        self.gain = nn.Parameter(torch.zeros(layers, 2))

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        return self.base[None] + self.gain[None] * signal[:, None, None]  # (B, layers, 2)


class FiLM(nn.Module):
    """x * (1 + tanh(rho) * gamma) + beta, rho a per-example plasticity scalar (B,)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:  # x (B, T, D), rho (B,)
        return x * (1 + torch.tanh(rho)[:, None, None] * self.gamma) + self.beta


class NeuromodulatedAttention(nn.Module):
    """Multi-head attention of queries (B, Tq, D) over keys (B, Tk, D), logits times exp(rho)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, xq: torch.Tensor, xkv: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
        B, Tq, D = xq.shape
        Tk, H = xkv.shape[1], self.heads
        q = self.q(xq).view(B, Tq, H, D // H).transpose(1, 2)  # (B, H, Tq, hd)
        k, v = self.kv(xkv).view(B, Tk, 2, H, D // H).permute(2, 0, 3, 1, 4)  # each (B, H, Tk, hd)
        q = q * torch.exp(rho)[:, None, None, None]  # the temperature: sdpa's own scale is one float
        y = F.scaled_dot_product_attention(q, k, v)  # (B, H, Tq, hd)
        return self.out(y.transpose(1, 2).reshape(B, Tq, D))


class Block(nn.Module):
    """Pre-norm attention + MLP, each followed by a FiLM; `film` (optional) is a per-query
    (B, Tq, 2D) gain and shift applied to the normed queries (a voice's persona)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.n1, self.n2, self.nkv = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = NeuromodulatedAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.film_attn, self.film_mlp = FiLM(dim), FiLM(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None, rho: torch.Tensor,
                film: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, Tq, D); context (B, Tk, D) or None for self-attention; rho (B, 2)."""
        q = self.n1(x)
        if film is not None:
            gamma, beta = film.chunk(2, dim=-1)
            q = q * (1 + gamma) + beta
        kv = q if context is None else self.nkv(context)
        x = x + self.film_attn(self.attn(q, kv, rho[:, 0]), rho[:, 1])
        return x + self.film_mlp(self.mlp(self.n2(x)), rho[:, 1])
