"""The contrastive encoder, its InfoNCE pre-training epoch, and the linear probe. torch inside."""

from __future__ import annotations

from typing import Any

__all__ = ["Encoder", "pretrain_epoch", "features", "LinearProbe"]


def Encoder(n_in: int, hidden: int, feats: int, seed: int, device: Any = "cpu") -> Any:
    """(encoder, projection head): n_in -> hidden -> feats, then ReLU -> feats for InfoNCE."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, feats)).to(device)
    head = nn.Sequential(nn.ReLU(), nn.Linear(feats, feats)).to(device)
    return enc, head


def pretrain_epoch(enc: Any, head: Any, opt: Any, x: Any, gen: Any, cfg: Any, image: Any) -> float:
    """One pass over x (N, n) in random batches of two views each; the mean InfoNCE loss."""
    import torch

    from .augment import augment
    from .losses import info_nce

    views = dict(noise=cfg.noise, shift=cfg.shift, mask=cfg.mask, image=image)
    order = torch.randperm(len(x), generator=gen).to(x.device)
    total, batches = 0.0, 0
    for start in range(0, len(x), cfg.batch_size):
        batch = x[order[start:start + cfg.batch_size]]
        if len(batch) < 2:
            continue  # InfoNCE needs a negative
        loss = info_nce(head(enc(augment(batch, gen, **views))), head(enc(augment(batch, gen, **views))), cfg.tau)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total, batches = total + loss.item(), batches + 1
    return total / max(batches, 1)


def features(enc: Any, x: Any) -> Any:
    """The encoder's features of x, as numpy (N, feats)."""
    import torch

    with torch.no_grad():
        return enc(x).cpu().numpy()


class LinearProbe:
    """Standardise, then multinomial logistic regression: a linear read-out of fixed features."""

    def __init__(self, ftr: Any, ytr: Any, seed: int = 0) -> None:
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        self.mean, self.scale = ftr.mean(0), ftr.std(0) + 1e-6
        clf = LogisticRegression(max_iter=3000, random_state=seed).fit((ftr - self.mean) / self.scale, ytr)
        self.classes = clf.classes_.astype(np.int64)
        self.coef, self.intercept = clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32)

    @classmethod
    def of(cls, state: dict) -> "LinearProbe":
        probe = cls.__new__(cls)
        for k, v in state.items():
            setattr(probe, k, v)
        return probe

    def state(self) -> dict:
        return {k: getattr(self, k) for k in ("mean", "scale", "classes", "coef", "intercept")}

    def scores(self, f: Any) -> Any:
        """Class probabilities (N, classes)."""
        import numpy as np

        logits = ((f - self.mean) / self.scale) @ self.coef.T + self.intercept
        if logits.shape[1] == 1:  # two classes: scikit-learn keeps one row of weights
            logits = np.concatenate([-logits, logits], 1)
        logits = logits - logits.max(1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True)

    def accuracy(self, f: Any, y: Any) -> float:
        return float((self.classes[self.scores(f).argmax(1)] == y).mean())
