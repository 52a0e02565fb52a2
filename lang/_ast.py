"""The syntax tree of a Neuro-Lang file: declarations, statements, expressions, types.

Every node has the `line` and `column` (1-based) where it starts; they take no part in `==`,
so a file and its formatted text parse to equal trees (the formatter's round trip).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

__all__ = [
    "Node", "Name", "Lit", "Attr", "Index", "Slice", "Call", "BinOp", "Unary", "Compare", "BoolOp", "ListLit",
    "Record", "Hole", "Expr", "TypeRef", "Assign", "Return", "Publish", "Get", "Put", "If", "Match", "For", "While", "Stmt", "Use",
    "Import", "Field", "Message", "Param", "Fn", "Pure", "NetDecl", "Setting", "Policy", "Channel", "Store", "Item", "Module",
    "walk_names", "assigned_names",
]


def _pos() -> Any:
    return field(default=0, compare=False, repr=False)


@dataclass
class Node:
    line: int = _pos()
    column: int = _pos()


# -- expressions ---------------------------------------------------------------------------------

@dataclass
class Name(Node):
    id: str = ""


@dataclass
class Lit(Node):
    value: Any = None  # int, float, str, bool or None


@dataclass
class Attr(Node):
    obj: "Expr" = None  # type: ignore[assignment]
    name: str = ""


@dataclass
class Index(Node):
    obj: "Expr" = None  # type: ignore[assignment]
    index: "Expr" = None  # type: ignore[assignment]


@dataclass
class Slice(Node):
    obj: "Expr" = None  # type: ignore[assignment]
    lo: "Expr | None" = None
    hi: "Expr | None" = None


@dataclass
class Call(Node):
    func: "Expr" = None  # type: ignore[assignment]
    args: list["Expr"] = field(default_factory=list)
    kwargs: list[tuple[str, "Expr"]] = field(default_factory=list)


@dataclass
class BinOp(Node):
    op: str = ""  # + - * / // % **
    left: "Expr" = None  # type: ignore[assignment]
    right: "Expr" = None  # type: ignore[assignment]


@dataclass
class Unary(Node):
    op: str = ""  # - or not
    operand: "Expr" = None  # type: ignore[assignment]


@dataclass
class Compare(Node):
    op: str = ""  # == != < <= > >= in, not in
    left: "Expr" = None  # type: ignore[assignment]
    right: "Expr" = None  # type: ignore[assignment]


@dataclass
class BoolOp(Node):
    op: str = ""  # and, or
    left: "Expr" = None  # type: ignore[assignment]
    right: "Expr" = None  # type: ignore[assignment]


@dataclass
class ListLit(Node):
    items: list["Expr"] = field(default_factory=list)


@dataclass
class Record(Node):
    fields: list[tuple[str, "Expr"]] = field(default_factory=list)


@dataclass
class Hole(Node):
    pass


Expr = Union[Name, Lit, Attr, Index, Slice, Call, BinOp, Unary, Compare, BoolOp, ListLit, Record, Hole]


@dataclass
class TypeRef(Node):
    """`int`, `list[Num]`, `dict[str, int]`; a union is `members` (`int | none`)."""

    name: str = ""
    args: list["TypeRef"] = field(default_factory=list)
    members: list["TypeRef"] = field(default_factory=list)


# -- statements -----------------------------------------------------------------------------------

@dataclass
class Assign(Node):
    name: str = ""
    value: Expr = None  # type: ignore[assignment]
    how: str = "value"  # value, spawn (a task), await (value is a Name of a task)


@dataclass
class Return(Node):
    value: Expr = None  # type: ignore[assignment]


@dataclass
class Publish(Node):
    """`publish TOPIC value`: the value, on a channel the file declares."""

    topic: str = ""
    value: Expr = None  # type: ignore[assignment]


@dataclass
class Get(Node):
    """`name = get STORE[key]`: the value the store holds for the key (its default if none)."""

    name: str = ""
    store: str = ""
    key: Expr = None  # type: ignore[assignment]


@dataclass
class Put(Node):
    """`put STORE[key] = value`."""

    store: str = ""
    key: Expr = None  # type: ignore[assignment]
    value: Expr = None  # type: ignore[assignment]


@dataclass
class If(Node):
    cond: Expr = None  # type: ignore[assignment]
    then: list["Stmt"] = field(default_factory=list)
    elifs: list[tuple[Expr, list["Stmt"]]] = field(default_factory=list)
    orelse: list["Stmt"] | None = None


@dataclass
class Match(Node):
    subject: Expr = None  # type: ignore[assignment]
    arms: list[tuple[Lit | None, list["Stmt"]]] = field(default_factory=list)  # None: the `_` arm


@dataclass
class For(Node):
    var: str = ""
    iter: Expr = None  # type: ignore[assignment]
    limit: int | None = None
    body: list["Stmt"] = field(default_factory=list)


@dataclass
class While(Node):
    cond: Expr = None  # type: ignore[assignment]
    limit: int = 0
    body: list["Stmt"] = field(default_factory=list)


Stmt = Union[Assign, Return, Publish, Get, Put, If, Match, For, While]


# -- declarations ---------------------------------------------------------------------------------

@dataclass
class Use(Node):
    neuro: str = ""
    alias: str | None = None
    op: str | None = None  # == or >=
    version: str | None = None
    tag: str | None = None


@dataclass
class Import(Node):
    path: str = ""
    alias: str | None = None


@dataclass
class Field(Node):
    name: str = ""
    type: TypeRef = None  # type: ignore[assignment]
    default: Expr | None = None


@dataclass
class Message(Node):
    name: str = ""
    fields: list[Field] = field(default_factory=list)


@dataclass
class Param(Node):
    name: str = ""
    type: TypeRef = None  # type: ignore[assignment]


@dataclass
class Fn(Node):
    name: str = ""
    params: list[Param] = field(default_factory=list)
    returns: TypeRef = None  # type: ignore[assignment]
    body: Expr = None  # type: ignore[assignment]


@dataclass
class Pure(Node):
    """A pure neuro written in the language: one record expression over its input."""

    name: str = ""
    param: Param = None  # type: ignore[assignment]
    returns: TypeRef = None  # type: ignore[assignment]
    body: Expr = None  # type: ignore[assignment]


@dataclass
class NetDecl(Node):
    name: str = ""
    param: str = ""
    input: TypeRef | None = None
    output: TypeRef | None = None
    deadline: float | None = None
    memo: bool | None = None
    ray_graph: bool | None = None  # a chain of Ray-placed nodes as one Ray compiled graph (docs/ray.md)
    policy: str | None = None
    body: list[Stmt] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)  # topics whose events each run the net


@dataclass
class Setting(Node):
    key: str = ""  # dotted: quota.wall_time
    value: Expr = None  # type: ignore[assignment]


@dataclass
class Policy(Node):
    name: str = ""
    settings: list[Setting] = field(default_factory=list)


@dataclass
class Channel(Node):
    """`channel TOPIC: Type`: what a net may publish on the kernel's topic TOPIC."""

    topic: str = ""
    type: TypeRef = None  # type: ignore[assignment]


