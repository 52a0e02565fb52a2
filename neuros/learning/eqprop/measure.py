"""Measurement code for the bench and the tests. Autograd is allowed here, and only here.

Nothing on the training path imports this module (a test checks it). It holds:

- `bptt_direction`: -dC/dtheta of the *same* energy-based net, by backprop through T steps of
  its relaxation from rest (BPTT), the reference the EP update is compared with;
- `cosines`: overall and per-layer cosine between two lists of tensors;
- the baseline: a same-shape feedforward MLP trained by ordinary backprop;
- `peak_memory`: peak resident memory of one training step, in a fresh child process.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys


import numpy as np
import torch

from .model import EqPropNet, step

__all__ = ["bptt_direction", "cosines", "MLP", "train_mlp", "mlp_scores", "peak_memory"]


def bptt_direction(net: EqPropNet, x: torch.Tensor, y: torch.Tensor, steps: int):
    """-dC/dW_k and -dC/db_k by autograd through `steps` relaxation steps from s = 0.

    x: (B, n_0); y: (B, n_out) one-hot. Feedback weights: W_k^T of the differentiated W_k
    (tied, as in the net), or the net's own B_k (held fixed) for the feedback variants.
    Returns (dW, db, residual) with residual the largest unit change in the last step.
    """
    W = [w.detach().clone().requires_grad_(True) for w in net.W]
    b = [v.detach().clone().requires_grad_(True) for v in net.b]
    bwd = [None] + [W[k].T if net.B[k] is None else net.B[k].detach() for k in range(1, len(W))]
    with torch.enable_grad():
        s = net.zeros(x.shape[0])
        prev = s
        for _ in range(steps):
            prev, s = s, step(W, bwd, b, x, s)
        loss = 0.5 * (s[-1] - y).square().sum(1).mean()
        grads = torch.autograd.grad(loss, [*W, *b], allow_unused=True)  # too few steps: W_0 unused
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, [*W, *b])]
    residual = max(float((a - c).detach().abs().max()) for a, c in zip(s, prev))
    n = len(W)
    return [-g.detach() for g in grads[:n]], [-g.detach() for g in grads[n:]], residual


def cosines(a: list[torch.Tensor], b: list[torch.Tensor]) -> tuple[float, list[float]]:
    """Cosine between the concatenations of `a` and `b`, and between each pair."""
    fa = torch.cat([t.flatten().double() for t in a])
    fb = torch.cat([t.flatten().double() for t in b])
    overall = float(torch.nn.functional.cosine_similarity(fa, fb, dim=0))
    per = [float(torch.nn.functional.cosine_similarity(u.flatten().double(), v.flatten().double(), dim=0))
           for u, v in zip(a, b)]
    return overall, per


# ----------------------------------------------------------------------------- the baseline


class MLP(torch.nn.Module):
    """Feedforward net of the same widths: ReLU hidden layers, logits out."""

    def __init__(self, sizes: list[int], seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor, kill: list[torch.Tensor] | None = None) -> torch.Tensor:
        h = x  # (B, n_0)
        for k, layer in enumerate(self.layers[:-1]):
            h = torch.relu(layer(h))  # (B, n_{k+1})
            if kill is not None:
                h = h * kill[k]
        return self.layers[-1](h)  # (B, n_out)


def train_mlp(sizes: list[int], x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int,
              lr: float = 1e-3, seed: int = 0, device: str = "cpu") -> MLP:
    """Backprop with Adam and cross-entropy: the usual way, same widths and epochs as EP."""
    model = MLP(sizes, seed).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    X = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1).to(device)
    Y = torch.as_tensor(y, dtype=torch.long).to(device)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=g).to(device)
        for i in range(0, len(X), batch_size):
            idx = perm[i:i + batch_size]
            loss = torch.nn.functional.cross_entropy(model(X[idx]), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


@torch.no_grad()
def mlp_scores(model: MLP, x: np.ndarray, kill: list[torch.Tensor] | None = None) -> np.ndarray:
    dev = next(model.parameters()).device
    X = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1).to(dev)
    return model(X, kill).softmax(1).cpu().numpy()


# ----------------------------------------------------------------------------- memory


def peak_memory(method: str, steps: int, hidden: tuple[int, ...] = (512, 512), batch: int = 256) -> dict[str, float]:
    """Peak RSS growth (bytes) of one training step of `method` ("ep" or "bptt") with
    `steps` relaxation steps, measured in a fresh child process so runs do not mix."""
    cmd = [sys.executable, "-m", __name__, "memory", method, str(steps), ",".join(map(str, hidden)), str(batch)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"memory probe failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _hwm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def _memory_child(method: str, steps: int, hidden: tuple[int, ...], batch: int) -> dict[str, float]:
    from .config import EqPropConfig
    from .train import make_optimizer, train_step

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = EqPropConfig(hidden=hidden, free_steps=steps, nudge_steps=steps, tol=0.0, homeostasis=False)
    net = EqPropNet(cfg, 64, 10)
    x = torch.rand(batch, 64)
    y = torch.randint(0, 10, (batch,))
    onehot = torch.nn.functional.one_hot(y, 10).float()

    def once(t: int) -> None:
        if method == "ep":  # tol = 0: every phase runs all its steps, no early stop
            net.cfg = EqPropConfig(hidden=hidden, free_steps=t, nudge_steps=t, tol=0.0, homeostasis=False)
            train_step(net, opt, x, y)
        else:
            bptt_direction(net, x, onehot, t)

    opt = make_optimizer(net)
    once(2)  # warm up allocator and kernels
    try:  # reset the kernel's peak-RSS mark (VmHWM) so start-up does not count
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    base = _rss_bytes()
    once(steps)
    peak = _hwm_bytes() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak_bytes": float(max(peak - base, 0)), "base_bytes": float(base), "hwm_reset": reset}


if __name__ == "__main__" and len(sys.argv) >= 2 and sys.argv[1] == "memory":
    _m, _t, _h, _b = sys.argv[2], int(sys.argv[3]), tuple(int(v) for v in sys.argv[4].split(",")), int(sys.argv[5])
    print(json.dumps(_memory_child(_m, _t, _h, _b)))
