"""A generated grid world (discrete control), shared by reinforcement and imitation. numpy only.

An n x n grid, a share of its cells walls (drawn from the seed, redrawn until the goal can be
reached), the agent starting at the top-left and the goal at the bottom-right. Actions: 0 up,
1 right, 2 down, 3 left; a move into a wall or off the grid stays put. Each step costs
`step_cost`; reaching the goal pays 1 and ends the episode; `horizon` steps end it anyway.
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["GridWorld", "MOVES", "shortest_path_actions"]

MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))


class GridWorld:
    def __init__(self, size: int = 6, walls: float = 0.2, seed: int = 0, horizon: int = 50,
                 step_cost: float = 0.05, start: tuple[int, int] = (0, 0), goal: tuple[int, int] | None = None) -> None:
        import numpy as np

        self.size, self.horizon, self.step_cost = size, horizon, step_cost
        self.start, self.goal = start, goal or (size - 1, size - 1)
        rng = np.random.default_rng(seed)
        for _ in range(1000):
            self.walls = rng.random((size, size)) < walls
            self.walls[self.start] = self.walls[self.goal] = False
            if shortest_path_actions(self)[self.start] >= 0:
                break
        else:
            raise ValueError(f"no {size}x{size} grid with {walls:.0%} walls and a path to the goal; use fewer walls")
        self.n_states, self.n_actions = size * size, 4
        self.pos = self.start
        self.t = 0

    def state(self, pos: tuple[int, int] | None = None) -> int:
        r, c = pos or self.pos
        return r * self.size + c

    def reset(self) -> int:
        self.pos, self.t = self.start, 0
        return self.state()

    def moved(self, pos: tuple[int, int], action: int) -> tuple[int, int]:
        r, c = pos[0] + MOVES[action][0], pos[1] + MOVES[action][1]
        if not (0 <= r < self.size and 0 <= c < self.size) or self.walls[r, c]:
            return pos
        return r, c

    def step(self, action: int) -> tuple[int, float, bool]:
        """(next state, reward, done)."""
        self.pos, self.t = self.moved(self.pos, int(action)), self.t + 1
        if self.pos == self.goal:
            return self.state(), 1.0, True
        return self.state(), -self.step_cost, self.t >= self.horizon

    def episode_return(self, policy: Any, rng: Any) -> float:
        """The undiscounted return of one episode where `policy(state, rng)` picks each action."""
        s, total, done = self.reset(), 0.0, False
        while not done:
            s, r, done = self.step(policy(s, rng))
            total += r
        return total


def shortest_path_actions(world: GridWorld) -> Any:
    """An (n, n) array: at each free cell an action on a shortest path to the goal (-1 where
    the goal cannot be reached, and at the goal), by breadth-first search back from the goal."""
    import numpy as np

    n = world.size
    best = np.full((n, n), -1, np.int64)
    seen = np.zeros((n, n), bool)
    seen[world.goal] = True
    queue = deque([world.goal])
    while queue:
        pos = queue.popleft()
        for a, (dr, dc) in enumerate(MOVES):
            prev = (pos[0] - dr, pos[1] - dc)  # a cell from which action a leads to pos
            if 0 <= prev[0] < n and 0 <= prev[1] < n and not seen[prev] and not world.walls[prev]:
                seen[prev] = True
                best[prev] = a
                queue.append(prev)
    return best
