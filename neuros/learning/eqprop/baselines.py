"""The baselines EP is held against, trained by backprop. Autograd is allowed here (and in
`measure.py`), never on the training path: nothing in train.py, model.py or neuro.py imports it.

- `BPTTLearner`: the *same* energy-based net (same weights, dynamics, optimiser and budget of
  relaxation steps) whose update is the exact gradient of the cost at the end of the free
  phase, by backprop through every relaxation step. EP approximates this gradient with two
  more relaxations and no graph, so EP / BPTT says what the estimator costs, and BPTT / MLP
  says what the model costs.
- `ConvBPTTLearner`: the same for the convolutional net of `conv.py`.
- `train_mlp`: a feedforward ReLU net of the same widths, cross-entropy and Adam: the usual
  way. The bench trains it with the MNIST-1D paper's recipe (Greydanus 2020: Adam at 1e-2,
  batches of 100, 6,000 steps), which reproduces the paper's 68% for its MLP.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .conv import ConvLearner, conv_step
from .model import EqPropNet, cost
from .train import Learner

__all__ = ["BPTTLearner", "ConvBPTTLearner", "bptt_direction", "MLP", "train_mlp", "mlp_scores", "CNN", "train_cnn"]


def bptt_direction(net: EqPropNet, x: torch.Tensor, y: torch.Tensor, steps: int, schedule: str | None = None):
    """-dC/dW_k and -dC/db_k by autograd through `steps` relaxation steps from s = 0.

    x: (B, n_0); y: (B, n_out) one-hot. Feedback weights: W_k^T of the differentiated W_k
    (tied, as in the net), or the net's own B_k (held fixed) for the feedback variants. The
    dynamics are the net's own (`schedule`, default the net's config). Returns (dW, db,
    residual, output) with residual the largest unit change in the last step.
    """
    from .model import cost, step

    schedule = schedule or net.cfg.schedule
    W = [w.detach().clone().requires_grad_(True) for w in net.W]
    b = [v.detach().clone().requires_grad_(True) for v in net.b]
    bwd = [None] + [W[k].T if net.B[k] is None else net.B[k].detach() for k in range(1, len(W))]
    with torch.enable_grad():
        s = net.zeros(x.shape[0])
        prev = s
        for _ in range(steps):
            prev, s = s, step(W, bwd, b, x, s, schedule=schedule, linear_output=net.cfg.output == "linear",
                              readout=net.cfg.output == "readout")
        loss = cost(s[-1], y, net.cfg.output == "readout")
        grads = torch.autograd.grad(loss, [*W, *b], allow_unused=True)  # too few steps: W_0 unused
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, [*W, *b])]
    residual = max(float((a - c).detach().abs().max()) for a, c in zip(s, prev))
    n = len(W)
    return [-g.detach() for g in grads[:n]], [-g.detach() for g in grads[n:]], residual, s[-1].detach()


class BPTTLearner(Learner):
    """The same net and optimiser as `Learner`, updated by BPTT through `free_steps` steps."""

    @torch.no_grad()
    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        net, cfg = self.net, self.cfg
        target = torch.nn.functional.one_hot(y, net.sizes[-1]).to(x.dtype)  # (B, n_out)
        dW, db, residual, o = bptt_direction(net, x, target, cfg.free_steps)
        before = [w.clone() for w in net.W]
        self.opt.step([*net.W, *net.b], [*dW, *db])
        net.refresh()
        if cfg.lipschitz is not None:
            net.constrain()
        B = x.shape[0]
        flops = 3 * cfg.free_steps * net.flops_per_step(B)  # forward, and backward at ~2x
        return {
            "loss": float(cost(o, target, cfg.output == "readout")),
            "correct": int((o.argmax(1) == y).sum()),
            "flops": flops,
            "free_steps": cfg.free_steps,
            "unsettled": int(residual > cfg.tol) * B,
            "braked": 0,
            "boosted": 0,
            "update_norms": [float((w - w0).norm()) for w, w0 in zip(net.W, before)],
        }


class ConvBPTTLearner(ConvLearner):
    """The conv net of `conv.py`, updated by BPTT through `free_steps` alternating steps."""

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        net = self.net
        target = torch.nn.functional.one_hot(y, self.classes).to(x.dtype)
        W = [w.detach().clone().requires_grad_(True) for w in net.W]
        b = [v.detach().clone().requires_grad_(True) for v in net.b]
        with torch.enable_grad():
            s = net.zeros(x.shape[0])
            for _ in range(self.cfg.free_steps):
                s = conv_step(net, W, b, x, s)
            loss = 0.5 * (s[-1] - target).square().sum(1).mean()
            grads = torch.autograd.grad(loss, [*W, *b])
        with torch.no_grad():
            self.opt.step([*net.W, *net.b], [-g for g in grads])
        return {"correct": int((s[-1].detach().argmax(1) == y).sum()), "free_steps": self.cfg.free_steps}


# ----------------------------------------------------------------------------- the MLP


class MLP(torch.nn.Module):
    """Feedforward net of the given widths: ReLU hidden layers, logits out."""

    def __init__(self, sizes: list[int], seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor, kill: list[torch.Tensor] | None = None) -> torch.Tensor:
        h = x  # (B, n_0)
        for k, layer in enumerate(self.layers[:-1]):
            h = torch.relu(layer(h))  # (B, n_{k+1})
            if kill is not None:
                h = h * kill[k]
        return self.layers[-1](h)  # (B, n_out)


def train_mlp(sizes: list[int], x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int,
              lr: float = 1e-3, seed: int = 0, device: str = "cpu") -> MLP:
    """Backprop with Adam and cross-entropy, shuffled batches, `epochs` passes."""
    model = MLP(sizes, seed).to(device)
    X = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1)
    return _fit(model, X, y, epochs, batch_size, lr, seed, device)


def _fit(model: torch.nn.Module, X: torch.Tensor, y: np.ndarray, epochs: int, batch_size: int, lr: float,
         seed: int, device: str) -> Any:
    """Backprop with Adam and cross-entropy over shuffled batches (seeded), `epochs` passes."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    X = X.to(device)
    Y = torch.as_tensor(y, dtype=torch.long).to(device)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=g).to(device)
        for i in range(0, len(X), batch_size):
            idx = perm[i:i + batch_size]
            loss = torch.nn.functional.cross_entropy(model(X[idx]), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


@torch.no_grad()
def mlp_scores(model: MLP, x: np.ndarray, kill: list[torch.Tensor] | None = None) -> np.ndarray:
    dev = next(model.parameters()).device
    X = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1).to(dev)
    return model(X, kill).softmax(1).cpu().numpy()


