"""The federated experiment: FedAvg over 5 non-IID clients on digits against one client alone.

Digits' train split is cut into 5 clients of two digit classes each (fedavg.non_iid_split). FedAvg
runs `rounds` rounds of `local_epochs` local SGD epochs per client, then the weighted average.
Baseline: the same net (same init) trained on client 0's data alone for as many epochs as a
client runs in all. Extra: centralised training (all the train data in one place, the same
epochs) and FedAvg's accuracy over it, the figure the issue asks as a ratio."""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run"]


def run(quick: bool = True, seed: int = 0) -> Outcome:
    import numpy as np
    import torch

    from ..paradigmkit.torchstate import digits_flat
    from .config import FederatedConfig
    from .fedavg import accuracy, federated_round, load_state, make_net, non_iid_split, state_of, train_epochs

    torch.set_num_threads(1)
    cfg = FederatedConfig(seed=seed)
    xtr, ytr, xte, yte = digits_flat()
    shape = (xtr.shape[1], cfg.hidden, 10)
    parts = non_iid_split(ytr, cfg.clients, cfg.classes_per_client, seed)
    shards = [(xtr[i], ytr[i]) for i in parts]
    rounds = 10 if quick else 100
    state = state_of(make_net(*shape, seed))
    for r in range(rounds):
        state, _ = federated_round(state, shards, shape, cfg, r)
    fed = accuracy(load_state(make_net(*shape, seed), state), xte, yte)
    epochs = rounds * cfg.local_epochs

    def alone(x: np.ndarray, y: np.ndarray) -> float:
        net = make_net(*shape, seed)
        train_epochs(net, torch.as_tensor(x), torch.as_tensor(y), epochs, cfg.lr, cfg.batch_size, seed)
        return accuracy(net, xte, yte)

    single = alone(*shards[0])
    central = alone(xtr, ytr)
    client_classes = float(len(np.unique(shards[0][1])))
    return Outcome(figure=fed, baseline=single, unit="test accuracy", margin=0.3,
                   extra={"centralised_accuracy": central, "fedavg_over_centralised": fed / central,
                          "rounds": float(rounds), "single_client_classes": client_classes},
                   note=f"{cfg.clients} clients x {cfg.classes_per_client} classes, {rounds} rounds of "
                        f"{cfg.local_epochs} local epochs (lr {cfg.lr}, batch {cfg.batch_size}); clients in-process")
