"""The echo net and its update (the seed's 5.9). torch inside.

For each linear layer, the echo is a decaying trace of the activity on its inputs (the bias's
input is the constant 1), one value per input unit, so every weight w_ij has the echo e_j of the
unit j that feeds it:

    e_{t+1} = echo_decay * e_t + mean_batch |a_t|          (N, in) -> (in,)
    dw_ij   = -lr * echo_strength * e_{t+1, j} * g_ij       g = dL/dw, L the batch MSE

The trace is updated with this batch's activity before it scales the step, so the first step
moves too (with e_0 = 0 it would not). With echo_strength = 0 the net is trained by plain SGD.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EchoNet", "echo_step", "echo_epoch", "mean_echo_gain"]


class EchoNet:
    """n_in -> hidden (tanh) -> 1, with one echo per layer input (and per bias)."""

    def __init__(self, n_in: int, hidden: int, seed: int, device: Any = "cpu") -> None:
        import torch
        from torch import nn

        torch.manual_seed(seed)
        self.n_in, self.device = n_in, device
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, 1)).to(device)
        self.layers = [m for m in self.net if isinstance(m, nn.Linear)]
        # w<i>: layer i's input units' echoes (in,); b: each layer's bias echo
        self.echo = {f"w{i}": torch.zeros(m.in_features, device=device) for i, m in enumerate(self.layers)}
        self.echo["b"] = torch.zeros(len(self.layers), device=device)

    def modules(self) -> dict[str, Any]:
        return {"net": self.net, "echo": self.echo}

    def forward(self, x: Any) -> Any:
        return self.net(x)[:, 0]  # (N,)

    def inputs_of_layers(self, x: Any) -> tuple[Any, list[Any]]:
        """(prediction (N,), each linear layer's input (N, in))."""
        seen = []
        h = x
        for m in self.net:
            if m in self.layers:
                seen.append(h)
            h = m(h)
        return h[:, 0], seen


def echo_step(model: EchoNet, x: Any, y: Any, lr: float, decay: float, strength: float) -> float:
    """One minibatch step: echo-scaled when strength > 0, plain SGD (dw = -lr g) when 0."""
    import torch

    pred, inputs = model.inputs_of_layers(x)
    loss = ((pred - y) ** 2).mean()
    grads = torch.autograd.grad(loss, [p for m in model.layers for p in (m.weight, m.bias)])
    with torch.no_grad():
        for i, m in enumerate(model.layers):
            gw, gb = grads[2 * i], grads[2 * i + 1]
            if strength > 0:
                e = model.echo[f"w{i}"].mul_(decay).add_(inputs[i].detach().abs().mean(0))  # (in,)
                eb = model.echo["b"][i].mul_(decay).add_(1.0)
                gw, gb = strength * gw * e[None, :], strength * gb * eb
            m.weight.sub_(lr * gw)
            m.bias.sub_(lr * gb)
    return float(loss.detach())


def echo_epoch(model: EchoNet, x: Any, y: Any, cfg: Any, gen: Any, strength: float | None = None,
               lr: float | None = None) -> float:
    """One pass over (x, y) in random minibatches; the mean batch loss. `strength` and `lr`
    default to the config's (the experiment's baselines pass 0 and a matched rate)."""
    import torch

    strength = cfg.echo_strength if strength is None else strength
    lr = cfg.lr if lr is None else lr
    order = torch.randperm(len(x), generator=gen).to(x.device)
    total, batches = 0.0, 0
    for start in range(0, len(x), cfg.batch_size):
        idx = order[start:start + cfg.batch_size]
        total += echo_step(model, x[idx], y[idx], lr, cfg.echo_decay, strength)
        batches += 1
    return total / max(batches, 1)


def mean_echo_gain(model: EchoNet, strength: float) -> float:
    """The mean of echo_strength * e over every weight: the rate multiplier the echo gave."""
    import torch

    gains = [strength * model.echo[f"w{i}"].mean() for i in range(len(model.layers))]
    gains.append(strength * model.echo["b"].mean())
    return float(torch.stack(gains).mean())
