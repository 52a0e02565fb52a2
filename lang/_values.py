"""The values of a net body as the compiler sees them while it lowers (`_lower`, `_flow`).

A `Val` is a message: the edges (endpoint, when) that bring it (several after a branch: one
per branch, each behind its condition), the field it is called by inside a lambda, a field
path into it, and its type where known. A `Pure` is a scalar or a small computed value, as
lambda-language text over the Vals it reads. A `RecordV` is a record not yet placed: field
edges where every field is a Val (fan-in), else one lambda. A `Partial` is a name assigned on
some branches only; a `Scope` the names of one block.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Val", "Pure", "RecordV", "Partial", "Scope"]

class Val:
    """A message value (see the module's docstring)."""

    __slots__ = ("srcs", "field", "path", "type", "task", "at", "root")

    def __init__(self, srcs: list[tuple[str, str | None]], field: str | None, path: tuple[str, ...] = (),
                 type: Any = None, task: bool = False, at: Any = None, root: bool = False) -> None:
        self.srcs, self.field, self.path, self.type, self.task, self.at = srcs, field, path, type, task, at
        self.root = root  # the net's whole input (through gates too): a neuro it feeds tells its type

    def sub(self, name: str) -> "Val":
        from neuro.nets._types import FieldError, field_type

        tp = None
        if self.type is not None:
            try:
                tp = field_type(self.type, [name])
            except FieldError:
                tp = None
        return Val(self.srcs, self.field, (*self.path, name), tp, self.task, self.at, self.root)

    def named(self, field: str) -> "Val":
        """The same value, called `field` inside lambdas (an alias: `b = a.items`)."""
        srcs = [(ep + "".join(f".{p}" for p in self.path), w) for ep, w in self.srcs]
        return Val(srcs, field, (), self.type, self.task, self.at, self.root and not self.path)

    def endpoints(self) -> list[tuple[str, str | None]]:
        return [(ep + "".join(f".{p}" for p in self.path), w) for ep, w in self.srcs]


class Pure:
    """A scalar or a small computed value, as lambda-language text over `deps` (field -> Val)."""

    __slots__ = ("text", "deps")

    def __init__(self, text: str, deps: dict[str, Val] | None = None) -> None:
        self.text, self.deps = text, dict(deps or {})


class RecordV:
    """A record `{f: ...}` not yet placed: field edges where every field is a Val, else a lambda."""

    __slots__ = ("fields", "at", "exprs")

    def __init__(self, fields: dict[str, Any], at: Any, exprs: dict[str, Any] | None = None) -> None:
        self.fields, self.at, self.exprs = fields, at, exprs or {}


class Partial:
    """A name assigned on some branches only: reading it after them is an error (`why` None:
    its own line did not compile, which is reported already)."""

    __slots__ = ("why",)

    def __init__(self, why: str | None) -> None:
        self.why = why


class Scope:
    """The names visible in a block, and the value a node with no input hangs from."""

    def __init__(self, names: dict[str, Any], anchor: Val) -> None:
        self.names, self.anchor = names, anchor

    def copy(self) -> "Scope":
        return Scope(dict(self.names), self.anchor)