class CNN(torch.nn.Module):
    """The conv net's layers as an ordinary feedforward CNN: ReLU, logits out."""

    def __init__(self, input_shape: tuple[int, int, int], classes: int, specs, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        convs, c, hw = [], input_shape[0], input_shape[1:]
        for sp in specs:
            convs.append(torch.nn.Conv2d(c, sp.channels, sp.kernel, sp.stride, sp.padding))
            c = sp.channels
            hw = tuple((n + 2 * sp.padding - sp.kernel) // sp.stride + 1 for n in hw)
        self.convs = torch.nn.ModuleList(convs)
        self.out = torch.nn.Linear(c * hw[0] * hw[1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = torch.relu(conv(x))  # (B, C, H, W)
        return self.out(x.flatten(1))


def train_cnn(input_shape, classes: int, specs, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int,
              lr: float = 1e-3, seed: int = 0, device: str = "cpu") -> CNN:
    """Backprop with Adam and cross-entropy, shuffled batches, `epochs` passes."""
    model = CNN(tuple(input_shape), classes, specs, seed).to(device)
    X = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), *input_shape)
    return _fit(model, X, y, epochs, batch_size, lr, seed, device)


@torch.no_grad()
def cnn_accuracy(model: CNN, x: np.ndarray, y: np.ndarray, input_shape) -> float:
    dev = next(model.parameters()).device
    X = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), *input_shape).to(dev)
    return float((model(X).argmax(1).cpu().numpy() == np.asarray(y)).mean())
