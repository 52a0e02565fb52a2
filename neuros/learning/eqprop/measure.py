"""Measurement code for the bench and the tests. Autograd is allowed here and in `baselines.py`.

Nothing on the training path imports this module (a test checks it). It holds:

- `bptt_direction`: -dC/dtheta of the *same* energy-based net, by backprop through T steps of
  its relaxation from rest (BPTT), the reference the EP update is compared with;
- `cosines`: overall and per-layer cosine between two lists of tensors;
- the baselines (re-exported from `baselines.py`): a same-shape feedforward MLP trained by
  ordinary backprop;
- `peak_memory`: peak resident memory of one training step, in a fresh child process.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import torch

from . import baselines
from .baselines import MLP, mlp_scores, train_mlp
from .model import EqPropNet

__all__ = ["bptt_direction", "cosines", "MLP", "train_mlp", "mlp_scores", "peak_memory"]


def bptt_direction(net: EqPropNet, x: torch.Tensor, y: torch.Tensor, steps: int):
    """-dC/dW_k, -dC/db_k by backprop through `steps` relaxation steps from rest, and the
    residual (largest unit change in the last step). See `baselines.bptt_direction`."""
    dW, db, residual, _ = baselines.bptt_direction(net, x, y, steps)
    return dW, db, residual


def cosines(a: list[torch.Tensor], b: list[torch.Tensor]) -> tuple[float, list[float]]:
    """Cosine between the concatenations of `a` and `b`, and between each pair."""
    fa = torch.cat([t.flatten().double() for t in a])
    fb = torch.cat([t.flatten().double() for t in b])
    overall = float(torch.nn.functional.cosine_similarity(fa, fb, dim=0))
    per = [float(torch.nn.functional.cosine_similarity(u.flatten().double(), v.flatten().double(), dim=0))
           for u, v in zip(a, b)]
    return overall, per


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
