"""The continuous weight field (the seed's 5.10). torch inside, no autograd: the rule is the update.

    phi_j(x) = exp(-|x - c_j|^2 / (2 sigma^2))              J centres c_j          phi: (N, J)
    r_x      = [1, x]                                       the input's representation (N, D = 1 + n_in)
    y_hat    = phi(x)^T W r_x = sum_jk phi_j(x) W_jk r_x[k]  W: (J, D)
    e        = y - y_hat
    w_k     <- w_k + eta * phi(x) * e * r_x[k] - eta * lambda * w_k     (each column k, batch-mean)

So each centre holds a small linear model, blended by the RBFs: a weight that is a smooth
function of where the input is. The rule is gradient descent on e^2 / 2 with weight decay.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WeightField", "field_epoch"]


class WeightField:
    """The field over n_in inputs: centres (J, n_in), sigma, W (J, 1 + n_in)."""

    def __init__(self, centres: Any, sigma: float, device: Any = "cpu") -> None:
        import torch

        self.device = device
        self.state = {"centres": torch.as_tensor(centres, dtype=torch.float32, device=device),
                      "sigma": torch.tensor(float(sigma), device=device)}
        j, n_in = self.state["centres"].shape
        self.n_in = n_in
        self.state["w"] = torch.zeros(j, 1 + n_in, device=device)

    @classmethod
    def spread_over(cls, x: Any, count: int, width: float, seed: int, device: Any = "cpu") -> "WeightField":
        """Centres evenly over x's range (1-D) or `count` of x's rows (more dimensions); sigma =
        width * the typical spacing."""
        import numpy as np

        x = np.asarray(x, np.float32).reshape(len(x), -1)
        if x.shape[1] == 1:
            lo, hi = float(x.min()), float(x.max())
            c = np.linspace(lo, hi, count, dtype=np.float32)[:, None]
            spacing = (hi - lo) / max(count - 1, 1) or 1.0
        else:
            rng = np.random.default_rng(seed)
            c = x[rng.choice(len(x), size=min(count, len(x)), replace=False)]
            spacing = float(np.median(np.linalg.norm(c[:, None] - c[None], axis=-1))) / count ** (1 / x.shape[1])
        return cls(c, width * max(spacing, 1e-6), device)

    def modules(self) -> dict[str, Any]:
        return {"field": self.state}

    def features(self, x: Any) -> tuple[Any, Any]:
        """(phi (N, J), r (N, D))."""
        import torch

        c, sigma = self.state["centres"], self.state["sigma"]
        phi = torch.exp(-torch.cdist(x, c) ** 2 / (2 * sigma ** 2))
        r = torch.cat([torch.ones(len(x), 1, device=x.device), x], 1)
        return phi, r

    def forward(self, x: Any) -> Any:
        phi, r = self.features(x)
        return ((phi @ self.state["w"]) * r).sum(1)  # (N,)

    def update(self, x: Any, y: Any, lr: float, decay: float) -> float:
        """The seed's rule on one batch; the batch's mean squared error before it."""
        phi, r = self.features(x)
        e = y - ((phi @ self.state["w"]) * r).sum(1)  # (N,)
        w = self.state["w"]
        w += lr * (phi.T @ (e[:, None] * r)) / len(x) - lr * decay * w  # (J, D): phi e r^T, batch mean
        return float((e ** 2).mean())


def field_epoch(field: WeightField, x: Any, y: Any, cfg: Any, gen: Any) -> float:
    """One pass in random minibatches; the mean batch MSE."""
    import torch

    order = torch.randperm(len(x), generator=gen).to(x.device)
    losses = [field.update(x[order[s:s + cfg.batch_size]], y[order[s:s + cfg.batch_size]], cfg.lr, cfg.decay)
              for s in range(0, len(x), cfg.batch_size)]
    return sum(losses) / max(len(losses), 1)
