"""A convolutional energy-based net trained by equilibrium propagation (Laborieux et al. 2021).

Layers s_0 = x (C, H, W) clamped, then strided convolutions, then a dense output:

    E = 1/2 sum_k |s_k|^2  -  sum_k s_{k+1} . P_k(s_k; W_k)  -  sum_k b_k . s_{k+1}

with P_k a convolution (stride 2, so each layer halves the image; no pooling, which keeps E a
plain bilinear form) or, for the last coupling, a dense map of the flattened layer. A layer's
minimiser given its neighbours is clip(P_{k-1}(s_{k-1}) + P_k^T(s_{k+1}) + b, 0, 1), P^T being
the transposed convolution with the same kernel: the feedback is exactly symmetric. Layers
relax alternately (odd, then even: exact block coordinate descent, the energy never rises).

The update is the same contrast as the dense net: dW_k is the correlation that the gradient of
s_{k+1} . P_k(s_k) with respect to W_k is, taken in the +beta and -beta phases, over 2 beta
(`torch.nn.grad.conv2d_weight`: a plain convolution, no autograd graph).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .config import EqPropConfig
from .model import Relaxed
from .train import Adam, layer_scales

__all__ = ["ConvSpec", "ConvEqPropNet", "ConvLearner", "conv_step"]


@dataclass(frozen=True)
class ConvSpec:
    """One strided convolution: output channels, kernel size, stride, padding."""

    channels: int
    kernel: int = 3
    stride: int = 2
    padding: int = 1


def _out_hw(hw: tuple[int, int], c: ConvSpec) -> tuple[int, int]:
    return tuple((n + 2 * c.padding - c.kernel) // c.stride + 1 for n in hw)


class ConvEqPropNet:
    """Weights and shapes of the net: convs `specs` over `input_shape` (C, H, W), then dense."""

    def __init__(self, cfg: EqPropConfig, input_shape: tuple[int, int, int], classes: int,
                 specs: tuple[ConvSpec, ...], device: str | torch.device = "cpu"):
        self.cfg, self.specs, self.device = cfg, tuple(specs), torch.device(device)
        g = torch.Generator().manual_seed(cfg.seed)
        self.shapes = [tuple(input_shape)]  # shape of each layer's state, without the batch
        self.W: list[torch.Tensor] = []
        self.b: list[torch.Tensor] = []
        self.output_padding: list[tuple[int, int]] = []
        for c in self.specs:
            cin, h, w = self.shapes[-1]
            oh, ow = _out_hw((h, w), c)
            fan_in = cin * c.kernel * c.kernel
            bound = cfg.init_gain / math.sqrt(fan_in)
            self.W.append(((torch.rand(c.channels, cin, c.kernel, c.kernel, generator=g) * 2 - 1) * bound).to(self.device))
            self.b.append(torch.zeros(c.channels, device=self.device))
            # the transposed convolution must give back exactly (h, w)
            self.output_padding.append(tuple(n - ((m - 1) * c.stride - 2 * c.padding + c.kernel) for n, m in zip((h, w), (oh, ow))))
            self.shapes.append((c.channels, oh, ow))
        n_flat = int(np.prod(self.shapes[-1]))
        bound = cfg.init_gain / math.sqrt(n_flat)
        self.W.append(((torch.rand(classes, n_flat, generator=g) * 2 - 1) * bound).to(self.device))
        self.b.append(torch.zeros(classes, device=self.device))
        self.shapes.append((classes,))

    @property
    def depth(self) -> int:
        return len(self.shapes) - 2

    @property
    def sizes(self) -> list[int]:
        return [int(np.prod(s)) for s in self.shapes]

    def zeros(self, batch: int) -> list[torch.Tensor]:
        return [torch.zeros(batch, *s, device=self.device) for s in self.shapes[1:]]

    def flops_per_step(self, batch: int) -> int:
        """Multiply-adds x2 of one relaxation step (every coupling forward and transposed)."""
        total = 0
        for k, w in enumerate(self.W):
            per_out = int(np.prod(w.shape[1:]))  # fan-in of one output unit
            out = int(np.prod(self.shapes[k + 1]))
            total += 2 * 2 * batch * out * per_out if k > 0 else 2 * batch * out * per_out
        return total


def _fwd(net_specs, output_padding, W, k: int, s: torch.Tensor) -> torch.Tensor:
    """P_k(s_k): layer k's drive of layer k+1."""
    if k < len(net_specs):
        c = net_specs[k]
        return F.conv2d(s, W[k], stride=c.stride, padding=c.padding)
    return s.flatten(1) @ W[k].T


def _adj(net_specs, output_padding, W, k: int, u: torch.Tensor, shape) -> torch.Tensor:
    """P_k^T(s_{k+1}): layer k+1's feedback to layer k, of layer k's shape."""
    if k < len(net_specs):
        c = net_specs[k]
        return F.conv_transpose2d(u, W[k], stride=c.stride, padding=c.padding, output_padding=output_padding[k])
    return (u @ W[k]).view(u.shape[0], *shape)


