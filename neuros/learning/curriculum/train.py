"""Steps to a target accuracy: SGD on a linear classifier, its batches drawn from a schedule of
distributions (or uniformly), test accuracy checked every `check_every` steps. torch inside."""

from __future__ import annotations

from typing import Any

__all__ = ["Classifier", "sgd_steps", "steps_to_target"]


def Classifier(n_in: int, classes: int, seed: int, device: Any = "cpu") -> Any:
    import torch

    torch.manual_seed(seed)
    return torch.nn.Linear(n_in, classes).to(device)


def sgd_steps(net: Any, opt: Any, x: Any, y: Any, p: Any, steps: int, batch: int, rng: Any) -> float:
    """`steps` SGD steps on batches drawn from p (None: uniformly); the last batch's loss."""
    import torch
    import torch.nn.functional as F

    loss = torch.zeros(())
    for _ in range(steps):
        idx = torch.as_tensor(rng.choice(len(x), batch, p=p), device=x.device)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def steps_to_target(x: Any, y: Any, xte: Any, yte: Any, schedule: list | None, *, per_stage: int, target: float,
                    lr: float, batch: int, seed: int, max_steps: int, check_every: int = 5) -> int:
    """SGD steps until test accuracy >= target (max_steps + check_every if never). With a
    schedule, stage k's distribution feeds steps k*per_stage.. (k+1)*per_stage, the last one on."""
    import numpy as np
    import torch

    from ..paradigmkit.classifier import accuracy

    net = Classifier(x.shape[1], int(y.max()) + 1, seed, x.device)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    for done in range(0, max_steps, check_every):
        p = None if schedule is None else schedule[min(done // per_stage, len(schedule) - 1)]
        sgd_steps(net, opt, x, y, p, check_every, batch, rng)
        if accuracy(net, xte, yte) >= target:
            return done + check_every
    return max_steps + check_every
