"""A student's model: scaling, a stack of dense layers, and its answer (numpy only).

The weights file (``weights.npz``, the student version's artifact) holds the input scaling
(`mean_x`, `std_x`, and the box `lo_x`..`hi_x` the training inputs filled), the regression
targets' scaling (`mean_y`, `std_y`), the layers (`w0`, `b0`, `w1`, ...; tanh between them)
and a `temperature` for the category scores. A linear model is one layer, fitted in closed
form here; an MLP is trained by torch in a child process (dream/_trainer.py) and saved in
the same shape, so serving never imports torch.
"""

from __future__ import annotations

import io
from typing import Any

from ._features import Plan

__all__ = ["Model", "fit_linear", "scaling", "pack"]

# Inputs this far outside the box the training inputs filled (in widths of the box) are
# "shifted": a cascade defers them to the teacher, whatever the model's confidence.
BOX_MARGIN = 0.1
# Inputs of more columns than this are checked against the box with numpy; fewer, in plain
# Python (a few comparisons cost less than making the arrays).
WIDE = 12


class Model:
    """A loaded student: ``answer(msg) -> (fields, confidence, inside)``."""

    def __init__(self, plan: Plan, arrays: dict[str, Any]) -> None:
        import numpy as np

        self.plan = plan
        self.np = np
        self.mean_x, self.std_x = arrays["mean_x"], arrays["std_x"]
        self.lo, self.hi = arrays["lo_x"], arrays["hi_x"]
        span = self.hi - self.lo
        self.lo_ok, self.hi_ok = self.lo - BOX_MARGIN * span, self.hi + BOX_MARGIN * span
        self.box_lo, self.box_hi = self.lo_ok.tolist(), self.hi_ok.tolist()
        self.mean_y, self.std_y = arrays["mean_y"], arrays["std_y"]
        self.temperature = float(arrays["temperature"])
        n = sum(1 for k in arrays if k.startswith("w"))
        self.layers = [(arrays[f"w{i}"], arrays[f"b{i}"]) for i in range(n)]
        regs, cats = plan.heads()
        self.reg_cols = [c for _, start, size in regs for c in range(start, start + size)]
        self.cat_cols = [c for _, start, size in cats for c in range(start, start + size)]
        # For answers: the input scaling folded into the first layer, and the outputs' scaling
        # as one multiply-add, so one input costs a few small numpy operations.
        (w0, b0), rest = self.layers[0], self.layers[1:]
        self.raw_layers = [(w0 / self.std_x[:, None], b0 - (self.mean_x / self.std_x) @ w0), *rest]
        width = w0.shape[1] if not rest else rest[-1][0].shape[1]
        self.out_mul, self.out_add = np.ones(width), np.zeros(width)
        self.out_mul[self.reg_cols], self.out_add[self.reg_cols] = self.std_y[self.reg_cols], self.mean_y[self.reg_cols]
        self.out_mul[self.cat_cols] = self.temperature

    @classmethod
    def from_bytes(cls, plan: Plan, data: bytes) -> Model:
        import numpy as np

        with np.load(io.BytesIO(data)) as f:
            return cls(plan, {k: f[k] for k in f.files})

    @classmethod
    def from_file(cls, plan: Plan, path: str) -> Model:
        with open(path, "rb") as f:
            return cls.from_bytes(plan, f.read())

    def outputs(self, x: Any) -> Any:
        """Raw outputs (N, K) of standardized inputs (N, D): regression scaled back, category scores."""
        h = x
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = self.np.tanh(h)
        out = h.copy()
        out[:, self.reg_cols] = out[:, self.reg_cols] * self.std_y[self.reg_cols] + self.mean_y[self.reg_cols]
        out[:, self.cat_cols] *= self.temperature
        return out

    def scale(self, rows: Any) -> Any:
        return (rows - self.mean_x) / self.std_x

    def _raw_outputs(self, rows: Any) -> Any:
        """`outputs` of unscaled input rows (N, D) or one row (D,)."""
        h = rows
        last = len(self.raw_layers) - 1
        for i, (w, b) in enumerate(self.raw_layers):
            h = h @ w + b
            if i < last:
                h = self.np.tanh(h)
        return h * self.out_mul + self.out_add

    def answer(self, msg: Any) -> tuple[dict[str, Any], float, bool]:
        """The answer to one input, its confidence, and whether the input is inside the box
        the training inputs filled."""
        values = self.plan.features(msg)
        row = self.np.asarray(values, dtype=self.np.float64)
        if len(values) <= WIDE:
            inside = all(lo <= v <= hi for v, lo, hi in zip(values, self.box_lo, self.box_hi))
        else:  # hashed text: one comparison of arrays beats a Python loop over its columns
            inside = bool(((row >= self.lo_ok) & (row <= self.hi_ok)).all())
        fields, confidence = self.plan.answer(self._raw_outputs(row).tolist())
        return fields, confidence, inside

    def answers(self, rows: Any) -> list[tuple[dict[str, Any], float, bool]]:
        """Answers to many inputs at once (rows of features, unscaled)."""
        np = self.np
        rows = np.asarray(rows, dtype=np.float64)
        inside = ((rows >= self.lo_ok) & (rows <= self.hi_ok)).all(axis=1)
        out = self._raw_outputs(rows).tolist()
        return [(*self.plan.answer(o), bool(i)) for o, i in zip(out, inside)]


