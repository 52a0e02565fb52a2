"""The MLP student's training, in a child process of its own: ``python -m neuro.dream._trainer IN OUT``.

It is the only place the dream daemon uses torch, so torch never enters the kernel's
process. The daemon pauses it while interactive calls wait and holds it to its policy's CPU
share (dream/_governor.py), through its stdin; it exits when its stdin ends or its parent is
gone, so a `kill -9` of the daemon leaves no trainer behind (not SIGSTOP: a stopped process
left by a killed parent would stay stopped for ever). IN is an npz of `x` (N, D) and `y` (N, K),
scaled, with `reg` and `cats` (the columns of each regression block and category head),
`hidden`, `steps`, `seed`; OUT gets the layers (`w0`, `b0`, ...). It prints ``ready`` when
its first step comes, ``step S LOSS`` lines as it goes and ``done`` at the end.
"""

from __future__ import annotations

import os
import sys

# Up to this many training rows, each step uses them all; past it, a random batch of BATCH.
FULL_BATCH = 4096
BATCH = 256


class _Control:
    """What the daemon says on stdin: ``pause``, ``go``, ``share F``. Its end (EOF: the daemon
    is gone, killed or not) ends this process, paused or not."""

    def __init__(self, parent: int) -> None:
        import threading

        self.running = threading.Event()
        self.running.set()
        self.share = 1.0
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._watch, args=(parent,), daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            word, _, arg = line.strip().partition(" ")
            if word == "pause":
                self.running.clear()
            elif word == "go":
                self.running.set()
            elif word == "share":
                self.share = min(1.0, max(0.01, float(arg)))
        os._exit(1)

    @staticmethod
    def _watch(parent: int) -> None:
        import time

        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    def step_done(self, cpu: float, wall: float) -> None:
        """Wait while paused; while something else wants the CPU, rest so the step's `cpu`
        seconds (its thread's CPU clock) keep to the share of the wall time it took with the
        rest. Under contention a step already took longer than its CPU: it rests only what is
        missing. A share is a weight, as a cgroup's CPU weight is: on an idle machine the
        trainer takes the core nobody asks for (resting then only made a dream slower)."""
        import time

        if self.share < 1.0 and contended():
            rest = cpu / self.share - wall
            if rest > 0:
                time.sleep(rest)
        self.running.wait()


def contended(stat: str = "/proc/stat") -> bool:
    """Whether more threads are runnable now than this process may run on (this one counts):
    the kernel's own count (`procs_running`). Where it cannot be read, always (keep the share)."""
    try:
        with open(stat, "rb") as f:
            for line in f:
                if line.startswith(b"procs_running "):
                    return int(line.split()[1]) > len(os.sched_getaffinity(0))
    except (OSError, ValueError, AttributeError):
        pass
    return True


def train(inp: str, out: str, control: _Control | None = None) -> None:
    import time

    if control is not None:
        control.running.wait()  # importing torch takes seconds of CPU: not while calls wait
    import numpy as np
    import torch

    torch.set_num_threads(1)
    with np.load(inp) as f:
        data = {k: f[k] for k in f.files}
    seed = int(data["seed"])
    torch.manual_seed(seed)
    x = torch.tensor(data["x"], dtype=torch.float32)  # (N, D)
    y = torch.tensor(data["y"], dtype=torch.float32)  # (N, K)
    reg = [int(c) for c in data["reg"]]
    cats = [(int(a), int(b)) for a, b in data["cats"].reshape(-1, 2)]
    hidden = [int(h) for h in data["hidden"]]
    steps = int(data["steps"])
    loss_fn = torch.nn.functional.huber_loss if str(data.get("loss", "mse")) == "huber" else \
        torch.nn.functional.mse_loss
    widths = [x.shape[1], *hidden, y.shape[1]]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.Tanh())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=float(data["lr"]))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    full = len(x) <= FULL_BATCH  # every row each step: no sampling noise, so it fits closer
    labels = [y[:, start:start + size].argmax(dim=1) for start, size in cats]  # (N,) per head
    gen = torch.Generator().manual_seed(seed)
    print("ready", flush=True)  # torch is in: training steps follow
    for step in range(1, steps + 1):
        began, began_cpu = time.perf_counter(), time.thread_time()
        if full:
            xb, yb, lb = x, y, labels
        else:
            idx = torch.randint(0, len(x), (BATCH,), generator=gen)
            xb, yb, lb = x[idx], y[idx], [t[idx] for t in labels]
        out_b = net(xb)  # (B, K)
        loss = loss_fn(out_b[:, reg], yb[:, reg]) if reg else torch.zeros(())
        for (start, size), target in zip(cats, lb):
            loss = loss + torch.nn.functional.cross_entropy(out_b[:, start:start + size], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if control is not None:
            control.step_done(time.thread_time() - began_cpu, time.perf_counter() - began)
        if step % 50 == 0 or step == steps:
            print(f"step {step} {loss.item():.6g}", flush=True)
    arrays = {}
    dense = [m for m in net if isinstance(m, torch.nn.Linear)]
    for i, m in enumerate(dense):
        arrays[f"w{i}"] = m.weight.detach().double().numpy().T  # (in, out)
        arrays[f"b{i}"] = m.bias.detach().double().numpy()
    tmp = out + ".part"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, out)  # the daemon sees whole weights or none
    print("done", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m neuro.dream._trainer IN.npz OUT.npz")
    train(sys.argv[1], sys.argv[2], _Control(os.getppid()))
