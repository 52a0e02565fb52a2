"""Q-learning on a table (seed 4.13 and 5.4), numpy only:

    Q(s,a) <- Q(s,a) + alpha (r + gamma max_a' Q(s',a') - Q(s,a))     (no bootstrap past the end)
    eps_{t+1} = max(min_epsilon, eps_t * epsilon_decay)                 (after every episode)
"""

from __future__ import annotations

from typing import Any

__all__ = ["q_update", "q_learning", "greedy"]


def q_update(q: Any, s: int, a: int, r: float, s2: int, done: bool, alpha: float, gamma: float) -> None:
    target = r if done else r + gamma * q[s2].max()
    q[s, a] += alpha * (target - q[s, a])


def q_learning(world: Any, episodes: int, *, alpha: float = 0.5, gamma: float = 0.95, epsilon: float = 1.0,
               epsilon_decay: float = 0.97, min_epsilon: float = 0.05, seed: int = 0, q: Any = None) -> tuple[Any, float]:
    """Train a Q table by epsilon-greedy episodes; (Q, the epsilon it ends with)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    q = np.zeros((world.n_states, world.n_actions)) if q is None else q
    for _ in range(episodes):
        s, done = world.reset(), False
        while not done:
            a = int(rng.integers(world.n_actions)) if rng.random() < epsilon else greedy(q, s, rng)
            s2, r, done = world.step(a)
            q_update(q, s, a, r, s2, done and world.pos == world.goal, alpha, gamma)
            s = s2
        epsilon = max(min_epsilon, epsilon * epsilon_decay)
    return q, epsilon


def greedy(q: Any, s: int, rng: Any) -> int:
    """argmax_a Q(s, a), ties broken at random (an untried state is a random walk, not a wall-hug)."""
    import numpy as np

    best = np.flatnonzero(q[s] == q[s].max())
    return int(best[0] if len(best) == 1 else rng.choice(best))
