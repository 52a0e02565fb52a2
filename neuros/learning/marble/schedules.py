"""Schedulers and reinforcement learning (sections 4.13, 4.14).

    lr_{t+1}  = clip(lr_t * gamma, min_learning_rate, max_learning_rate)  every `steps` epochs
    eps_{t+1} = max(rl_min_epsilon, eps_t * rl_epsilon_decay)             every wander
    Q(s,a)   += alpha (r + gamma max_a' Q(s', a') - Q(s, a))
    G_t       = sum_k gamma^k r_{t+k+1}
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["scheduled_lr", "scheduled_epsilon", "adjusted_lr", "q_update", "discounted_returns"]


def scheduled_lr(cfg: Any, lr: float, epoch: int, total: int) -> float:
    """The learning rate for epoch `epoch` (0-based) after the one that used `lr`."""
    if cfg.lr_scheduler == "exponential" and epoch % cfg.scheduler_steps == 0:
        lr *= cfg.scheduler_gamma
    elif cfg.lr_scheduler == "cosine":
        lr = cfg.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(epoch, total) / max(total, 1)))
    return min(cfg.max_learning_rate, max(cfg.min_learning_rate, lr))


def adjusted_lr(cfg: Any, lr: float, loss: float, previous: float | None) -> float:
    """lr * (1 + f) when the loss fell, * (1 - f) when it rose (f: lr_adjustment_factor)."""
    if not cfg.lr_adjustment_factor or previous is None:
        return lr
    f = cfg.lr_adjustment_factor
    lr *= (1.0 + f) if loss < previous else (1.0 - f)
    return min(cfg.max_learning_rate, max(cfg.min_learning_rate, lr))


def scheduled_epsilon(cfg: Any, eps: float, epoch: int) -> float:
    """Epsilon after an epoch: the epsilon scheduler, analogous to the learning rate's."""
    if cfg.epsilon_scheduler == "exponential" and epoch % cfg.epsilon_scheduler_steps == 0:
        eps *= cfg.epsilon_scheduler_gamma
    return max(cfg.rl_min_epsilon, eps)


def q_update(core: Any, cfg: Any, synapses: list[int], reward: float, alpha: float) -> None:
    """Q-learning along a path: state = the synapse's source neuron, action = the synapse;
    only the last step is rewarded (r = -|error|), earlier ones bootstrap from the next state."""
    for k, s in enumerate(synapses):
        nxt = int(core.dst[s])
        last = k == len(synapses) - 1
        future = 0.0 if last or not core.out[nxt] else max(float(core.q[a]) for a in core.out[nxt])
        r = reward if last else 0.0
        core.q[s] += alpha * (r + cfg.rl_discount * future - core.q[s])


def discounted_returns(rewards: list[float], gamma: float) -> list[float]:
    """G_t = sum_k gamma^k r_{t+k+1} for every t of one episode."""
    out, g = [0.0] * len(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        g = rewards[t] + gamma * g
        out[t] = g
    return out
