"""The unified learner (seed section 5.13): learners of different kinds under a softmax gate,
trained together on the log mixture objective. torch inside the functions.

    g(x)  = softmax(gate(x))                                  (B, E) gating weights
    L_i   = (y - f_i(x))^2 / (2 sigma^2)                      each learner's loss, per example
    L     = -log sum_i g_i(x) exp(-L_i)                       (the seed's log sum_i g_i e^{-L_i},
                                                               negated to be minimised)
    y_hat = sum_i g_i(x) f_i(x)

The objective makes the gate send each input to the learner that fits it, and each learner
learn the inputs it is sent (its gradient is weighted by its responsibility there). The
learners: "linear" (a line), "fourier" (a bank of sines and cosines at fixed frequencies, then a
line: periodic structure), "mlp" (a small tanh net).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["make_expert", "make_gate", "mixture_loss", "Mixture", "KINDS"]

KINDS = ("linear", "fourier", "mlp")


def make_expert(kind: str, n_in: int, n_out: int, hidden: int = 8, frequencies: tuple[float, ...] = (4, 5, 6, 7, 8)) -> Any:
    """One learner of `kind` mapping (B, n_in) -> (B, n_out)."""
    import torch

    if kind == "linear":
        return torch.nn.Linear(n_in, n_out)
    if kind == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, n_out))
    if kind == "fourier":
        return _Fourier(n_in, n_out, frequencies)
    raise ValueError(f"a learner is one of {', '.join(KINDS)}, got {kind!r}")


@lru_cache(maxsize=1)
def _fourier_class() -> type:
    """The sine-bank learner's class, made on first use (torch is imported only then)."""
    import torch

    class Fourier(torch.nn.Module):
        def __init__(self, n_in: int, n_out: int, frequencies: tuple[float, ...]) -> None:
            super().__init__()
            self.register_buffer("w", torch.tensor([float(f) for f in frequencies]))
            self.out = torch.nn.Linear(2 * n_in * len(frequencies), n_out)

        def forward(self, x: Any) -> Any:
            z = (x[:, :, None] * self.w).flatten(1)  # (B, n_in * F)
            return self.out(torch.cat([torch.sin(z), torch.cos(z)], 1))

    return Fourier


def _Fourier(n_in: int, n_out: int, frequencies: tuple[float, ...]) -> Any:  # noqa: N802 - a lazy class
    return _fourier_class()(n_in, n_out, frequencies)


def make_gate(n_in: int, experts: int, hidden: int = 16) -> Any:
    """The gate: (B, n_in) -> (B, experts) logits."""
    import torch

    return torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, experts))


def mixture_loss(gate_logits: Any, preds: Any, y: Any, sigma: float) -> Any:
    """-mean log sum_i g_i exp(-L_i): gate logits (B, E), learners' predictions (B, E, K), y (B, K)."""
    import torch

    per = ((preds - y[:, None, :]) ** 2).sum(-1) / (2 * sigma * sigma)  # (B, E): L_i
    return -(torch.logsumexp(torch.log_softmax(gate_logits, -1) - per, -1)).mean()


class Mixture:
    """Learners of `kinds` and their gate, on `device`; `forward(x)` -> (y_hat, g, preds)."""

    def __init__(self, kinds: tuple[str, ...], n_in: int, n_out: int, hidden: int, frequencies: tuple[float, ...],
                 seed: int, device: Any) -> None:
        import torch

        torch.manual_seed(seed)
        self.kinds, self.n_in, self.n_out = tuple(kinds), n_in, n_out
        self.experts = torch.nn.ModuleList([make_expert(k, n_in, n_out, hidden, frequencies) for k in kinds]).to(device)
        self.gate = make_gate(n_in, len(kinds)).to(device)
        self.device = device

    def parameters(self) -> list[Any]:
        return [*self.experts.parameters(), *self.gate.parameters()]

    def forward(self, x: Any) -> tuple[Any, Any, Any]:
        import torch

        preds = torch.stack([e(x) for e in self.experts], 1)  # (B, E, K)
        logits = self.gate(x)  # (B, E)
        g = torch.softmax(logits, -1)
        return (g[:, :, None] * preds).sum(1), logits, preds
