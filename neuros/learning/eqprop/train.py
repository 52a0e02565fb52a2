"""Training and inference for the eqprop net. No autograd anywhere on this path.

`Learner` holds a net, its optimiser state and what it was trained on; the neuro drives it
from a worker thread (`ctx.run_sync`), one epoch per call so progress can be published in
between. The optimisers are written out here (a few lines each) because torch.optim works
through `.grad`, and this path never fills `.grad`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from .config import EqPropConfig
from .model import EqPropNet, Relaxed, cost, dream, ep_direction, relax

__all__ = ["Learner", "pick_device", "train_step"]


def pick_device(want: str = "auto", gpu_allowed: bool = True) -> torch.device:
    """The GPU when asked for ("auto" or "cuda"), allowed and present; else the CPU."""
    if want == "cpu" or not gpu_allowed or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda" if want == "auto" else want)


class Adam:
    """Adam on a descent direction d (d ~ -gradient): p += lr * m_hat / (sqrt(v_hat) + eps).

    `scales`: a learning-rate factor per parameter (layer-wise rates); `lr` stays the base
    rate, so setting it (a resumed run with a new lr) keeps the ratios."""

    def __init__(self, params: list[torch.Tensor], lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                 scales: list[float] | None = None):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.scales = scales or [1.0] * len(params)
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, params: list[torch.Tensor], dirs: list[torch.Tensor]) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1**self.t, 1 - self.b2**self.t
        for p, d, m, v, f in zip(params, dirs, self.m, self.v, self.scales):
            m.mul_(self.b1).add_(d, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(d, d, value=1 - self.b2)
            p.add_(self.lr * f * (m / c1) / ((v / c2).sqrt() + self.eps))


class SGD:
    """Momentum SGD on a descent direction."""

    def __init__(self, params: list[torch.Tensor], lr: float, momentum: float, scales: list[float] | None = None):
        self.lr, self.momentum = lr, momentum
        self.scales = scales or [1.0] * len(params)
        self.buf = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, params: list[torch.Tensor], dirs: list[torch.Tensor]) -> None:
        for p, d, b, f in zip(params, dirs, self.buf, self.scales):
            b.mul_(self.momentum).add_(d)
            p.add_(b, alpha=self.lr * f)


def layer_scales(cfg: EqPropConfig, n_weights: int) -> list[float]:
    """Learning-rate factor of W_0..W_L then b_0..b_L: layer_lr_ratio ** (L - k)."""
    per = [cfg.layer_lr_ratio ** (n_weights - 1 - k) for k in range(n_weights)]
    return per + per


def make_optimizer(net: EqPropNet) -> Adam | SGD:
    cfg = net.cfg
    params = [*net.W, *net.b]
    scales = layer_scales(cfg, len(net.W))
    if cfg.optimizer == "adam":
        return Adam(params, cfg.lr, scales=scales)
    return SGD(params, cfg.lr, cfg.momentum, scales=scales)


@torch.no_grad()
def train_step(net: EqPropNet, opt: Adam | SGD, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """One EP update on a batch. x: (B, n_0) float; y: (B,) int labels."""
    cfg = net.cfg
    target = torch.nn.functional.one_hot(y, net.sizes[-1]).to(x.dtype)  # (B, n_out)
    d = ep_direction(net, x, target)
    before = [w.clone() for w in net.W]
    opt.step([*net.W, *net.b], [*d.dW, *d.db])
    applied = [w - w0 for w, w0 in zip(net.W, before)]  # what each W_k actually moved
    if cfg.feedback == "learned":  # Kolen-Pollack: B_k gets W_k's update, transposed; both decay
        for k in range(1, len(net.W)):
            net.B[k].add_(applied[k].T).mul_(1 - cfg.fb_decay)
            net.W[k].mul_(1 - cfg.fb_decay)
    braked = boosted = 0
    if cfg.homeostasis:
        if float(d.free.velocity.quantile(0.9)) > cfg.brake_velocity:
            net.scale_couplings(cfg.brake)
            braked = 1
        elif int(d.free.settle.max()) <= cfg.boost_steps:
            net.scale_couplings(cfg.boost)
            boosted = 1
    net.refresh()
    if cfg.lipschitz is not None:
        net.constrain()
    return {
        "loss": d.loss,
        "correct": d.correct,
        "flops": d.flops,
        "free_steps": d.free.steps,
        "unsettled": int((d.free.settle >= cfg.free_steps).sum()),
        "braked": braked,
        "boosted": boosted,
        # ||Delta W_k|| for every layer k; layers 0 .. L-1 feed hidden layers.
        "update_norms": [float(a.norm()) for a in applied],
        "direction": d,
    }


def cosine_factor(epoch: int, epochs: int) -> float:
    """This epoch's share of the base rate: a linear warm-up over the first tenth of the run
    (at least one epoch), then half a cosine down to 0 at `epochs`."""
    warm = max(1, math.ceil(0.1 * epochs))
    if epoch < warm:
        return (epoch + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * min(epoch - warm, epochs - warm) / max(epochs - warm, 1)))


class Learner:
    """A net with its optimiser and what it was trained on (input shape, classes, input box)."""

    def __init__(self, cfg: EqPropConfig, input_shape: tuple[int, ...], classes: int,
                 input_range: tuple[float, float] = (0.0, 1.0), device: torch.device | str = "cpu"):
        self.cfg = cfg
        self.input_shape = tuple(input_shape)
        self.classes = classes
        self.input_range = tuple(input_range)
        n_in = int(np.prod(input_shape))
        self.net = EqPropNet(cfg, n_in, classes, device)
        self.opt = make_optimizer(self.net)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.steps = 0
        self.epochs = 0

    @property
    def device(self) -> torch.device:
        return self.net.device

    def tensor(self, x: Any, dtype=torch.float32) -> torch.Tensor:
        """A numpy array or tensor as a (N, n_0) tensor on the net's device."""
        t = torch.as_tensor(np.asarray(x), dtype=dtype)
        if dtype is torch.float32:
            t = t.reshape(t.shape[0], -1)
        return t.to(self.device)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        """One update on a batch already on the device (EP here; a baseline overrides it)."""
        return train_step(self.net, self.opt, x, y)

    def step(self, x: Any, y: Any) -> dict[str, Any]:
        out = self.train_step(self.tensor(x), self.tensor(y, torch.long))
        self.steps += 1
        return out

    def fit_epoch(self, x: Any, y: Any, on_step=None) -> dict[str, float]:
        """One pass over (x, y) in shuffled batches; returns the epoch's summary metrics."""
        X, Y = self.tensor(x), self.tensor(y, torch.long)
        n = X.shape[0]
        bs = self.cfg.batch_size
        if self.cfg.lr_decay == "cosine":
            self.opt.lr = self.cfg.lr * cosine_factor(self.epochs, self.cfg.epochs)
        perm = torch.randperm(n, generator=self.gen).to(self.device)
        t0 = time.perf_counter()
        loss = correct = flops = unsettled = braked = 0.0
        min_hidden_update = math.inf
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            out = self.train_step(X[idx], Y[idx])
            self.steps += 1
            loss += out["loss"] * idx.numel()
            correct += out["correct"]
            flops += out["flops"]
            unsettled += out["unsettled"]
            braked += out["braked"]
            min_hidden_update = min(min_hidden_update, *out["update_norms"][: self.net.depth])
            if on_step is not None:
                on_step(out)
        self.epochs += 1
        return {
            "epoch": float(self.epochs),
            "loss": loss / n,
            "train_accuracy": correct / n,
            "seconds": time.perf_counter() - t0,
            "flops": flops,
            "unsettled_fraction": unsettled / n,
            "braked_steps": braked,
            "min_hidden_update_norm": min_hidden_update,
        }

    @torch.no_grad()
    def predict(self, x: Any, max_steps: int | None = None, ablate=None, ablate_at: int = 0,
                batch: int = 512) -> tuple[np.ndarray, np.ndarray, int]:
        """Free phase only. Returns scores (N, classes), settling steps (N,), FLOPs."""
        X = self.tensor(x)
        steps = max_steps or self.cfg.free_steps
        scores, settle, flops = [], [], 0
        for i in range(0, X.shape[0], batch):
            xb = X[i:i + batch]
            r: Relaxed = relax(self.net, xb, self.net.zeros(xb.shape[0]), steps, ablate=ablate, ablate_at=ablate_at)
            scores.append(r.s[-1].cpu())
            settle.append(r.settle.cpu())
            flops += r.flops
        return torch.cat(scores).numpy(), torch.cat(settle).numpy(), flops

    def evaluate(self, x: Any, y: Any, **kw: Any) -> dict[str, float]:
        scores, settle, flops = self.predict(x, **kw)
        y = np.asarray(y)
        onehot = np.eye(self.classes)[y]
        return {
            "accuracy": float((scores.argmax(1) == y).mean()),
            "loss": float(cost(torch.as_tensor(scores), torch.as_tensor(onehot, dtype=torch.float32),
                               self.cfg.output == "readout")),
            "mean_settling_steps": float(settle.mean()),
            "flops_per_input": flops / max(len(y), 1),
        }

    @torch.no_grad()
    def dream(self, labels: list[int], steps: int | None = None) -> np.ndarray:
        """One input per label, generated with the output clamped. (len(labels), *input_shape)"""
        lab = torch.as_tensor(labels, dtype=torch.long, device=self.device)
        xs = dream(self.net, lab, steps or self.cfg.dream_steps, self.input_range, self.cfg.dream_refine, self.cfg.dream_lr)
        return xs.cpu().numpy().reshape(len(labels), *self.input_shape)

    # ------------------------------------------------------------------------- weights

    def to_weights(self):
        """The learnt state as current-version `Weights` (optimiser state is not kept)."""
        from .weights import encode

        tensors = {f"W{k}": w.cpu().numpy() for k, w in enumerate(self.net.W)}
        tensors.update({f"b{k}": v.cpu().numpy() for k, v in enumerate(self.net.b)})
        tensors.update({f"B{k}": v.cpu().numpy() for k, v in enumerate(self.net.B) if v is not None})
        return encode(self.cfg, self.input_shape, self.classes, self.input_range, tensors)

    @classmethod
    def from_weights(cls, weights, device: torch.device | str = "cpu") -> "Learner":
        """A learner holding `weights` (current version; migrate older ones first)."""
        from .weights import decode

        cfg, input_shape, classes, input_range, tensors = decode(weights)
        learner = cls(cfg, input_shape, classes, input_range, device)
        net = learner.net
        expected = {f"W{k}" for k in range(len(net.W))} | {f"b{k}" for k in range(len(net.b))}
        expected |= {f"B{k}" for k, v in enumerate(net.B) if v is not None}
        missing, unexpected = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        if missing or unexpected:
            raise ValueError(f"eqprop weights do not fit their config: missing {missing}, unexpected {unexpected}")
        for name, arr in tensors.items():
            target = {"W": net.W, "b": net.b, "B": net.B}[name[0]][int(name[1:])]
            if tuple(arr.shape) != tuple(target.shape):
                raise ValueError(f"eqprop weights: {name} has shape {arr.shape}, config needs {tuple(target.shape)}")
            target.copy_(torch.from_numpy(arr))
        net.refresh()
        return learner
