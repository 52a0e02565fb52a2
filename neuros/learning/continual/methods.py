"""What keeps old tasks: elastic weight consolidation and a replay memory (seed 5.6). torch.

EWC: after a task, the diagonal Fisher F_i = E[(d log p(y|x) / d theta_i)^2] on its examples
and the weights theta* are kept; later training adds sum_i lambda/2 F_i (theta_i - theta*_i)^2.
Fishers of successive tasks add up and theta* is the latest ("online" EWC), so the penalty
costs the same whatever the number of tasks.

Replay: a memory of at most `size` past examples filled by reservoir sampling (each example
seen so far has the same chance size/n of being held), rehearsed a few at each step.
"""

from __future__ import annotations

from typing import Any

__all__ = ["fisher_diagonal", "ewc_penalty", "ReplayMemory"]


def fisher_diagonal(net: Any, x: Any, y: Any) -> dict[str, Any]:
    """The empirical Fisher diagonal of `net` on examples (x, y): mean squared per-example gradient
    of the log-likelihood, one tensor per parameter."""
    import torch
    import torch.nn.functional as F

    params = {n: p for n, p in net.named_parameters()}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    for i in range(len(x)):  # per example: the Fisher is a mean of squares, not a square of means
        net.zero_grad()
        F.cross_entropy(net(x[i:i + 1]), y[i:i + 1]).backward()
        for n, p in params.items():
            fisher[n] += p.grad.detach() ** 2
    net.zero_grad()
    return {n: f / max(len(x), 1) for n, f in fisher.items()}


def ewc_penalty(net: Any, fisher: dict[str, Any], anchor: dict[str, Any], lam: float) -> Any:
    """sum_i lam/2 F_i (theta_i - theta*_i)^2 over every parameter."""
    total = 0.0
    for n, p in net.named_parameters():
        total = total + (fisher[n] * (p - anchor[n]) ** 2).sum()
    return 0.5 * lam * total


class ReplayMemory:
    """At most `size` examples (x, y), kept by reservoir sampling."""

    def __init__(self, size: int, seed: int = 0) -> None:
        import numpy as np

        self.size, self.seen = size, 0
        self.x: list[Any] = []
        self.y: list[int] = []
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.y)

    def add(self, x: Any, y: Any) -> None:
        """Offer examples (rows of x, labels y) to the memory."""
        for xi, yi in zip(x, y):
            self.seen += 1
            if len(self.y) < self.size:
                self.x.append(xi)
                self.y.append(int(yi))
                continue
            j = int(self.rng.integers(self.seen))
            if j < self.size:
                self.x[j], self.y[j] = xi, int(yi)

    def sample(self, k: int) -> tuple[Any, Any] | None:
        """k remembered examples drawn uniformly (x (k, D), y (k,)), or None while empty."""
        import numpy as np

        if not self.y or k <= 0:
            return None
        idx = self.rng.integers(len(self.y), size=k)
        return np.stack([self.x[i] for i in idx]), np.asarray([self.y[i] for i in idx], np.int64)

    def arrays(self) -> tuple[Any, Any]:
        import numpy as np

        if not self.y:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
        return np.stack(self.x).astype(np.float32), np.asarray(self.y, np.int64)
