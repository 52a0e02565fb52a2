"""The continual learner's model: an MLP learning tasks one after another, guarded by EWC and
replay, its lr and lambda moved by the meta-parameter controller. torch.

    model = ContinualModel(cfg, n_in=64, classes=10, device)
    model.learn_task(x, y, epochs)     # one task; then its Fisher and examples are kept
    model.accuracy(x, y)
"""

from __future__ import annotations

from typing import Any

from .config import ContinualConfig
from .controller import MetaParameterController
from .methods import ReplayMemory, ewc_penalty, fisher_diagonal

__all__ = ["ContinualModel"]


class ContinualModel:
    def __init__(self, cfg: ContinualConfig, n_in: int, classes: int, device: Any = "cpu") -> None:
        import torch
        from torch import nn

        torch.manual_seed(cfg.seed)
        self.cfg, self.n_in, self.classes, self.device = cfg, n_in, classes, torch.device(device)
        self.net = nn.Sequential(nn.Linear(n_in, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(),
                                 nn.Linear(cfg.hidden, classes)).to(self.device)
        self.memory = ReplayMemory(cfg.memory_size if "replay" in cfg.strategy else 0, cfg.seed)
        self.fisher: dict[str, Any] | None = None
        self.anchor: dict[str, Any] | None = None
        self.controller = MetaParameterController(cfg.lr, cfg.ewc_lambda, lr_min=cfg.lr_min, lr_max=cfg.lr_max,
                                                  reg_min=cfg.ewc_lambda / 10, reg_max=cfg.ewc_lambda * 100)
        self.tasks_learnt = 0
        self.rng = torch.Generator().manual_seed(cfg.seed)

    # ----------------------------------------------------------------------------- training

    def _tensors(self, x: Any, y: Any) -> tuple[Any, Any]:
        import torch

        return (torch.tensor(x, dtype=torch.float32, device=self.device).reshape(len(x), -1),  # a copy: x may be
                torch.tensor(y, dtype=torch.int64, device=self.device))  # a read-only view of a data set

    def loss_on(self, x: Any, y: Any) -> Any:
        """Cross-entropy on (x, y), plus rehearsal and the EWC penalty as the strategy says."""
        import torch.nn.functional as F

        loss = F.cross_entropy(self.net(x), y)
        if "replay" in self.cfg.strategy:
            old = self.memory.sample(self.cfg.replay_per_step)
            if old is not None:
                ox, oy = self._tensors(*old)
                loss = loss + F.cross_entropy(self.net(ox), oy) * (len(oy) / (len(oy) + len(y)))
        if "ewc" in self.cfg.strategy and self.fisher is not None:
            loss = loss + ewc_penalty(self.net, self.fisher, self.anchor, self.stable_lambda())
        return loss

    def stable_lambda(self) -> float:
        """The controller's lambda, capped where SGD on the penalty stays stable: its curvature
        along weight i is lambda F_i, and a step of lr diverges once lr lambda F_i > 2; the cap
        keeps lr lambda max F at 1."""
        top = max(float(f.max()) for f in self.fisher.values()) if self.fisher else 0.0
        return min(self.controller.reg, 1.0 / (self.controller.lr * top)) if top > 0 else self.controller.reg

    def step(self, x: Any, y: Any) -> float:
        """One SGD step on a batch (numpy or tensors) at the controller's lr; its loss."""
        import torch

        xb, yb = self._tensors(x, y)
        loss = self.loss_on(xb, yb)
        self.net.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in self.net.parameters():
                p -= self.controller.lr * p.grad
        return float(loss.detach())

    def epoch(self, x: Any, y: Any) -> float:
        """One pass over a task's examples in random mini-batches; the mean loss."""
        import torch

        order = torch.randperm(len(x), generator=self.rng).numpy()
        losses = [self.step(x[order[i:i + self.cfg.batch_size]], y[order[i:i + self.cfg.batch_size]])
                  for i in range(0, len(x), self.cfg.batch_size)]
        return sum(losses) / max(len(losses), 1)

    def learn_task(self, x: Any, y: Any, epochs: int, val: tuple[Any, Any] | None = None) -> dict[str, float]:
        """Learn one task for `epochs` (the controller adjusts after each, on `val` and on the
        replay memory as the old tasks' stand-in), then consolidate it."""
        import numpy as np

        x, y = np.asarray(x, np.float32).reshape(len(x), -1), np.asarray(y, np.int64)
        self.controller.start_task()
        loss = float("nan")
        for _ in range(epochs):
            loss = self.epoch(x, y)
            if self.cfg.controller == "on":
                vx, vy = val if val is not None else (x, y)
                old = self.memory.arrays() if len(self.memory) else None
                self.controller.update(self.mean_loss(vx, vy), None if old is None else self.mean_loss(*old))
        self.consolidate(x, y)
        self.tasks_learnt += 1
        return {"loss": loss, "lr": self.controller.lr, "ewc_lambda": self.controller.reg}

    def consolidate(self, x: Any, y: Any) -> None:
        """The end of a task: add its Fisher, anchor the weights, offer its examples to memory."""
        import numpy as np

        if "ewc" in self.cfg.strategy:
            pick = np.random.default_rng(self.cfg.seed + self.tasks_learnt).permutation(len(x))[:self.cfg.fisher_samples]
            fisher = fisher_diagonal(self.net, *self._tensors(x[pick], y[pick]))
            self.fisher = fisher if self.fisher is None else {n: self.fisher[n] + f for n, f in fisher.items()}
            self.anchor = {n: p.detach().clone() for n, p in self.net.named_parameters()}
        self.memory.add(x, y)

    # ----------------------------------------------------------------------------- using it

    def scores(self, x: Any) -> Any:
        """Class probabilities (N, classes), numpy."""
        import torch

        with torch.no_grad():
            xb = torch.tensor(x, dtype=torch.float32, device=self.device).reshape(len(x), -1)
            return torch.softmax(self.net(xb), -1).cpu().numpy()

    def mean_loss(self, x: Any, y: Any) -> float:
        import torch
        import torch.nn.functional as F

        xb, yb = self._tensors(x, y)
        with torch.no_grad():
            return float(F.cross_entropy(self.net(xb), yb))

    def accuracy(self, x: Any, y: Any) -> float:
        import numpy as np

        return float((self.scores(x).argmax(1) == np.asarray(y)).mean()) if len(y) else float("nan")
