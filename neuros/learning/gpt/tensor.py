"""A small reverse-mode autograd `Tensor` (seed 5.14): the operations a decoder needs, on numpy
arrays (or on torch arrays, backend.py, for a GPU; torch's own autograd is never used).

    +, -, *, /, @ (batched, broadcasting), ** (a constant power), tanh, exp, log,
    sum / mean / amax (over a dim, keepdim), reshape, transpose

Method names and signatures follow torch's (``x.sum(-1, keepdim=True)``, ``x.transpose(1, 2)``),
so the model code runs unchanged on torch tensors: the gradient check compares the two.
`backward()` orders the graph topologically and accumulates each node's gradient once.
"""

from __future__ import annotations

from typing import Any, Callable

from .backend import NumpyOps

__all__ = ["Tensor", "parameter"]

_DEFAULT = NumpyOps()


def _unbroadcast(ops: Any, grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum `grad` down to `shape`: over the leading dims broadcasting added and the dims it stretched."""
    extra = len(grad.shape) - len(shape)
    if extra > 0:
        grad = ops.sum(grad, tuple(range(extra)), False)
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = ops.sum(grad, stretched, True)
    return grad


class Tensor:
    """An array `data` with a gradient `grad` (after `backward`) and how it was made."""

    __slots__ = ("data", "grad", "requires_grad", "ops", "_parents", "_backward")
    __array_priority__ = 1000  # numpy array (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data: Any, ops: Any = None, requires_grad: bool = False,
                 parents: tuple["Tensor", ...] = (), backward: Callable[[Any], tuple[Any, ...]] | None = None):
        self.ops = ops or _DEFAULT
        self.data = data if parents or backward else self.ops.asarray(data)
        self.grad: Any = None
        self.requires_grad = requires_grad or any(p.requires_grad for p in parents)
        self._parents, self._backward = parents, backward

    # ------------------------------------------------------------------------------ plumbing

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def numpy(self) -> Any:
        return self.ops.to_numpy(self.data)

    def _lift(self, other: Any) -> "Tensor":
        return other if isinstance(other, Tensor) else Tensor(other, self.ops)

    def _make(self, data: Any, parents: tuple["Tensor", ...], backward: Callable[[Any], tuple[Any, ...]]) -> "Tensor":
        return Tensor(data, self.ops, parents=parents, backward=backward)

    def backward(self, grad: Any = None) -> None:
        """Gradients of this (a scalar, unless `grad` is given) into every `requires_grad` leaf."""
        order, seen = [], set()

        def visit(node: "Tensor") -> None:  # iterative would be longer; graphs here are shallow
            if id(node) in seen:
                return
            seen.add(id(node))
            for p in node._parents:
                visit(p)
            order.append(node)

        visit(self)
        grads = {id(self): self.ops.asarray(1.0) + 0 * self.data if grad is None else grad}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None or not node.requires_grad:
                continue
            if node._backward is None:  # a leaf
                node.grad = g if node.grad is None else node.grad + g
                continue
            for parent, pg in zip(node._parents, node._backward(g)):
                if parent.requires_grad and pg is not None:
                    grads[id(parent)] = pg if id(parent) not in grads else grads[id(parent)] + pg

    # ---------------------------------------------------------------------- element-wise ops

    def __add__(self, other: Any) -> "Tensor":
        o = self._lift(other)
        return self._make(self.data + o.data, (self, o),
                          lambda g: (_unbroadcast(self.ops, g, self.shape), _unbroadcast(self.ops, g, o.shape)))

    __radd__ = __add__

    def __neg__(self) -> "Tensor":
        return self._make(-self.data, (self,), lambda g: (-g,))

    def __sub__(self, other: Any) -> "Tensor":
        return self + (-self._lift(other))

    def __rsub__(self, other: Any) -> "Tensor":
        return self._lift(other) + (-self)

    def __mul__(self, other: Any) -> "Tensor":
        o = self._lift(other)
        return self._make(self.data * o.data, (self, o),
                          lambda g: (_unbroadcast(self.ops, g * o.data, self.shape),
                                     _unbroadcast(self.ops, g * self.data, o.shape)))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> "Tensor":
        return self * (self._lift(other) ** -1.0)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return self._lift(other) * (self ** -1.0)

    def __pow__(self, power: float) -> "Tensor":
        if isinstance(power, Tensor):
            raise TypeError("Tensor ** Tensor is not supported: the power must be a number")
        return self._make(self.data ** power, (self,), lambda g: (g * power * self.data ** (power - 1),))

    def tanh(self) -> "Tensor":
        out = self.ops.tanh(self.data)
        return self._make(out, (self,), lambda g: (g * (1 - out * out),))

    def exp(self) -> "Tensor":
        out = self.ops.exp(self.data)
        return self._make(out, (self,), lambda g: (g * out,))

    def log(self) -> "Tensor":
        return self._make(self.ops.log(self.data), (self,), lambda g: (g / self.data,))

    # ------------------------------------------------------------------------------ matmul

    def __matmul__(self, other: Any) -> "Tensor":
        o = self._lift(other)
        ops = self.ops

        def back(g: Any) -> tuple[Any, Any]:
            a, b = self.data, o.data
            ga = g @ ops.swapaxes(b, -1, -2) if b.ndim > 1 else None
            gb = ops.swapaxes(a, -1, -2) @ g if a.ndim > 1 else None
            return _unbroadcast(ops, ga, self.shape), _unbroadcast(ops, gb, o.shape)

        return self._make(self.data @ o.data, (self, o), back)

    def __rmatmul__(self, other: Any) -> "Tensor":
        return self._lift(other) @ self

    # ------------------------------------------------------------------------- reductions

    def sum(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        shape = self.shape

        def back(g: Any) -> tuple[Any]:
            if dim is not None and not keepdim:
                g = g.reshape(_kept_shape(shape, dim))
            return (g + 0 * self.data,)  # broadcast back to the input's shape

        return self._make(self.ops.sum(self.data, dim, keepdim), (self,), back)

    def mean(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        n = 1
        for d in ((dim,) if isinstance(dim, int) else dim) if dim is not None else range(len(self.shape)):
            n *= self.shape[d]
        return self.sum(dim, keepdim) * (1.0 / n)

    def amax(self, dim: int, keepdim: bool = False) -> "Tensor":
        """The max over `dim`; its gradient is shared evenly among ties (as torch's amax)."""
        out = self.ops.amax(self.data, dim, True)
        hit = (self.data == out) * 1.0
        share = hit / self.ops.sum(hit, dim, True)

        def back(g: Any) -> tuple[Any]:
            if not keepdim:
                g = g.reshape(_kept_shape(self.shape, dim))
            return (g * share,)

        return self._make(out if keepdim else out.reshape(_dropped_shape(self.shape, dim)), (self,), back)

    # ---------------------------------------------------------------------------- shapes

    def reshape(self, *shape: int) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        old = self.shape
        return self._make(self.data.reshape(shape), (self,), lambda g: (g.reshape(old),))

    def transpose(self, i: int, j: int) -> "Tensor":
        ops = self.ops
        return self._make(ops.swapaxes(self.data, i, j), (self,), lambda g: (ops.swapaxes(g, i, j),))


def _kept_shape(shape: tuple[int, ...], dim: Any) -> tuple[int, ...]:
    dims = {d % len(shape) for d in ((dim,) if isinstance(dim, int) else dim)}
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def _dropped_shape(shape: tuple[int, ...], dim: int) -> tuple[int, ...]:
    return tuple(n for i, n in enumerate(shape) if i != dim % len(shape))


def parameter(data: Any, ops: Any = None) -> Tensor:
    """A leaf that learns (requires_grad)."""
    return Tensor(data, ops, requires_grad=True)
