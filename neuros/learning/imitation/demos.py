"""Demonstrations of the scripted expert: in each generated grid world, episodes from random
starts to a random goal along the breadth-first shortest path, recorded as (what the agent
sees, the expert's action). numpy only.

What the agent sees (`observe`): the 5x5 window of walls around it (off the grid counts as
wall; the centre left out: 24 values) and the goal's offset (dr, dc) / size."""

from __future__ import annotations

from typing import Any

__all__ = ["observe", "demonstrations", "rollout_success", "WINDOW", "OBS_DIM"]

WINDOW = 2  # cells seen each way
OBS_DIM = (2 * WINDOW + 1) ** 2 - 1 + 2


def observe(world: Any, pos: tuple[int, int]) -> Any:
    import numpy as np

    n, (r, c) = world.size, pos
    seen = []
    for dr in range(-WINDOW, WINDOW + 1):
        for dc in range(-WINDOW, WINDOW + 1):
            if dr == dc == 0:
                continue
            rr, cc = r + dr, c + dc
            seen.append(1.0 if not (0 <= rr < n and 0 <= cc < n) or world.walls[rr, cc] else 0.0)
    seen += [(world.goal[0] - r) / n, (world.goal[1] - c) / n]
    return np.asarray(seen, np.float32)


def _world(i: int, size: int, walls: float) -> Any:
    import numpy as np

    from ..reinforcement.gridworld import GridWorld

    rng = np.random.default_rng(10_000 + i)
    start, goal = (tuple(int(v) for v in rng.integers(size, size=2)) for _ in range(2))
    if start == goal:
        goal = (size - 1 - start[0], size - 1 - start[1]) if (size - 1 - start[0], size - 1 - start[1]) != start else (0, 0)
    return GridWorld(size=size, walls=walls, seed=i, start=start, goal=goal, horizon=4 * size * size)


def demonstrations(maps: range, size: int = 7, walls: float = 0.2, starts: int = 3) -> tuple[Any, Any, list]:
    """(observations (N, OBS_DIM), expert actions (N,), the worlds) from `starts` episodes on each map."""
    import numpy as np

    from ..reinforcement.gridworld import shortest_path_actions

    xs, ys, worlds = [], [], []
    for i in maps:
        world = _world(i, size, walls)
        worlds.append(world)
        best = shortest_path_actions(world)
        rng = np.random.default_rng(i)
        free = [(r, c) for r in range(size) for c in range(size) if best[r, c] >= 0]
        for k in range(starts):
            pos = world.start if k == 0 else free[int(rng.integers(len(free)))]
            while pos != world.goal:
                xs.append(observe(world, pos))
                ys.append(int(best[pos]))
                pos = world.moved(pos, int(best[pos]))
    return np.stack(xs), np.asarray(ys, np.int64), worlds


def rollout_success(worlds: list, act: Any) -> float:
    """The share of worlds where `act(observation) -> action`, from the start, reaches the goal
    within 2 n^2 steps."""
    done = 0
    for world in worlds:
        pos = world.start
        for _ in range(2 * world.size ** 2):
            if pos == world.goal:
                break
            pos = world.moved(pos, int(act(observe(world, pos))))
        done += pos == world.goal
    return done / max(len(worlds), 1)
