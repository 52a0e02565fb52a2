"""Policy gradient with a baseline (seed 5.4) on the grid world: a softmax policy over a table
of logits and a learnt state value b(s) as the baseline. torch inside.

    G_t = sum_k gamma^k r_{t+k+1}
    grad J = E[ grad log pi(a_t|s_t) (G_t - b(s_t)) ],   b(s) fitted to G_t by least squares
"""

from __future__ import annotations

from typing import Any

__all__ = ["discounted_returns", "PolicyGradient"]


def discounted_returns(rewards: list[float], gamma: float) -> list[float]:
    out, g = [], 0.0
    for r in reversed(rewards):
        g = r + gamma * g
        out.append(g)
    return out[::-1]


class PolicyGradient:
    def __init__(self, n_states: int, n_actions: int, *, lr: float = 0.1, gamma: float = 0.95, seed: int = 0,
                 device: Any = "cpu") -> None:
        import torch

        self.gamma, self.device = gamma, device
        self.logits = torch.zeros(n_states, n_actions, device=device, requires_grad=True)  # (S, A)
        self.value = torch.zeros(n_states, device=device, requires_grad=True)  # (S,) the baseline b(s)
        self.opt = torch.optim.Adam([self.logits, self.value], lr=lr)
        self.gen = torch.Generator().manual_seed(seed)

    def act(self, s: int, rng: Any = None) -> int:
        import torch

        with torch.no_grad():
            p = torch.softmax(self.logits[s], -1).cpu()
        return int(torch.multinomial(p, 1, generator=self.gen))

    def greedy(self, s: int, rng: Any = None) -> int:
        return int(self.logits[s].argmax())

    def episode(self, world: Any) -> float:
        """Run one episode with the policy, then one update; the episode's return."""
        import torch

        states, actions, rewards = [], [], []
        s, done = world.reset(), False
        while not done:
            a = self.act(s)
            s2, r, done = world.step(a)
            states.append(s), actions.append(a), rewards.append(r)
            s = s2
        g = torch.tensor(discounted_returns(rewards, self.gamma), device=self.device)  # (T,)
        st, at = torch.tensor(states, device=self.device), torch.tensor(actions, device=self.device)
        logp = torch.log_softmax(self.logits[st], -1).gather(1, at[:, None])[:, 0]  # (T,)
        b = self.value[st]
        loss = -(logp * (g - b.detach())).sum() + 0.5 * ((g - b) ** 2).sum()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return float(sum(rewards))