def _bias(b: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return b.view(1, -1, 1, 1) if like.dim() == 4 else b


def conv_step(net: ConvEqPropNet, W, b, x, s, beta: float = 0.0, y=None):
    """One alternating relaxation step with weights W, b. Pure: BPTT differentiates it."""
    specs, op = net.specs, net.output_padding
    new = [x, *s]
    n = len(new)
    for group in (range(1, n, 2), range(2, n, 2)):
        for k in group:
            h = _fwd(specs, op, W, k - 1, new[k - 1])
            h = h + _bias(b[k - 1], h)
            if k < n - 1:
                h = h + _adj(specs, op, W, k, new[k + 1], net.shapes[k])
            elif beta != 0.0:
                h = (h + beta * y) / (1.0 + beta)
            new[k] = h if (k == n - 1 and net.cfg.output == "linear") else h.clamp(0.0, 1.0)
    return new[1:]


@torch.no_grad()
def relax(net: ConvEqPropNet, x, s, steps: int, beta: float = 0.0, y=None) -> Relaxed:
    """Relax until no unit moves more than cfg.tol (tested every cfg.check_every steps)."""
    cfg = net.cfg
    B = x.shape[0]
    settle = torch.full((B,), steps, dtype=torch.long, device=x.device)
    done = torch.zeros(B, dtype=torch.bool, device=x.device)
    v = torch.full((B,), float("inf"), device=x.device)
    t = 0
    for t in range(1, steps + 1):
        new = conv_step(net, net.W, net.b, x, s, beta, y)
        if t % cfg.check_every and t != steps:
            s = new
            continue
        v = torch.stack([(a - c).abs().flatten(1).amax(1) for a, c in zip(new, s)]).amax(0)  # (B,)
        s = new
        now = (v < cfg.tol) & ~done
        settle = torch.where(now, torch.full_like(settle, t), settle)
        done = done | now
        if bool(done.all()):
            break
    return Relaxed(s, settle, v, t, t * net.flops_per_step(B))


def _corr(net: ConvEqPropNet, k: int, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """d/dW_k of sum over the batch of upper . P_k(lower; W_k): the Hebbian term of layer k."""
    if k < len(net.specs):
        c = net.specs[k]
        return torch.nn.grad.conv2d_weight(lower, net.W[k].shape, upper, stride=c.stride, padding=c.padding)
    return upper.T @ lower.flatten(1)


def _per_channel(t: torch.Tensor) -> torch.Tensor:
    """Sum over the batch and, for an image layer, its pixels: (B, C, H, W) -> (C,)."""
    return t.sum((0, 2, 3)) if t.dim() == 4 else t.sum(0)


@torch.no_grad()
def ep_direction(net: ConvEqPropNet, x: torch.Tensor, y: torch.Tensor):
    """(dW, db, free phase, nudge steps) of one batch; y: (B, classes) one-hot."""
    cfg = net.cfg
    B = x.shape[0]
    free = relax(net, x, net.zeros(B), cfg.free_steps)
    pos = relax(net, x, free.s, cfg.nudge_steps, +cfg.beta, y)
    if cfg.nudge == "centred":
        neg, denom = relax(net, x, free.s, cfg.nudge_steps, -cfg.beta, y), 2.0 * cfg.beta
    else:
        neg, denom = free, cfg.beta
    a, c = [x, *pos.s], [x, *neg.s]
    dW = [(_corr(net, k, a[k], a[k + 1]) - _corr(net, k, c[k], c[k + 1])) / (denom * B) for k in range(len(net.W))]
    db = [_per_channel(a[k + 1] - c[k + 1]) / (denom * B) for k in range(len(net.W))]
    return dW, db, free, pos.steps + (neg.steps if neg is not free else 0)


class ConvLearner:
    """The conv net with its optimiser: `fit_epoch`, `evaluate`, like `train.Learner`."""

    def __init__(self, cfg: EqPropConfig, input_shape: tuple[int, int, int], classes: int,
                 specs: tuple[ConvSpec, ...], device: torch.device | str = "cpu"):
        self.cfg, self.classes = cfg, classes
        self.input_shape = tuple(input_shape)
        self.net = ConvEqPropNet(cfg, self.input_shape, classes, specs, device)
        self.opt = Adam([*self.net.W, *self.net.b], cfg.lr, scales=layer_scales(cfg, len(self.net.W)))
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.epochs = 0

    def tensor(self, x: Any, dtype=torch.float32) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(x), dtype=dtype)
        if dtype is torch.float32:
            t = t.reshape(t.shape[0], *self.input_shape)
        return t.to(self.net.device)

    @torch.no_grad()
    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        target = F.one_hot(y, self.classes).to(x.dtype)
        dW, db, free, _ = ep_direction(self.net, x, target)
        self.opt.step([*self.net.W, *self.net.b], [*dW, *db])
        return {"correct": int((free.s[-1].argmax(1) == y).sum()), "free_steps": free.steps}

    def fit_epoch(self, x: Any, y: Any) -> dict[str, float]:
        X, Y = self.tensor(x), self.tensor(y, torch.long)
        n, bs = X.shape[0], self.cfg.batch_size
        perm = torch.randperm(n, generator=self.gen).to(X.device)
        t0 = time.perf_counter()
        correct = 0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            correct += self.train_step(X[idx], Y[idx])["correct"]
        self.epochs += 1
        return {"epoch": float(self.epochs), "train_accuracy": correct / n, "seconds": time.perf_counter() - t0}

    @torch.no_grad()
    def evaluate(self, x: Any, y: Any, batch: int = 500) -> dict[str, float]:
        X = self.tensor(x)
        y = np.asarray(y)
        scores = []
        for i in range(0, X.shape[0], batch):
            xb = X[i:i + batch]
            scores.append(relax(self.net, xb, self.net.zeros(xb.shape[0]), self.cfg.free_steps).s[-1].cpu())
        scores = torch.cat(scores).numpy()
        return {"accuracy": float((scores.argmax(1) == y).mean())}
