"""Equilibrium propagation on a layered, Lipschitz-bounded energy network. One file, one model.

The network has layers s_0 = x (the clamped input), s_1 .. s_L (hidden) and s_{L+1} = o (the
output), every free unit in [0, 1]. Its energy is

    E(s) = 1/2 sum_{k>=1} |s_k|^2  -  sum_{k>=0} s_{k+1}^T W_k s_k  -  sum_{k>=0} b_k^T s_{k+1}

Relaxation sets layers to their exact minimiser given their neighbours,

    s_k <- clip(W_{k-1} s_{k-1} + W_k^T s_{k+1} + b_{k-1}, 0, 1)

either all layers at once ("synchronous": projected gradient descent with unit step) or odd
layers then even layers ("alternating": exact block coordinate descent, the energy never
rises). Both have the same fixed points, the stationary points of E over the box. The
synchronous map converges when the coupling operator A (the W_k between free layers, k >= 1)
has spectral norm < 1, which `lipschitz` enforces: a contraction, one fixed point from any
start. The alternating map settles for any weights, so deep nets can drop the bound. The nudged phase minimises
F = E + beta * C with C = 1/2 |o - y|^2; for the output block the minimiser is exact:
o <- clip((h_o + beta y) / (1 + beta)).

The learning rule is local and contrastive (Scellier & Bengio 2017; centred form from
Laborieux et al. 2021):

    dW_k = (s+_{k+1} s+_k^T  -  s-_{k+1} s-_k^T) / (2 beta)        ~  -dC/dW_k

where s+ / s- are the fixed points nudged by +beta / -beta (or +beta and the free phase, with
denominator beta, for one-sided nudging). Nothing here builds an autograd graph: every
function runs under torch.no_grad, and weights never require grad.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import msgspec
import torch

from .config import EqPropConfig

__all__ = ["EqPropNet", "Relaxed", "Direction", "step", "relax", "relax_lazy", "ep_direction", "dream", "ternarize",
           "update_groups"]


# ----------------------------------------------------------------------------- the net

# Power-iteration steps for the first estimate of |A| (within 1e-4 at depth 5, width 128).
_COLD_POWER_ITERS = 100


class EqPropNet:
    """Weights, feedback weights and the cached effective couplings the dynamics use."""

    def __init__(self, cfg: EqPropConfig, n_in: int, n_out: int, device: str | torch.device = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.sizes = [n_in, *cfg.hidden, n_out]  # widths of layers 0 .. L+1
        g = torch.Generator().manual_seed(cfg.seed)
        self.W: list[torch.Tensor] = []  # W[k]: (n_{k+1}, n_k), layer k -> k+1
        self.b: list[torch.Tensor] = []  # b[k]: (n_{k+1},), bias of layer k+1
        for n0, n1 in zip(self.sizes[:-1], self.sizes[1:]):
            bound = cfg.init_gain / math.sqrt(n0)  # nn.Linear's default init, times the gain
            self.W.append(((torch.rand(n1, n0, generator=g) * 2 - 1) * bound).to(self.device))
            self.b.append(torch.zeros(n1).to(self.device))
        # B[k]: (n_k, n_{k+1}), feedback from layer k+1 to k, only for k >= 1 (x gets none).
        self.B: list[torch.Tensor | None] = [None] * len(self.W)
        if cfg.feedback != "symmetric":
            for k in range(1, len(self.W)):
                n1, n0 = self.W[k].shape
                self.B[k] = ((torch.rand(n0, n1, generator=g) * 2 - 1) / math.sqrt(n1)).to(self.device)
        self._u: list[torch.Tensor] | None = None  # power-iteration vector, warm-started
        self.refresh()
        if cfg.lipschitz is not None:
            self.constrain()

    @property
    def depth(self) -> int:
        """Number of hidden layers, L."""
        return len(self.sizes) - 2

    def zeros(self, batch: int) -> list[torch.Tensor]:
        """A resting state: every free layer at 0. [(B, n_1), ..., (B, n_out)]"""
        return [torch.zeros(batch, n, device=self.device) for n in self.sizes[1:]]

    def refresh(self) -> None:
        """Recompute the couplings the dynamics use (ternarised if asked) after any update."""
        q = (lambda w: ternarize(w, self.cfg.ternary_delta)) if self.cfg.ternary else (lambda w: w)
        self.fwd = [q(w) for w in self.W]  # fwd[k]: (n_{k+1}, n_k)
        self.bwd: list[torch.Tensor | None] = [None]  # bwd[k]: (n_k, n_{k+1}), k >= 1
        for k in range(1, len(self.W)):
            self.bwd.append(self.fwd[k].T if self.B[k] is None else q(self.B[k]))

    def couplings(self) -> list[torch.Tensor]:
        """The latent weights that form A (every W_k and B_k with k >= 1), for scaling."""
        return [w for w in self.W[1:]] + [w for w in self.B[1:] if w is not None]

    def scale_couplings(self, factor: float) -> None:
        for w in self.couplings():
            w.mul_(factor)
        self.refresh()

    @torch.no_grad()
    def lipschitz_estimate(self, iters: int | None = None) -> float:
        """Spectral norm of A by warm-started power iteration on A^T A."""
        if self._u is None:
            g = torch.Generator().manual_seed(self.cfg.seed + 1)
            self._u = [torch.randn(n, generator=g).to(self.device) for n in self.sizes[1:]]
            # A cold start from a random vector needs many steps: with cfg.power_iters the
            # estimate at init was 1.42 for a norm of 1.54 (depth 5), leaving A at 1.03 > 1.
            iters = max(iters or 0, _COLD_POWER_ITERS)
        v = self._u
        for _ in range(iters or self.cfg.power_iters):
            v = _apply_AT(self.fwd, self.bwd, _apply_A(self.fwd, self.bwd, v))
            norm = math.sqrt(sum(float(t.square().sum()) for t in v)) or 1.0
            v = [t / norm for t in v]
        self._u = v
        av = _apply_A(self.fwd, self.bwd, v)
        return math.sqrt(sum(float(t.square().sum()) for t in av))

    @torch.no_grad()
    def lipschitz_exact(self) -> float:
        """Spectral norm of A from the dense matrix (for tests and the bench, not training)."""
        return float(torch.linalg.matrix_norm(coupling_matrix(self.fwd, self.bwd), ord=2))

    @torch.no_grad()
    def constrain(self) -> float:
        """Project A back to spectral norm <= cfg.lipschitz; returns the norm before."""
        sigma = self.lipschitz_estimate()
        if self.cfg.lipschitz is not None and sigma > self.cfg.lipschitz:
            self.scale_couplings(self.cfg.lipschitz / sigma)
        return sigma

    def flops_per_step(self, batch: int) -> int:
        """Multiply-adds x2 of one dense relaxation step over a batch."""
        n = self.sizes
        total = 0
        for k in range(1, len(n)):
            total += 2 * batch * n[k] * n[k - 1]
            if k < len(n) - 1:
                total += 2 * batch * n[k] * n[k + 1]
        return total


def ternarize(w: torch.Tensor, delta: float) -> torch.Tensor:
    """{-a, 0, +a}: zero below delta * mean|w|, a = mean |w| of the survivors (TWN)."""
    thr = delta * w.abs().mean()
    keep = w.abs() > thr
    a = w.abs()[keep].mean() if bool(keep.any()) else w.new_zeros(())
    return a * torch.sign(w) * keep


def coupling_matrix(fwd: list[torch.Tensor], bwd: list[torch.Tensor | None]) -> torch.Tensor:
    """The dense block matrix A over the free layers 1 .. L+1. (sum n_k, sum n_k)"""
    sizes = [w.shape[0] for w in fwd]  # n_1 .. n_{L+1}
    offs = [0]
    for n in sizes:
        offs.append(offs[-1] + n)
    A = fwd[0].new_zeros(offs[-1], offs[-1])
    for k in range(1, len(fwd)):  # block (k+1, k) = W_k, block (k, k+1) = B_k
        i, j = k, k - 1  # layer k+1 is free index k, layer k is free index k-1
        A[offs[i]:offs[i + 1], offs[j]:offs[j + 1]] = fwd[k]
        A[offs[j]:offs[j + 1], offs[i]:offs[i + 1]] = bwd[k]
    return A


def _apply_A(fwd, bwd, v):  # v: [(n_1,), ..., (n_{L+1},)] -> A v
    out = []
    for i in range(len(v)):  # free index i is layer i+1
        t = torch.zeros_like(v[i])
        if i >= 1:
            t = t + fwd[i] @ v[i - 1]
        if i + 1 < len(v):
            t = t + bwd[i + 1] @ v[i + 1]
        out.append(t)
    return out


def _apply_AT(fwd, bwd, u):  # A^T u
    out = []
    for i in range(len(u)):
        t = torch.zeros_like(u[i])
        if i + 1 < len(u):
            t = t + fwd[i + 1].T @ u[i + 1]
        if i >= 1:
            t = t + bwd[i].T @ u[i - 1]
        out.append(t)
    return out


# ----------------------------------------------------------------------------- dynamics


def update_groups(n_free: int, schedule: str) -> list[list[int]]:
    """The free layers (1 .. n_free) in the order one step updates them: one group of all
    ("synchronous") or the odd layers, then the even ones ("alternating")."""
    if schedule == "alternating":
        return [list(range(1, n_free + 1, 2)), list(range(2, n_free + 1, 2))]
    return [list(range(1, n_free + 1))]


def step(fwd, bwd, b, x, s, beta: float = 0.0, y=None, eta: float = 1.0, schedule: str = "synchronous",
         linear_output: bool = False, readout: bool = False):
    """One relaxation step. x: (B, n_0); s: [(B, n_1), ..., (B, n_out)].

    Pure (no in-place ops), so the BPTT measurement can differentiate through it.
    `eta` < 1 damps the step: s <- clip((1 - eta) s + eta h). "alternating" updates the odd
    layers first and the even layers from them (no layer touches one of its own group).
    `readout`: the output is the logits W_L s_L + b_L, outside the energy; it sends nothing
    down, and the nudge pulls the top hidden layer by beta W_L^T (y - softmax(o)) = -beta dCE/ds_L.
    """
    old = [x, *s]
    new = list(old)
    n = len(old)
    for group in update_groups(n - 1, schedule):
        src = new if schedule == "alternating" else old
        for k in group:
            h = src[k - 1] @ fwd[k - 1].T + b[k - 1]  # (B, n_k) bottom-up
            if readout and k == n - 2:
                if beta != 0.0:  # (B, n_out) @ (n_out, n_L): the cross-entropy's pull on s_L
                    h = h + beta * (y - src[n - 1].softmax(1)) @ fwd[n - 2]
            elif k < n - 1:
                h = h + src[k + 1] @ bwd[k].T  # (B, n_k) top-down
            elif beta != 0.0 and not readout:
                h = (h + beta * y) / (1.0 + beta)  # exact minimiser of the nudged output block
            if eta != 1.0:
                h = (1.0 - eta) * old[k] + eta * h
            new[k] = h if ((linear_output or readout) and k == n - 1) else h.clamp(0.0, 1.0)
    return new[1:]


@dataclass
class Relaxed:
    s: list[torch.Tensor]  # the state reached: [(B, n_1), ..., (B, n_out)]
    settle: torch.Tensor  # (B,) steps each input took to settle; == cap if it never did
    velocity: torch.Tensor  # (B,) largest unit change in the last step
    steps: int  # steps run (the slowest input's)
    flops: int  # FLOPs done


@torch.no_grad()
def relax(net: EqPropNet, x, s, steps: int, beta: float = 0.0, y=None, ablate=None, ablate_at: int = 0) -> Relaxed:
    """Relax from state `s` until every input settles (no unit moves more than cfg.tol) or
    `steps` run out. `ablate`: per hidden layer a (n_k,) 0/1 mask applied from step
    `ablate_at` on: killed units are held at 0 and send nothing."""
    cfg = net.cfg
    if cfg.lazy and ablate is None:
        return relax_lazy(net, x, s, steps, beta, y)
    tol, every = cfg.tol, cfg.check_every
    B = x.shape[0]
    settle = torch.full((B,), steps, dtype=torch.long, device=x.device)
    done = torch.zeros(B, dtype=torch.bool, device=x.device)
    v = torch.full((B,), float("inf"), device=x.device)
    t = 0
    for t in range(1, steps + 1):
        new = step(net.fwd, net.bwd, net.b, x, s, beta, y, schedule=cfg.schedule, linear_output=cfg.output == "linear",
                   readout=cfg.output == "readout")
        if ablate is not None and t > ablate_at:
            new = [n * m if m is not None else n for n, m in zip(new, [*ablate, None])]
        if t % every and t != steps:  # not a checking step: no velocity, no device sync
            s = new
            continue
        v = torch.stack([(n - o).abs().amax(1) for n, o in zip(new, s)]).amax(0)  # (B,)
        s = new
        now = (v < tol) & ~done
        settle = torch.where(now, torch.full_like(settle, t), settle)
        done = done | now
        if ablate is None or t > ablate_at:
            if bool(done.all()):
                break
    return Relaxed(s, settle, v, t, t * net.flops_per_step(B))


@torch.no_grad()
def relax_lazy(net: EqPropNet, x, s, steps: int, beta: float = 0.0, y=None) -> Relaxed:
    """Event-driven relaxation: a unit moves only if its target differs from its state by
    more than cfg.lazy_tol, and only units that moved send their change to their neighbours'
    net inputs. FLOPs counted are the ones done: one dense pass to build the net inputs, then
    2 * B * (units that moved in any input of the batch) * fan-out per step."""
    fwd, bwd, b = net.fwd, net.bwd, net.b
    lazy_tol = net.cfg.lazy_tol
    layers = [x, *s]
    n = len(layers)
    B = x.shape[0]
    h = [None]  # h[k]: (B, n_k) net input of layer k, kept current incrementally
    for k in range(1, n):
        hk = layers[k - 1] @ fwd[k - 1].T + b[k - 1]
        if k < n - 1:
            hk = hk + layers[k + 1] @ bwd[k].T
        h.append(hk)
    flops = net.flops_per_step(B)
    s = list(s)
    settle = torch.full((B,), steps, dtype=torch.long, device=x.device)
    done = torch.zeros(B, dtype=torch.bool, device=x.device)
    v = torch.zeros(B, device=x.device)
    t = 0
    for t in range(1, steps + 1):
        v = torch.zeros(B, device=x.device)
        for group in update_groups(n - 1, net.cfg.schedule):  # a group sees the last one's sends
            deltas = {}
            for k in group:
                target = h[k] if (k < n - 1 or beta == 0.0) else (h[k] + beta * y) / (1.0 + beta)
                if k < n - 1 or net.cfg.output != "linear":
                    target = target.clamp(0.0, 1.0)
                d = target - s[k - 1]  # (B, n_k)
                d = torch.where(d.abs() > lazy_tol, d, torch.zeros_like(d))  # settled units stay silent
                v = torch.maximum(v, d.abs().amax(1))
                deltas[k] = d
            for k, d in deltas.items():
                s[k - 1] = s[k - 1] + d
                idx = (d != 0).any(0).nonzero().squeeze(1)  # (m,) units that moved in any input
                m = idx.numel()
                if m == 0:
                    continue
                dk = d.index_select(1, idx)  # (B, m)
                if k + 1 < n:
                    h[k + 1] = h[k + 1] + dk @ fwd[k].index_select(1, idx).T  # (B, n_{k+1})
                    flops += 2 * B * m * fwd[k].shape[0]
                if k - 1 >= 1:
                    h[k - 1] = h[k - 1] + dk @ bwd[k - 1].index_select(1, idx).T  # (B, n_{k-1})
                    flops += 2 * B * m * bwd[k - 1].shape[0]
        now = (v == 0) & ~done
        settle = torch.where(now, torch.full_like(settle, t), settle)
        done = done | now
        if bool(done.all()):
            break
    return Relaxed(s, settle, v, t, flops)


# ----------------------------------------------------------------------------- learning


@dataclass
class Direction:
    """The EP estimate of -dC/dtheta for one batch, and what the phases saw."""

    dW: list[torch.Tensor]  # dW[k]: (n_{k+1}, n_k)
    db: list[torch.Tensor]  # db[k]: (n_{k+1},)
    free: Relaxed
    # -dC/dx per example, (B, n_0): the input seen as one more parameter (its coupling W_0
    # times the first hidden layer's contrast). Dreaming follows it; training ignores it.
    dx: torch.Tensor
    loss: float  # C at the free fixed point, batch mean
    correct: int
    flops: int
    nudge_steps: list[int] = field(default_factory=list)


def cost(o: torch.Tensor, y: torch.Tensor, readout: bool = False) -> torch.Tensor:
    """C = 1/2 |o - y|^2, batch mean, at output o (B, n_out) for one-hot targets y; with
    `readout`, o are logits and C is the cross-entropy."""
    if readout:
        return -(y * o.log_softmax(1)).sum(1).mean()
    return 0.5 * (o - y).square().sum(1).mean()


@torch.no_grad()
def ep_direction(net: EqPropNet, x: torch.Tensor, y: torch.Tensor, s0=None) -> Direction:
    """Free phase, nudged phase(s), contrast. x: (B, n_0); y: (B, n_out) one-hot targets."""
    cfg = net.cfg
    B = x.shape[0]
    free = relax(net, x, s0 if s0 is not None else net.zeros(B), cfg.free_steps)
    pos = relax(net, x, free.s, cfg.nudge_steps, +cfg.beta, y)
    if cfg.nudge == "centred":
        neg = relax(net, x, free.s, cfg.nudge_steps, -cfg.beta, y)
        denom = 2.0 * cfg.beta
    else:
        neg = free
        denom = cfg.beta
    a, c = [x, *pos.s], [x, *neg.s]  # activities of layers 0 .. L+1 in the two phases
    dW = [(a[k + 1].T @ a[k] - c[k + 1].T @ c[k]) / (denom * B) for k in range(len(net.W))]
    db = [(a[k + 1] - c[k + 1]).sum(0) / (denom * B) for k in range(len(net.W))]
    dx = (a[1] - c[1]) @ net.fwd[0] / denom  # (B, n_0)
    o = free.s[-1]  # (B, n_out)
    readout = cfg.output == "readout"
    if readout:  # the readout is not in the energy: its exact gradient at the free phase
        o = free.s[-2] @ net.fwd[-1].T + net.b[-1]  # (B, n_out) logits of the settled s_L
        err = y - o.softmax(1)  # (B, n_out) = -dCE/do
        dW[-1] = err.T @ free.s[-2] / B
        db[-1] = err.mean(0)
    loss = float(cost(o, y, readout))
    correct = int((o.argmax(1) == y.argmax(1)).sum())
    flops = free.flops + pos.flops + (neg.flops if neg is not free else 0)
    flops += sum(2 * 2 * B * w.numel() for w in net.W)  # the two outer products per layer
    return Direction(dW, db, free, dx, loss, correct, flops, [pos.steps, neg.steps])


# ----------------------------------------------------------------------------- dreaming


@torch.no_grad()
def dream(net: EqPropNet, labels: torch.Tensor, steps: int, input_range: tuple[float, float],
          refine: int = 0, lr: float = 0.02) -> torch.Tensor:
    """Clamp the output to one-hot `labels` (B,), free the input, relax; return x: (B, n_0).

    The same weights as classification: the input's net input is W_0^T s_1 (no bias; its
    energy term 1/2 |x|^2 is the prior). W_0 is not norm-bounded, so this is damped projected
    gradient descent on E with step 1 / (1 + |A_full|), which lowers E at every step.

    That minimum of the joint energy is not where the free phase, started from the dream,
    lands on the label (the clamped output fed the hidden layers; the free phase has no such
    help). `refine` steps then move the input along EP's own -dC/dx for the label (free and
    +-beta phases from the current input, see `Direction.dx`), each of `lr` times the box width
    per unit rms, kept in the box: the output is clamped softly (nudged) and the input relaxes.
    """
    xs = _dream_energy(net, labels, steps, input_range)
    if refine:
        lo, hi = input_range
        target = torch.nn.functional.one_hot(labels, net.sizes[-1]).to(xs.dtype)  # (B, n_out)
        # The output is read before its clip while refining: a clipped target output stuck at
        # 0 makes both nudged phases equal (no contrast, no pull), and once the wrong class is
        # pushed to 0 too, every output is 0. Where outputs are inside (0, 1) nothing differs.
        saved = net.cfg
        if saved.output == "clipped":
            net.cfg = msgspec.structs.replace(saved, output="linear")
        try:
            for _ in range(refine):
                g = ep_direction(net, xs, target).dx  # (B, n_0)
                rms = g.square().mean(1, keepdim=True).sqrt().clamp_min(1e-12)
                xs = (xs + lr * (hi - lo) * g / rms).clamp(lo, hi)
        finally:
            net.cfg = saved
    return xs


def _dream_energy(net: EqPropNet, labels: torch.Tensor, steps: int, input_range: tuple[float, float]) -> torch.Tensor:
    """The input at the minimum of E with the output clamped to `labels`. (B, n_0)"""
    B = labels.shape[0]
    o = torch.nn.functional.one_hot(labels, net.sizes[-1]).to(net.W[0].dtype)  # (B, n_out)
    lo, hi = input_range
    xs = torch.full((B, net.sizes[0]), max(lo, 0.0) if lo <= 0.0 <= hi else lo, device=net.device)
    hid = [torch.zeros(B, n, device=net.device) for n in net.sizes[1:-1]]
    eta = 1.0 / (1.0 + _full_norm(net))
    for _ in range(steps):
        layers = [xs, *hid, o]
        new_x = ((1 - eta) * xs + eta * (layers[1] @ net.fwd[0])).clamp(lo, hi)  # (B, n_0)
        new_h = []
        for k in range(1, len(layers) - 1):
            hk = layers[k - 1] @ net.fwd[k - 1].T + net.b[k - 1] + layers[k + 1] @ net.bwd[k].T
            new_h.append(((1 - eta) * layers[k] + eta * hk).clamp(0.0, 1.0))
        xs, hid = new_x, new_h
    return xs


def _full_norm(net: EqPropNet, iters: int = 30) -> float:
    """Spectral norm of the coupling operator over layers 0 .. L (input freed, output clamped)."""
    # In _apply_A's indexing, free index i is layer i here: chain_fwd[i] maps layer i-1 -> i,
    # chain_bwd[i] maps layer i -> i-1 (W_0^T for the input, B_k or W_k^T above it).
    L = net.depth
    chain_fwd = [None, *net.fwd[:L]]
    chain_bwd = [None, net.fwd[0].T, *net.bwd[1:L]]
    g = torch.Generator().manual_seed(net.cfg.seed + 2)
    v = [torch.randn(n, generator=g).to(net.device) for n in net.sizes[: L + 1]]
    sigma = 0.0
    for _ in range(iters):
        w = _apply_AT(chain_fwd, chain_bwd, _apply_A(chain_fwd, chain_bwd, v))
        norm = math.sqrt(sum(float(t.square().sum()) for t in w)) or 1.0
        sigma = math.sqrt(norm)
        v = [t / norm for t in w]
    return sigma
