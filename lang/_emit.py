"""What the compiler emits: expressions as the nets' lambda language, and a Python module
for a pure neuro written in the language.

The lambda language of `neuro.nets` is Python's expression syntax cut down, so an expression
of Neuro-Lang is written out as Python text and parsed again by `nets._expr` (never
evaluated as Python). Every composite part is parenthesised, so no precedence is lost.
"""

from __future__ import annotations

from typing import Any, Callable

from . import _ast as A
from ._types import type_text

__all__ = ["py_literal", "python_module", "BUILTINS", "PY_OPS"]

# The functions of the lambda language (nets._expr.FUNCTIONS), and `choose(c, a, b)` for `a if c else b`.
BUILTINS = ("len", "min", "max", "abs", "round", "int", "float", "str", "bool", "sum", "sorted", "any", "all", "list",
            "choose")
PY_OPS = {"and": "and", "or": "or"}


def py_literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    return repr(value)


def _annotation(t: A.TypeRef) -> str:
    names = {"any": "Any", "none": "None"}
    if t.members:
        return " | ".join(_annotation(m) for m in t.members)
    base = names.get(t.name, t.name)
    return base + (f"[{', '.join(_annotation(a) for a in t.args)}]" if t.args else "")


def python_expr(e: A.Expr, name: Callable[[str], str], fns: dict[str, A.Fn] | None = None, depth: int = 0) -> str:
    """`e` as Python text; `name` maps a name of the language to its Python spelling; a call
    of one of `fns` is its body, inlined, with the arguments in place of the parameters."""
    fns = fns or {}
    r = lambda x: python_expr(x, name, fns, depth)  # noqa: E731
    if isinstance(e, A.Call) and isinstance(e.func, A.Name) and e.func.id in fns:
        fn = fns[e.func.id]
        if depth > 32 or len(e.args) != len(fn.params):
            raise ValueError(f"fn {fn.name} cannot be inlined here")
        args = {p.name: f"({r(a)})" for p, a in zip(fn.params, e.args)}
        return python_expr(fn.body, lambda n: args.get(n, n), fns, depth + 1)
    if isinstance(e, A.Lit):
        return py_literal(e.value)
    if isinstance(e, A.Name):
        return name(e.id)
    if isinstance(e, A.Attr):
        return f"{r(e.obj)}.{e.name}"
    if isinstance(e, A.Index):
        return f"{r(e.obj)}[{r(e.index)}]"
    if isinstance(e, A.Slice):
        return f"{r(e.obj)}[{r(e.lo) if e.lo else ''}:{r(e.hi) if e.hi else ''}]"
    if isinstance(e, (A.BinOp, A.Compare, A.BoolOp)):
        return f"({r(e.left)} {e.op} {r(e.right)})"
    if isinstance(e, A.Unary):
        return f"(not {r(e.operand)})" if e.op == "not" else f"(-{r(e.operand)})"
    if isinstance(e, A.ListLit):
        return "[" + ", ".join(r(i) for i in e.items) + "]"
    if isinstance(e, A.Record):
        return "{" + ", ".join(f"{k!r}: {r(v)}" for k, v in e.fields) + "}"
    if isinstance(e, A.Call) and isinstance(e.func, A.Name):
        if e.func.id == "choose" and len(e.args) == 3:
            c, a, b = (r(x) for x in e.args)
            return f"({a} if {c} else {b})"
        return f"{e.func.id}({', '.join(r(a) for a in e.args)})"
    raise ValueError(f"no Python text for {type(e).__name__}")


def python_module(pure: A.Pure, messages: list[A.Message], source: str | None = None,
                  fns: dict[str, A.Fn] | None = None) -> str:
    """A neuro module (`sdk.Neuro`) for a pure neuro of the language: its messages as
    `sdk.Message` classes, and a handler that builds its output record."""
    cls = "".join(p.capitalize() for p in pure.name.replace(".", "_").replace("-", "_").split("_")) or "Pure"
    lines = [f'"""The pure neuro `{pure.name}`, emitted by neuro.lang' + (f" from {source}" if source else "") + '."""',
             "", "from __future__ import annotations", "", "from typing import Any", "", "from neuro import sdk", ""]
    for m in messages:
        lines += ["", f"class {m.name}(sdk.Message):"]
        if not m.fields:
            lines.append("    pass")
        required = [f for f in m.fields if f.default is None]
        optional = [f for f in m.fields if f.default is not None]
        for f in [*required, *optional]:
            default = f" = {python_expr(f.default, str)}" if f.default is not None else ""
            lines.append(f"    {f.name}: {_annotation(f.type)}{default}")
        lines.append("")
    param = pure.param.name
    body = pure.body
    assert isinstance(body, A.Record)
    fields = ", ".join(f"{k}={python_expr(v, str, fns)}" for k, v in body.fields)
    lines += ["", f"class {cls}(sdk.Neuro):", f"    name = {pure.name!r}", f"    input = {type_text(pure.param.type)}",
              f"    output = {type_text(pure.returns)}", "",
              f"    async def handle(self, ctx: sdk.Context, {param}: {type_text(pure.param.type)}) -> "
              f"{type_text(pure.returns)}:",
              f"        return {type_text(pure.returns)}({fields})", ""]
    return "\n".join(lines)
