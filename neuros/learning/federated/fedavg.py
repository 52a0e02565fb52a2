"""Federated averaging (the seed's 5.11): the client update, the server's average and the
non-IID split. Weights travel as plain numpy state dicts, so `client_update` is a pure function
of picklable arguments that a process pool (or a client neuro on another machine) can run as
well as this process; `federated_round` takes the `map` to run the clients with.

    w_{t+1} = sum_k (n_k / N) * w_k,   N = sum_k n_k,   w_k = client k's weights after local SGD
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["make_net", "state_of", "load_state", "client_update", "fed_average", "non_iid_split",
           "federated_round", "train_epochs", "accuracy"]


def make_net(n_in: int, hidden: int, classes: int, seed: int) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def state_of(net: Any) -> dict[str, Any]:
    """The net's weights as numpy arrays (on the CPU): what travels between server and clients."""
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def load_state(net: Any, state: dict[str, Any]) -> Any:
    import torch

    device = next(net.parameters()).device
    net.load_state_dict({k: torch.as_tensor(v, device=device) for k, v in state.items()})
    return net


def train_epochs(net: Any, x: Any, y: Any, epochs: int, lr: float, batch_size: int, seed: int) -> float:
    """`epochs` of minibatch SGD on cross-entropy; the last epoch's mean loss."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.SGD(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    loss_sum, batches = 0.0, 0
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen).to(x.device)
        loss_sum, batches = 0.0, 0
        for s in range(0, len(x), batch_size):
            idx = order[s:s + batch_size]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum, batches = loss_sum + float(loss.detach()), batches + 1
    return loss_sum / max(batches, 1)


def client_update(global_state: dict[str, Any], x: Any, y: Any, shape: tuple[int, int, int], epochs: int,
                  lr: float, batch_size: int, seed: int, device: str = "cpu") -> tuple[dict[str, Any], int, float]:
    """One client's round: load the global weights, `epochs` of local SGD on its (x, y) (numpy),
    return (its weights, its sample count n_k, its last loss). Pure: no state outside the arguments."""
    import torch

    net = load_state(make_net(*shape, seed).to(device), global_state)
    tx = torch.as_tensor(x, dtype=torch.float32, device=device)
    ty = torch.as_tensor(y, dtype=torch.int64, device=device)
    loss = train_epochs(net, tx, ty, epochs, lr, batch_size, seed)
    return state_of(net), len(x), loss


def fed_average(states: list[dict[str, Any]], counts: list[int]) -> dict[str, Any]:
    """sum_k (n_k / N) w_k, key by key."""
    if not states or len(states) != len(counts) or sum(counts) <= 0:
        raise ValueError(f"fed_average needs one positive sample count per client state, got {len(states)} states "
                         f"and counts {counts}")
    total = float(sum(counts))
    return {k: sum((n / total) * s[k] for s, n in zip(states, counts)).astype(states[0][k].dtype) for k in states[0]}


def non_iid_split(y: Any, clients: int, per_client: int, seed: int) -> list[Any]:
    """Index arrays, one per client: the data sorted by label, cut into clients * per_client
    shards, each client given `per_client` of them at random (McMahan et al.'s pathological split)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    order = np.argsort(np.asarray(y), kind="stable")
    shards = np.array_split(order, clients * per_client)
    picks = rng.permutation(len(shards))
    return [np.concatenate([shards[i] for i in picks[k * per_client:(k + 1) * per_client]]) for k in range(clients)]


def federated_round(global_state: dict[str, Any], shards: list[tuple[Any, Any]], shape: tuple[int, int, int],
                    cfg: Any, round_no: int, run: Callable[..., Any] = map) -> tuple[dict[str, Any], float]:
    """One FedAvg round over the clients' (x, y) shards; `run` maps client_update over them
    (the builtin map here; a process pool's map to run the clients apart). (new weights, mean loss)."""
    k = len(shards)
    results = list(run(client_update, [global_state] * k, [s[0] for s in shards], [s[1] for s in shards],
                       [shape] * k, [cfg.local_epochs] * k, [cfg.lr] * k, [cfg.batch_size] * k,
                       [cfg.seed + 1000 * round_no + i for i in range(k)], [str(cfg.device)] * k))
    states, counts, losses = zip(*results)
    return fed_average(list(states), list(counts)), sum(losses) / k


def accuracy(net: Any, x: Any, y: Any) -> float:
    import torch

    device = next(net.parameters()).device
    with torch.no_grad():
        pred = net(torch.as_tensor(x, dtype=torch.float32, device=device)).argmax(1).cpu().numpy()
    return float((pred == y).mean())
