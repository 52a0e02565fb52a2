"""The weight field experiment: the RBF field against linear regression on a generated 1-D function.

Both see the same noisy training points (256; 1024 at full size) (data.py); the test set is 2048 clean points, so the
floor is 0. Figure: the field's test MSE after its epochs of the seed's rule; baseline: least
squares on [1, x] (lower is better). `extra`: the field's train MSE, and the same field's
weights solved in closed form (ridge on the features phi_j(x) r_x[k]), what the rule converges to."""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run"]


def run(quick: bool = True, seed: int = 0) -> Outcome:
    import numpy as np
    import torch

    from .config import WeightFieldConfig
    from .data import bumpy_line
    from .field import WeightField, field_epoch

    torch.set_num_threads(1)
    cfg = WeightFieldConfig(seed=seed)
    n, epochs = (256, 60) if quick else (1024, 150)
    xs, ys = bumpy_line(n, seed)
    xts, yts = bumpy_line(2048, seed + 100, noise=0.0)
    x, y, xt, yt = (torch.as_tensor(a) for a in (xs, ys, xts, yts))
    field = WeightField.spread_over(xs, cfg.centres, cfg.width, seed)
    gen = torch.Generator().manual_seed(seed)
    train_mse = 0.0
    for _ in range(epochs):
        train_mse = field_epoch(field, x, y, cfg, gen)
    with torch.no_grad():
        figure = float(((field.forward(xt) - yt) ** 2).mean())
        phi, r = field.features(x)
        design = (phi[:, :, None] * r[:, None, :]).reshape(len(x), -1).numpy()  # (N, J*D)
        pt, rt = field.features(xt)
        test_design = (pt[:, :, None] * rt[:, None, :]).reshape(len(xt), -1).numpy()
    ridge = np.linalg.solve(design.T @ design + 1e-3 * np.eye(design.shape[1]), design.T @ ys)
    closed = float(((test_design @ ridge - yts) ** 2).mean())
    lin = np.c_[np.ones(len(xs)), xs]
    coef = np.linalg.lstsq(lin, ys, rcond=None)[0]
    baseline = float(((np.c_[np.ones(len(xts)), xts] @ coef - yts) ** 2).mean())
    return Outcome(figure=figure, baseline=baseline, unit="test MSE", higher_is_better=False, margin=0.1,
                   extra={"field_train_mse": train_mse, "closed_form_field_mse": closed, "epochs": float(epochs)},
                   note=f"{n} points, {cfg.centres} RBF centres, width {cfg.width} spacings, eta {cfg.lr}, "
                        f"{epochs} epochs")
