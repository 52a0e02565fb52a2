"""The meta-parameter controller (seed 5.6): a learning rate and a regularisation strength
moved by validation-loss trends. Plain Python, no torch.

After each epoch it is told the current task's validation loss and the old tasks' (the loss on
what was learnt before). A rise of the current loss means the step overshoots: lr is cut by
`lr_down`; a fall lets it grow by `lr_up`. A rise of the old loss is forgetting: the
regulariser (EWC's lambda) is multiplied by `reg_up`; a fall relaxes it by `reg_down`. Both
stay within their bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["MetaParameterController"]


@dataclass
class MetaParameterController:
    lr: float
    reg: float
    lr_min: float = 1e-4
    lr_max: float = 1.0
    reg_min: float = 0.0
    reg_max: float = 1e6
    lr_down: float = 0.5
    lr_up: float = 1.1
    reg_up: float = 2.0
    reg_down: float = 0.9
    current: list[float] = field(default_factory=list)  # validation loss of the task being learnt
    old: list[float] = field(default_factory=list)  # validation loss on earlier tasks

    def start_task(self) -> None:
        """A new task: trends start afresh (its first losses are not comparable to the last task's)."""
        self.current.clear()
        self.old.clear()

    def update(self, current_loss: float, old_loss: float | None = None) -> tuple[float, float]:
        """Record one epoch's validation losses; return the new (lr, reg)."""
        if math.isfinite(current_loss):
            if self.current:
                factor = self.lr_down if current_loss > self.current[-1] else self.lr_up
                self.lr = min(self.lr_max, max(self.lr_min, self.lr * factor))
            self.current.append(current_loss)
        if old_loss is not None and math.isfinite(old_loss):
            if self.old:
                factor = self.reg_up if old_loss > self.old[-1] else self.reg_down
                self.reg = min(self.reg_max, max(self.reg_min, self.reg * factor))
            self.old.append(old_loss)
        return self.lr, self.reg
