"""A generated point-mass task (continuous control), numpy only.

A mass in the plane starts at a random point of [-1, 1]^2 at rest; the action is a force in
[-1, 1]^2; velocity v <- damping v + dt a, position p <- p + dt v. Each step's reward is
-||p|| - 0.01 ||a||^2 (stay at the origin, cheaply), over `horizon` steps.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PointMass"]


class PointMass:
    obs_dim, act_dim = 4, 2

    def __init__(self, horizon: int = 40, dt: float = 0.1, damping: float = 0.9, seed: int = 0) -> None:
        import numpy as np

        self.horizon, self.dt, self.damping = horizon, dt, damping
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> Any:
        import numpy as np

        self.p, self.v, self.t = self.rng.uniform(-1, 1, 2), np.zeros(2), 0
        return self.obs()

    def obs(self) -> Any:
        import numpy as np

        return np.concatenate([self.p, self.v]).astype(np.float32)

    def step(self, action: Any) -> tuple[Any, float, bool]:
        import numpy as np

        a = np.clip(np.asarray(action, np.float64), -1, 1)
        self.v = self.damping * self.v + self.dt * a
        self.p = self.p + self.dt * self.v
        self.t += 1
        return self.obs(), float(-np.linalg.norm(self.p) - 0.01 * (a ** 2).sum()), self.t >= self.horizon

    def episode_return(self, policy: Any) -> float:
        o, total, done = self.reset(), 0.0, False
        while not done:
            o, r, done = self.step(policy(o))
            total += r
        return total