@dataclass
class Store(Node):
    """`store NAME: Type = default`: a named store of the kernel, shared by every run (`lang.store`)."""

    name: str = ""
    type: TypeRef = None  # type: ignore[assignment]
    default: Expr | None = None


Item = Union[Use, Import, Message, Fn, Pure, NetDecl, Policy, Channel, Store]


@dataclass
class Module(Node):
    items: list[Item] = field(default_factory=list)
    file: str | None = field(default=None, compare=False)
    comments: list[tuple[int, int, str]] = field(default_factory=list, compare=False)  # (line, column, text)


# -- walking --------------------------------------------------------------------------------------

def _children(e: Any) -> list[Any]:
    if isinstance(e, (Attr,)):
        return [e.obj]
    if isinstance(e, Index):
        return [e.obj, e.index]
    if isinstance(e, Slice):
        return [e.obj, e.lo, e.hi]
    if isinstance(e, Call):
        return [e.func, *e.args, *(v for _, v in e.kwargs)]
    if isinstance(e, (BinOp, Compare, BoolOp)):
        return [e.left, e.right]
    if isinstance(e, Unary):
        return [e.operand]
    if isinstance(e, ListLit):
        return list(e.items)
    if isinstance(e, Record):
        return [v for _, v in e.fields]
    if isinstance(e, Assign):
        return [e.value]
    if isinstance(e, (Return, Publish)):
        return [e.value]
    if isinstance(e, Get):
        return [e.key]
    if isinstance(e, Put):
        return [e.key, e.value]
    if isinstance(e, If):
        out = [e.cond, *e.then]
        for c, b in e.elifs:
            out += [c, *b]
        return out + list(e.orelse or [])
    if isinstance(e, Match):
        return [e.subject, *(s for _, b in e.arms for s in b)]
    if isinstance(e, For):
        return [e.iter, *e.body]
    if isinstance(e, While):
        return [e.cond, *e.body]
    return []


def walk_names(node: Any) -> set[str]:
    """Every name an expression or statement (list) reads, callees included."""
    found: set[str] = set()
    todo = list(node) if isinstance(node, list) else [node]
    while todo:
        n = todo.pop()
        if n is None:
            continue
        if isinstance(n, (list, tuple)):
            todo.extend(n)
            continue
        if isinstance(n, Name):
            found.add(n.id)
        todo.extend(_children(n))
    return found


def assigned_names(stmts: list[Any]) -> set[str]:
    """Every name a block assigns, in nested blocks too."""
    found: set[str] = set()
    todo = list(stmts)
    while todo:
        s = todo.pop()
        if isinstance(s, (Assign, Get)):
            found.add(s.name)
        elif isinstance(s, (If, Match, For, While)):
            todo.extend(x for x in _children(s) if isinstance(x, (Assign, Get, Return, If, Match, For, While)))
    return found
