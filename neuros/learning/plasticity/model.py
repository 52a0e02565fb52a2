"""`PlasticModel`: what the neuro serves, the genome with the cortex it runs in.

It holds theta (the `Genome`), the slow weights W0 (a buffer: fixed random from the seed,
never trained, never changed), the current memory (the fast weights of the lifetime that
`Step`s are storing into), the episodic buffer of the pairs stored (stage 4, which sleep
replays), and the outer loop's optimiser state (Adam over theta only; see metatrain.py).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import torch

from . import cortex
from .config import PlasticityConfig
from .genome import Genome
from .weights import FORMAT, VERSION, decode, encode

__all__ = ["PlasticModel"]


class PlasticModel:
    def __init__(self, cfg: PlasticityConfig, device: Any = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.genome = Genome(cfg.genome_hidden, cfg.eta, seed=cfg.seed, reflect_steps=cfg.reflect_steps).to(self.device)
        g = torch.Generator().manual_seed(cfg.seed + 1)
        w0 = torch.randn(cfg.dim, cfg.dim, generator=g) * cfg.w0_scale / math.sqrt(cfg.dim)  # (D, D)
        self.W0 = w0.to(self.device)  # slow weights: a plain tensor, outside every optimiser
        self.memory = self.W0.clone()  # (D, D): the fast weights the last stored pairs left
        self.buffer: deque[tuple[Any, Any]] = deque(maxlen=cfg.buffer_size)  # (cue, target) numpy +-1
        self.opt = torch.optim.Adam(self.genome.parameters(), lr=cfg.lr)
        self.meta_steps = 0
        self.losses: list[float] = []  # the meta-loss of every meta-step this instance ran (for curves)
        self.input_shape = (cfg.dim,)

    # ------------------------------------------------------------------ one lifetime, served

    def tensor(self, a: Any) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32, device=self.device)

    @torch.no_grad()
    def lifetimes(self, cues: Any, targets: Any) -> tuple[Any, Any]:
        """Fresh lifetimes from W0, one per episode: store every pair, recall every cue alone.
        -> (responses, drives) numpy (N, K, D). The memory served by Predict is not touched."""
        c, t = self.tensor(cues), self.tensor(targets)
        h, u = cortex.lifetime(self.genome, self.W0, c, t, self.cfg, drive=True)
        return h.cpu().numpy(), u.cpu().numpy()

    @torch.no_grad()
    def store(self, cues: Any, targets: Any) -> None:
        """Store pairs (K, D) into the served memory (a lifetime continued), buffering them."""
        W = cortex.store(self.genome, self.memory[None], self.tensor(cues)[None], self.tensor(targets)[None], self.cfg)
        self.memory = W[0]
        for c, t in zip(cues, targets):
            self.buffer.append((c.copy(), t.copy()))

    @torch.no_grad()
    def recall(self, cues: Any) -> Any:
        """The memory's answer to each cue (B, D) alone, read-only: responses numpy (B, D)."""
        W = self.memory.expand(len(cues), *self.memory.shape)
        return cortex.settle(W, self.tensor(cues), self.cfg.settle_steps).cpu().numpy()

    def forget(self) -> None:
        """Start a new lifetime: the memory back at W0, the buffer empty."""
        self.memory = self.W0.clone()
        self.buffer.clear()

    # ------------------------------------------------------------------ weights

    def tensors(self) -> dict[str, Any]:
        out = {f"genome.{k}": v.detach().cpu().numpy() for k, v in self.genome.state_dict().items()}
        out["W0"] = self.W0.cpu().numpy()
        out["memory"] = self.memory.cpu().numpy()
        return out

    def to_weights(self) -> Any:
        import numpy as np

        cues = [np.asarray(c) for c, _ in self.buffer]
        targets = [np.asarray(t) for _, t in self.buffer]
        return encode(self.cfg, self.tensors(), (cues, targets), self.meta_steps)

    @classmethod
    def from_weights(cls, weights: Any, device: Any = "cpu") -> "PlasticModel":
        import numpy as np

        cfg, tensors, (cues, targets), meta_steps = decode(weights)
        model = cls(cfg, device)
        shapes = {k: v.shape for k, v in model.genome.state_dict().items()}
        state = {}
        for key, value in tensors.items():
            name = key.removeprefix("genome.")
            if key.startswith("genome.") and name in shapes:
                if value.size != shapes[name].numel():
                    raise ValueError(f"learning.plasticity weights: {key} has {value.size} values, the genome of "
                                     f"this config needs {shapes[name].numel()}")
                state[name] = torch.from_numpy(value.copy()).reshape(shapes[name])
        model.genome.load_state_dict(state)  # strict: a missing tensor is named
        model.W0 = torch.from_numpy(tensors["W0"].copy()).to(model.device)
        model.memory = torch.from_numpy(tensors["memory"].copy()).to(model.device)
        for c, t in zip(cues, targets):
            model.buffer.append((np.asarray(c, np.float32), np.asarray(t, np.float32)))
        model.meta_steps = meta_steps
        return model

    format, version = FORMAT, VERSION
