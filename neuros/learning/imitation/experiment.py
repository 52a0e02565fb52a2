"""The imitation experiment: behaviour cloning of the breadth-first expert in generated grid
worlds; action accuracy on the expert's demonstrations in held-out maps, against always taking
the training demonstrations' majority action. In `extra`: the share of held-out maps the cloned
policy solves from its start, beside the majority action's."""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run"]


def run(quick: bool = True, seed: int = 0) -> Outcome:
    import numpy as np
    import torch

    from .demos import OBS_DIM, demonstrations, rollout_success
    from ..paradigmkit.classifier import accuracy
    from .model import Policy, clone_epoch

    torch.set_num_threads(1)
    n_train = 150 if quick else 600
    xtr, ytr, _ = demonstrations(range(n_train))
    xte, yte, worlds = demonstrations(range(100_000, 100_100))
    tx, ty, tt, tty = (torch.as_tensor(a) for a in (xtr, ytr, xte, yte))
    net = Policy(OBS_DIM, 128, 4, seed)
    opt, gen = torch.optim.Adam(net.parameters(), lr=1e-3), torch.Generator().manual_seed(seed)
    epochs = 15 if quick else 40
    for _ in range(epochs):
        clone_epoch(net, opt, tx, ty, 64, gen)
    majority = int(np.bincount(ytr, minlength=4).argmax())

    def cloned(obs):
        with torch.no_grad():
            return int(net(torch.as_tensor(obs)[None]).argmax())

    extra = {"cloned_success": rollout_success(worlds, cloned),
             "majority_success": rollout_success(worlds, lambda obs: majority),
             "train_demonstrations": float(len(ytr)), "train_accuracy": accuracy(net, tx, ty)}
    return Outcome(figure=accuracy(net, tt, tty), baseline=float((yte == majority).mean()), unit="accuracy",
                   margin=0.3, extra=extra, note=f"{n_train} training maps, 100 test maps, {epochs} epochs")
