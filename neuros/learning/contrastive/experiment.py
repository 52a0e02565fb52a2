"""The contrastive experiment: a linear probe on digits, three feature sets, same probe, same labels.

The encoder is pre-trained with InfoNCE on the train images alone (two augmented views each,
no labels); a logistic-regression probe is then fitted on the train features with the train
labels and scored on the test set. The baseline is that probe on the raw pixels; the same
encoder at its random init (never trained) is the second baseline, in `extra`."""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run"]


def run(quick: bool = True, seed: int = 0) -> Outcome:
    import torch

    from ..paradigmkit.torchstate import digits_flat
    from .config import ContrastiveConfig
    from .model import Encoder, LinearProbe, features, pretrain_epoch

    torch.set_num_threads(1)
    cfg = ContrastiveConfig(seed=seed)
    xtr, ytr, xte, yte = digits_flat()
    tx, tt = torch.as_tensor(xtr), torch.as_tensor(xte)
    enc, head = Encoder(64, cfg.hidden, cfg.features, seed)
    random_acc = LinearProbe(features(enc, tx), ytr, seed).accuracy(features(enc, tt), yte)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=cfg.lr)
    gen = torch.Generator().manual_seed(seed)
    epochs = 30 if quick else 120
    loss = 0.0
    for _ in range(epochs):
        loss = pretrain_epoch(enc, head, opt, tx, gen, cfg, image=(8, 8))
    figure = LinearProbe(features(enc, tx), ytr, seed).accuracy(features(enc, tt), yte)
    raw = LinearProbe(xtr, ytr, seed).accuracy(xte, yte)
    return Outcome(figure=figure, baseline=raw, unit="accuracy", margin=0.003,
                   extra={"random_encoder_probe_accuracy": random_acc, "final_infonce": loss, "epochs": float(epochs)},
                   note=f"InfoNCE (tau={cfg.tau}) on noise+shift+mask views, {epochs} epochs; probe on all train labels")
