"""Soft actor-critic (seed 5.4) for continuous actions in [-1, 1]^d, torch inside.

    critic: L_Q = || Q_phi_i(s,a) - (r + gamma (min_i Q_phibar_i(s',a') - alpha log pi(a'|s'))) ||^2,  a' ~ pi(.|s')
    actor:  L_pi = E_s[ alpha log pi(a~|s) - min_i Q_phi_i(s, a~) ],  a~ = tanh(mu + sigma eps) (reparameterised)

with two critics, Polyak-averaged targets phibar <- (1 - tau) phibar + tau phi, a replay buffer,
and the tanh squashing's log-det correction in log pi. Episodes that end by the time limit
are not terminal, so the target always bootstraps.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SAC", "critic_target", "actor_loss"]


def critic_target(r: Any, q1_next: Any, q2_next: Any, logp_next: Any, gamma: float, alpha: float) -> Any:
    import torch

    return r + gamma * (torch.minimum(q1_next, q2_next) - alpha * logp_next)


def actor_loss(logp: Any, q1: Any, q2: Any, alpha: float) -> Any:
    import torch

    return (alpha * logp - torch.minimum(q1, q2)).mean()


class SAC:
    def __init__(self, obs_dim: int, act_dim: int, *, hidden: int = 64, lr: float = 3e-3, gamma: float = 0.95,
                 alpha: float = 0.05, tau: float = 0.02, buffer: int = 20000, batch: int = 128, seed: int = 0,
                 device: Any = "cpu") -> None:
        import copy

        import torch
        from torch import nn

        torch.manual_seed(seed)
        mlp = lambda i, o: nn.Sequential(nn.Linear(i, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),  # noqa: E731
                                         nn.Linear(hidden, o)).to(device)
        self.actor = mlp(obs_dim, 2 * act_dim)  # mean and log std of the pre-tanh Gaussian
        self.q1, self.q2 = mlp(obs_dim + act_dim, 1), mlp(obs_dim + act_dim, 1)
        self.q1_target, self.q2_target = copy.deepcopy(self.q1), copy.deepcopy(self.q2)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.critic_opt = torch.optim.Adam([*self.q1.parameters(), *self.q2.parameters()], lr=lr)
        self.gamma, self.alpha, self.tau, self.batch, self.act_dim, self.device = gamma, alpha, tau, batch, act_dim, device
        self.buf = torch.zeros(buffer, 2 * obs_dim + act_dim + 1)  # rows: s, a, r, s'
        self.size, self.next, self.obs_dim = 0, 0, obs_dim
        self.gen = torch.Generator().manual_seed(seed)

    def sample(self, obs: Any) -> tuple[Any, Any]:
        """(a in [-1, 1]^d, log pi(a|s)) for obs (B, obs_dim), reparameterised."""
        import math

        import torch
        import torch.nn.functional as F

        mu, log_std = self.actor(obs).chunk(2, -1)
        log_std = log_std.clamp(-5, 2)
        eps = torch.randn(mu.shape, generator=self.gen).to(mu.device)
        u = mu + log_std.exp() * eps
        a = torch.tanh(u)
        logp = (-0.5 * eps ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)  # log |d tanh(u)/du|
        return a, logp

    def act(self, obs: Any, greedy: bool = False) -> Any:
        import torch

        with torch.no_grad():
            o = torch.as_tensor(obs, dtype=torch.float32, device=self.device)[None]
            a = torch.tanh(self.actor(o).chunk(2, -1)[0]) if greedy else self.sample(o)[0]
        return a[0].cpu().numpy()

    def remember(self, s: Any, a: Any, r: float, s2: Any) -> None:
        import torch

        self.buf[self.next] = torch.as_tensor([*s, *a, r, *s2], dtype=torch.float32)
        self.next = (self.next + 1) % len(self.buf)
        self.size = min(self.size + 1, len(self.buf))

    def update(self) -> dict[str, float]:
        import torch

        rows = self.buf[torch.randint(self.size, (self.batch,), generator=self.gen)].to(self.device)
        d, k = self.obs_dim, self.act_dim
        s, a, r, s2 = rows[:, :d], rows[:, d:d + k], rows[:, d + k], rows[:, d + k + 1:]
        with torch.no_grad():
            a2, logp2 = self.sample(s2)
            sa2 = torch.cat([s2, a2], -1)
            y = critic_target(r, self.q1_target(sa2)[:, 0], self.q2_target(sa2)[:, 0], logp2, self.gamma, self.alpha)
        sa = torch.cat([s, a], -1)
        critic = ((self.q1(sa)[:, 0] - y) ** 2).mean() + ((self.q2(sa)[:, 0] - y) ** 2).mean()
        self.critic_opt.zero_grad()
        critic.backward()
        self.critic_opt.step()
        a_new, logp = self.sample(s)
        sa_new = torch.cat([s, a_new], -1)
        actor = actor_loss(logp, self.q1(sa_new)[:, 0], self.q2(sa_new)[:, 0], self.alpha)
        self.actor_opt.zero_grad()
        actor.backward()
        self.actor_opt.step()
        with torch.no_grad():
            for net, target in ((self.q1, self.q1_target), (self.q2, self.q2_target)):
                for p, pt in zip(net.parameters(), target.parameters()):
                    pt.mul_(1 - self.tau).add_(self.tau * p)
        return {"critic_loss": critic.item(), "actor_loss": actor.item()}

    def train(self, env: Any, steps: int, warmup: int = 200, rng: Any = None) -> None:
        """`steps` environment steps (uniform random actions for the first `warmup`), one update each after."""
        import numpy as np

        rng = rng or np.random.default_rng(0)
        o = env.reset()
        for t in range(steps):
            a = rng.uniform(-1, 1, self.act_dim) if t < warmup else self.act(o)
            o2, r, done = env.step(a)
            self.remember(o, a, r, o2)
            o = env.reset() if done else o2
            if t >= warmup:
                self.update()
