"""The echo experiment: the same net on a generated 2-D function (data.py), with and without
echo-modulated updates.

Both nets start from the same init and see the same minibatches (same generator seed) for the
same number of epochs at the same base rate; the figure is the echo net's test MSE, the baseline
the plain-SGD net's (lower is better). The echo also raises the effective step (its mean gain is
echo_strength * e, about echo_strength / (1 - echo_decay) * mean |a|), so `extra` holds plain SGD
at that matched rate too: the honest check of whether the per-weight shaping, not only the larger
step, helps."""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run"]


def run(quick: bool = True, seed: int = 0) -> Outcome:
    import torch

    from .config import EchoConfig
    from .data import wave2d
    from .model import EchoNet, echo_epoch, mean_echo_gain

    torch.set_num_threads(1)
    cfg = EchoConfig(seed=seed)
    x, y = (torch.as_tensor(a) for a in wave2d(512, seed))
    xt, yt = (torch.as_tensor(a) for a in wave2d(2048, seed + 100))
    epochs = 30 if quick else 100

    def trained(strength: float, lr: float) -> tuple[float, EchoNet]:
        net = EchoNet(x.shape[1], cfg.hidden, seed)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            echo_epoch(net, x, y, cfg, gen, strength=strength, lr=lr)
        with torch.no_grad():
            return float(((net.forward(xt) - yt) ** 2).mean()), net

    echo_mse, echo_net = trained(cfg.echo_strength, cfg.lr)
    gain = mean_echo_gain(echo_net, cfg.echo_strength)
    plain_mse, _ = trained(0.0, cfg.lr)
    matched_mse, _ = trained(0.0, cfg.lr * gain)
    return Outcome(figure=echo_mse, baseline=plain_mse, unit="test MSE", higher_is_better=False,
                   margin=0.02, extra={"no_echo_matched_lr_mse": matched_mse, "mean_echo_gain": gain,
                                       "epochs": float(epochs)},
                   note=f"{epochs} epochs of batch {cfg.batch_size}, lr {cfg.lr}, echo decay {cfg.echo_decay}, "
                        f"strength {cfg.echo_strength}")