def scaling(plan: Plan, x: Any, y: Any) -> dict[str, Any]:
    """The scaling of inputs and regression targets the training rows give."""
    import numpy as np

    std_x = x.std(axis=0)
    std_x[std_x < 1e-8] = 1.0
    mean_y, std_y = np.zeros(y.shape[1]), np.ones(y.shape[1])
    regs, _ = plan.heads()
    for _, start, size in regs:
        cols = slice(start, start + size)
        mean_y[cols] = y[:, cols].mean(axis=0)
        s = y[:, cols].std(axis=0)
        s[s < 1e-8] = 1.0
        std_y[cols] = s
    return {"mean_x": x.mean(axis=0), "std_x": std_x, "lo_x": x.min(axis=0), "hi_x": x.max(axis=0),
            "mean_y": mean_y, "std_y": std_y}


def fit_linear(plan: Plan, x: Any, y: Any, ridge: float = 1e-3) -> dict[str, Any]:
    """A linear student in closed form (ridge least squares on scaled inputs and targets);
    its category scores are sharpened by a temperature so a softmax reads as a confidence."""
    import numpy as np

    s = scaling(plan, x, y)
    xs = (x - s["mean_x"]) / s["std_x"]  # (N, D)
    ys = (y - s["mean_y"]) / s["std_y"]  # (N, K)
    xb = np.hstack([xs, np.ones((len(xs), 1))])  # (N, D+1)
    gram = xb.T @ xb + ridge * len(xb) * np.eye(xb.shape[1])
    wb = np.linalg.solve(gram, xb.T @ ys)  # (D+1, K)
    _, cats = plan.heads()
    for _, start, size in cats:  # categories: softmax regression, from the least-squares start
        wb[:, start:start + size] = _softmax_fit(xb, ys[:, start:start + size], 8.0 * wb[:, start:start + size])
    return {**s, "w0": wb[:-1], "b0": wb[-1], "temperature": np.float64(1.0)}


def _softmax_fit(xb: Any, onehot: Any, w: Any, steps: int = 3000, lr: float = 2.0, ridge: float = 1e-6) -> Any:
    """Multinomial logistic regression by full-batch gradient descent (small data: it is quick)."""
    import numpy as np

    n = len(xb)
    for _ in range(steps):
        z = xb @ w  # (N, C)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        w -= lr * (xb.T @ (p - onehot) / n + ridge * w)
    return w


def pack(arrays: dict[str, Any]) -> bytes:
    """The weights file's bytes (float64 arrays, no pickles)."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
    return buf.getvalue()
