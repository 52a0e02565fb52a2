"""Array back ends for the autograd `Tensor`: numpy (the default, on the CPU) or torch used as a
plain array library (no torch autograd: gradients are still ours), which puts the same
arithmetic on a GPU. Each exposes only what tensor.py needs."""

from __future__ import annotations

from typing import Any

__all__ = ["NumpyOps", "TorchOps", "backend"]


class NumpyOps:
    name = "numpy"

    def __init__(self, dtype: str = "float32") -> None:
        import numpy as np

        self.np, self.dtype = np, np.dtype(dtype)

    def asarray(self, a: Any) -> Any:
        return self.np.asarray(a, dtype=self.dtype)

    def exp(self, a: Any) -> Any:
        return self.np.exp(a)

    def log(self, a: Any) -> Any:
        return self.np.log(a)

    def tanh(self, a: Any) -> Any:
        return self.np.tanh(a)

    def sum(self, a: Any, axis: Any, keepdims: bool) -> Any:
        return a.sum(axis=axis, keepdims=keepdims)

    def amax(self, a: Any, axis: int, keepdims: bool) -> Any:
        return a.max(axis=axis, keepdims=keepdims)

    def swapaxes(self, a: Any, i: int, j: int) -> Any:
        return self.np.swapaxes(a, i, j)

    def to_numpy(self, a: Any) -> Any:
        return self.np.asarray(a)


class TorchOps:
    name = "torch"

    def __init__(self, device: str = "cpu", dtype: str = "float32") -> None:
        import torch

        self.torch, self.device, self.dtype = torch, torch.device(device), getattr(torch, dtype)

    def asarray(self, a: Any) -> Any:
        return self.torch.as_tensor(a, dtype=self.dtype, device=self.device)

    def exp(self, a: Any) -> Any:
        return a.exp()

    def log(self, a: Any) -> Any:
        return a.log()

    def tanh(self, a: Any) -> Any:
        return a.tanh()

    def sum(self, a: Any, axis: Any, keepdims: bool) -> Any:
        if axis is None:
            return a.sum()
        return a.sum(dim=axis, keepdim=keepdims)

    def amax(self, a: Any, axis: int, keepdims: bool) -> Any:
        return a.amax(dim=axis, keepdim=keepdims)

    def swapaxes(self, a: Any, i: int, j: int) -> Any:
        return a.transpose(i, j)

    def to_numpy(self, a: Any) -> Any:
        return a.detach().cpu().numpy()


def backend(device: str = "cpu", dtype: str = "float32") -> Any:
    """numpy on "cpu"; torch arrays on "cuda"/"cuda:N" (a GPU; our autograd on top)."""
    if device == "cpu":
        return NumpyOps(dtype)
    if device == "cuda" or device.startswith("cuda:"):
        return TorchOps(device, dtype)
    raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
