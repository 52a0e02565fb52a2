"""The autoencoder experiment: test reconstruction MSE on digits through a code of 8 numbers.

The plain, denoising (sigma 0.3 decaying by 0.97 an epoch) and variational (beta 0.1)
autoencoders train on the train images for the same epochs; each reconstructs the test images
(the variational one through its mean code). The baseline is PCA with the same 8 components,
the best linear code. The figure is the plain autoencoder's MSE: the one trained for exactly
this measure (the denoising one ends close to it as its sigma decays; the variational one pays
for its smooth code with its KL term); all three are in `extra`."""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run", "CODE"]

CODE = 8


def run(quick: bool = True, seed: int = 0) -> Outcome:
    import numpy as np
    import torch
    from sklearn.decomposition import PCA

    from ..paradigmkit.torchstate import digits_flat
    from .config import AutoencoderConfig
    from .model import AutoEncoder, mse, train_epoch

    torch.set_num_threads(1)
    xtr, _, xte, _ = digits_flat()
    tx, tt = torch.as_tensor(xtr), torch.as_tensor(xte)
    epochs = 10 if quick else 150
    extra: dict[str, float] = {}
    for kind in ("plain", "denoising", "variational"):
        cfg = AutoencoderConfig(kind=kind, code=CODE, seed=seed)
        ae = AutoEncoder(64, cfg)
        opt, gen = torch.optim.Adam(ae.parameters(), lr=cfg.lr), torch.Generator().manual_seed(seed)
        for epoch in range(epochs):
            train_epoch(ae, opt, tx, cfg, epoch, gen)
        extra[f"{kind}_mse"] = mse(ae, tt)
    pca = PCA(CODE, random_state=seed).fit(xtr)
    pca_mse = float(np.mean((pca.inverse_transform(pca.transform(xte)) - xte) ** 2))
    return Outcome(figure=extra["plain_mse"], baseline=pca_mse, unit="MSE per pixel", higher_is_better=False,
                   margin=0.003, extra=extra, note=f"code size {CODE}, {epochs} epochs; figure = plain autoencoder")
