"""The conservative vs aggressive meta-update, and the EMA teacher (the seed's training loop).

Each step Adam proposes an update delta (its moments advance once, as usual). Two candidates
are tried: theta - conservative * delta and theta - aggressive * delta. Each is judged by a
loss the caller supplies (System 1's loss on this step's and the previous step's
observations: the cheap pass, and half of it is data the step did not fit), and the lower
one is kept. A gradient whose norm is over `max_grad_norm` is clipped to it and takes the
conservative step untried: a surprise that large is more often noise than a new rule. The
EMA teacher is a copy of the net whose weights follow theta_T <- ema theta_T + (1 - ema) theta
after every step; sleep distils from it.

What the seed had and this has not: an "editor head" of the model proposing the two step
sizes. Here they are two fixed factors of the config; the choice between them is learnt from
the losses, step by step.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from .config import CouncilConfig

__all__ = ["MetaUpdater"]


class MetaUpdater:
    def __init__(self, model: nn.Module, cfg: CouncilConfig) -> None:
        self.model, self.cfg = model, cfg
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(self.params, lr=cfg.lr)
        self.teacher = copy.deepcopy(model).requires_grad_(False)
        self.choices = {"conservative": 0, "aggressive": 0, "clipped": 0}

    def step(self, judge: Callable[[], float]) -> dict[str, float]:
        """Apply one update from the gradients in `.grad`; `judge()` is the loss of the model as
        its weights stand (called under no_grad). Returns what was chosen and the grad norm."""
        cfg = self.cfg
        norm = float(torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm))
        if not cfg.meta_update:
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            self._follow()
            return {"grad_norm": norm, "aggressive": 0.0}
        old = [p.detach().clone() for p in self.params]
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            delta = [o - p.detach() for o, p in zip(old, self.params)]
            if norm >= cfg.max_grad_norm:
                self._set(old, delta, cfg.conservative)
                self.choices["clipped"] += 1
                chose = 0.0
            else:
                losses = []
                for factor in (cfg.conservative, cfg.aggressive):
                    self._set(old, delta, factor)
                    losses.append(judge())
                chose = 1.0 if losses[1] < losses[0] else 0.0
                self._set(old, delta, cfg.aggressive if chose else cfg.conservative)
                self.choices["aggressive" if chose else "conservative"] += 1
        self._follow()
        return {"grad_norm": norm, "aggressive": chose}

    def _set(self, old: list[torch.Tensor], delta: list[torch.Tensor], factor: float) -> None:
        for p, o, d in zip(self.params, old, delta):
            p.copy_(o - factor * d)

    @torch.no_grad()
    def _follow(self) -> None:
        a = self.cfg.ema
        for t, p in zip(self.teacher.parameters(), self.model.parameters()):
            t.mul_(a).add_(p.detach(), alpha=1 - a)
