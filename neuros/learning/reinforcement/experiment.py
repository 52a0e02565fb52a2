"""The reinforcement experiment: mean return against a random policy, three learners, two tasks.

The figure is tabular Q-learning's greedy return on a generated 8x8 grid world (20% walls; +1 at
the goal, -0.05 a step, 50 steps at most), against the uniformly random policy's mean return on
the same world. In `extra`: policy gradient with a learnt baseline on the same world (its
sampled policy's mean return), and soft actor-critic on the generated point-mass task
(deterministic policy, mean over evaluation episodes from fresh starts) beside the random
policy there. One Outcome, so the grid world's Q-learning is the figure."""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run", "GRID"]

GRID = dict(size=8, walls=0.2, horizon=50)


def run(quick: bool = True, seed: int = 0) -> Outcome:
    import numpy as np
    import torch

    from .gridworld import GridWorld
    from .pointmass import PointMass
    from .policy_gradient import PolicyGradient
    from .sac import SAC
    from .tabular import greedy, q_learning

    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    world = GridWorld(seed=seed, **GRID)
    random_grid = float(np.mean([world.episode_return(lambda s, r: int(r.integers(4)), rng) for _ in range(200)]))
    q, _ = q_learning(world, 300 if quick else 1000, seed=seed)
    q_return = float(np.mean([world.episode_return(lambda s, r: greedy(q, s, r), rng) for _ in range(20)]))
    pg = PolicyGradient(world.n_states, world.n_actions, seed=seed)
    for _ in range(200 if quick else 1500):
        pg.episode(world)
    pg_return = float(np.mean([world.episode_return(pg.act, rng) for _ in range(50)]))
    train_env, test_env = PointMass(seed=seed), PointMass(seed=seed + 1)
    sac = SAC(PointMass.obs_dim, PointMass.act_dim, seed=seed)
    sac.train(train_env, 700 if quick else 5000, warmup=200, rng=rng)
    sac_return = float(np.mean([test_env.episode_return(lambda o: sac.act(o, greedy=True)) for _ in range(20)]))
    random_pm = float(np.mean([test_env.episode_return(lambda o: rng.uniform(-1, 1, 2)) for _ in range(20)]))
    extra = {"policy_gradient_return": pg_return, "grid_random_return": random_grid,
             "sac_pointmass_return": sac_return, "pointmass_random_return": random_pm,
             "grid_optimal_return": 1.0 - world.step_cost * (_shortest(world) - 1)}
    return Outcome(figure=q_return, baseline=random_grid, unit="mean return", margin=1.0, extra=extra,
                   note="grid world Q-learning is the figure; policy gradient and SAC (point mass) in extra")


def _shortest(world) -> int:
    """Steps on a shortest path from the start to the goal."""
    from .gridworld import shortest_path_actions

    best, pos, steps = shortest_path_actions(world), world.start, 0
    while pos != world.goal:
        pos, steps = world.moved(pos, int(best[pos])), steps + 1
    return steps
