"""Training the decoder on our autograd (seed 5.14): cross-entropy plus optional distillation,
gradient clipping, and the update p -= lr * grad (or Adam). numpy (or torch arrays on a GPU).

    L = CE(logits, target) + distill_alpha * KL(softmax(logits) || teacher)
    scale = max_grad_norm / (norm + 1e-6), applied when below 1;   p -= lr * grad
"""

from __future__ import annotations

import math
from typing import Any

from .backend import backend
from .config import GPTConfig
from .model import causal_bias, cross_entropy, forward, init_params, kl_divergence, log_softmax, one_hot, positions
from .tensor import Tensor, parameter

__all__ = ["GPT", "clip_gradients", "windows"]


def clip_gradients(grads: list[Any], max_norm: float) -> float:
    """Scale `grads` in place by max_norm / (norm + 1e-6) when the global norm exceeds max_norm;
    returns the norm before clipping."""
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    scale = max_norm / (norm + 1e-6)
    if scale < 1.0:
        for g in grads:
            g *= scale
    return norm


def windows(ids: Any, context: int, count: int, rng: Any) -> tuple[Any, Any]:
    """`count` random windows of `context` ids and their next ids: (x, y) of (count, context)."""
    import numpy as np

    starts = rng.integers(0, len(ids) - context - 1, size=count)
    x = np.stack([ids[s:s + context] for s in starts])
    return x, np.stack([ids[s + 1:s + context + 1] for s in starts])


class GPT:
    """A decoder, its parameters as our Tensors, and its optimiser state."""

    def __init__(self, cfg: GPTConfig, vocab: int, device: str = "cpu") -> None:
        import numpy as np

        self.cfg, self.vocab = cfg, vocab
        self.ops = backend(device)
        self.params = {k: parameter(v, self.ops) for k, v in init_params(vocab, cfg.context, cfg.d_model, cfg.layers,
                                                                            cfg.seed).items()}
        self.moments: dict[str, tuple[Any, Any]] = {}
        self.steps = 0
        self.rng = np.random.default_rng(cfg.seed)

    def logits(self, ids: Any) -> Tensor:
        """Logits (B, T, V) of ids (B, T)."""
        ids = _ids(ids, self.vocab)
        t = ids.shape[1]
        return forward(self.params, self.ops.asarray(one_hot(ids, self.vocab)),
                       self.ops.asarray(positions(t, self.cfg.context)), self.ops.asarray(causal_bias(t)),
                       self.cfg.layers, self.cfg.heads)

    def loss(self, x: Any, y: Any, teacher_log_probs: Any = None) -> Tensor:
        lg = self.logits(x)
        loss = cross_entropy(lg, self.ops.asarray(one_hot(_ids(y, self.vocab), self.vocab)))
        if teacher_log_probs is not None and self.cfg.distill_alpha > 0:
            loss = loss + self.cfg.distill_alpha * kl_divergence(lg, self.ops.asarray(teacher_log_probs))
        return loss

    def log_probs(self, x: Any) -> Any:
        """Log-probabilities (B, T, V) of the next id at every position, as an array (no graph)."""
        return log_softmax(self.logits(x)).data

    def train_step(self, x: Any, y: Any, teacher: "GPT | None" = None) -> dict[str, float]:
        """One step on (x, y) (B, T): the loss, clipped gradients, the update."""
        prev = teacher.log_probs(x) if teacher is not None else None
        loss = self.loss(x, y, prev)
        for p in self.params.values():
            p.grad = None
        loss.backward()
        grads = [p.grad for p in self.params.values()]
        norm = clip_gradients(grads, self.cfg.max_grad_norm)
        self._update()
        self.steps += 1
        return {"loss": float(loss.data), "grad_norm": norm}

    def _update(self) -> None:
        lr = self.cfg.lr
        if self.cfg.optimizer == "sgd":
            for p in self.params.values():
                p.data -= lr * p.grad
            return
        b1, b2, t = 0.9, 0.999, self.steps + 1
        for name, p in self.params.items():
            m, v = self.moments.get(name, (0 * p.data, 0 * p.data))
            m = b1 * m + (1 - b1) * p.grad
            v = b2 * v + (1 - b2) * p.grad * p.grad
            self.moments[name] = (m, v)
            p.data -= lr * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)) ** 0.5 + 1e-8)

    def fit(self, ids: Any, steps: int, teacher: "GPT | None" = None) -> dict[str, float]:
        """`steps` steps on random windows of the id stream `ids`; the last step's figures."""
        last: dict[str, float] = {}
        for _ in range(steps):
            last = self.train_step(*windows(ids, self.cfg.context, self.cfg.batch_size, self.rng), teacher)
        return last

    def cross_entropy(self, ids: Any) -> float:
        """Mean cross-entropy per character (nats) over the non-overlapping windows of `ids`."""
        import numpy as np

        t = self.cfg.context
        n = (len(ids) - 1) // t
        x = np.asarray(ids[:n * t]).reshape(n, t)
        y = np.asarray(ids[1:n * t + 1]).reshape(n, t)
        total = 0.0
        for i in range(0, n, 64):
            total += float(self.loss(x[i:i + 64], y[i:i + 64]).data) * len(x[i:i + 64])
        return total / n

    def generate(self, prompt: Any, count: int, temperature: float = 1.0, seed: int = 0) -> Any:
        """`count` ids sampled after `prompt` (ids), each from the last `context` ids."""
        import numpy as np

        rng = np.random.default_rng(seed)
        out = [int(i) for i in prompt]
        for _ in range(count):
            window = np.asarray(out[-self.cfg.context:])[None]
            logp = self.ops.to_numpy(self.log_probs(window))[0, -1] / max(temperature, 1e-6)
            p = np.exp(logp - logp.max())
            out.append(int(rng.choice(self.vocab, p=p / p.sum())))
        return np.asarray(out[len(prompt):], np.int64)

    def arrays(self) -> dict[str, Any]:
        """The parameters as numpy arrays."""
        return {k: self.ops.to_numpy(p.data) for k, p in self.params.items()}

    def load_arrays(self, arrays: dict[str, Any]) -> None:
        missing, unexpected = sorted(set(self.params) - set(arrays)), sorted(set(arrays) - set(self.params))
        if missing or unexpected:
            raise ValueError(f"GPT weights do not fit this config: missing {missing}, unexpected {unexpected}")
        for k, v in arrays.items():
            if tuple(v.shape) != self.params[k].shape:
                raise ValueError(f"GPT weight {k} has shape {tuple(v.shape)}, the config needs {self.params[k].shape}")
            self.params[k] = parameter(v, self.ops)


def _ids(ids: Any, vocab: int) -> Any:
    import numpy as np

    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ValueError(f"token ids must be integers of shape (B, T), got {ids.dtype} {tuple(ids.shape)}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        raise ValueError(f"token ids must be in [0, {vocab}), got [{int(ids.min())}, {int(ids.max())}]")
    return ids
