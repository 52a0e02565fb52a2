"""The formatter: a `.neuro` file written out in the one layout (`neuro lang fmt`).

It round-trips: the formatted text parses to the same tree as the original (positions
aside), formatting it again changes nothing, and every comment is kept (a comment on a
line of its own stays before what follows it; one at the end of a line stays there).
Four spaces indent a block; parentheses are written only where precedence needs them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from . import _ast as A
from ._parser import parse
from ._types import type_text

__all__ = ["format_source", "format_module", "format_expr"]

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6, "neg": 7,
         "**": 8}
_POSTFIX, _ATOM = 9, 10


def _string(value: str) -> str:
    return json.dumps(value)


def _number(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} has no literal in the language")
        text = repr(value)
        mantissa, e, exp = text.partition("e")
        if "." not in mantissa:
            mantissa += ".0"
        return mantissa + (f"e{exp}" if e else "")
    return str(value)


def _literal(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    return _number(value)


def _prec(e: Any) -> int:
    if isinstance(e, A.BoolOp):
        return _PREC[e.op]
    if isinstance(e, A.Unary):
        return _PREC["not"] if e.op == "not" else _PREC["neg"]
    if isinstance(e, A.Compare):
        return _PREC["cmp"]
    if isinstance(e, A.BinOp):
        return _PREC[e.op]
    if isinstance(e, (A.Attr, A.Index, A.Slice, A.Call)):
        return _POSTFIX
    if isinstance(e, A.Lit) and isinstance(e.value, (int, float)) and not isinstance(e.value, bool) and e.value < 0:
        return _PREC["neg"]
    return _ATOM


def format_expr(e: Any, need: int = 0) -> str:
    """`e` as text; in parentheses when its precedence is below `need`."""
    text = _expr(e)
    return f"({text})" if _prec(e) < need else text


def _expr(e: Any) -> str:
    f = format_expr
    if isinstance(e, A.Lit):
        return _literal(e.value)
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Hole):
        return "?"
    if isinstance(e, A.Attr):
        return f"{f(e.obj, _POSTFIX)}.{e.name}"
    if isinstance(e, A.Index):
        return f"{f(e.obj, _POSTFIX)}[{f(e.index)}]"
    if isinstance(e, A.Slice):
        return f"{f(e.obj, _POSTFIX)}[{f(e.lo) if e.lo else ''}:{f(e.hi) if e.hi else ''}]"
    if isinstance(e, A.Call):
        args = [f(a) for a in e.args] + [f"{k}: {f(v)}" for k, v in e.kwargs]
        return f"{f(e.func, _POSTFIX)}({', '.join(args)})"
    if isinstance(e, A.BoolOp):
        p = _PREC[e.op]
        return f"{f(e.left, p)} {e.op} {f(e.right, p + 1)}"
    if isinstance(e, A.Compare):
        p = _PREC["cmp"]
        return f"{f(e.left, p + 1)} {e.op} {f(e.right, p + 1)}"
    if isinstance(e, A.BinOp):
        p = _PREC[e.op]
        if e.op == "**":
            return f"{f(e.left, _POSTFIX)} ** {f(e.right, _PREC['neg'])}"
        return f"{f(e.left, p)} {e.op} {f(e.right, p + 1)}"
    if isinstance(e, A.Unary):
        if e.op == "not":
            return f"not {f(e.operand, _PREC['not'])}"
        return f"-{f(e.operand, _PREC['neg'])}"
    if isinstance(e, A.ListLit):
        return "[" + ", ".join(f(i) for i in e.items) + "]"
    if isinstance(e, A.Record):
        return "{" + ", ".join(f"{k}: {f(v)}" for k, v in e.fields) + "}"
    raise TypeError(f"cannot format {type(e).__name__}")


class _Writer:
    def __init__(self, comments: list[tuple[int, int, str]]) -> None:
        self.lines: list[str] = []
        self.comments = sorted(comments)

    def comments_before(self, line: int, indent: str) -> None:
        while self.comments and self.comments[0][0] < line:
            self.lines.append(indent + self.comments.pop(0)[2])

    def trailing(self, line: int) -> str:
        if self.comments and self.comments[0][0] == line:
            return "  " + self.comments.pop(0)[2]
        return ""

    def put(self, node: Any, indent: str, text: str) -> None:
        """The first line of `node` (its trailing comment after it)."""
        line = getattr(node, "line", 0) or 0
        if line:
            self.comments_before(line, indent)
        self.lines.append(indent + text + (self.trailing(line) if line else ""))


def _block(w: _Writer, stmts: list[Any], indent: str, end: int | None) -> None:
    for s in stmts:
        _stmt(w, s, indent)
    if end is not None:
        w.comments_before(end, indent)


def _open_block(w: _Writer, node: Any, indent: str, head: str, body: list[Any], end: int | None) -> None:
    if not body:
        w.put(node, indent, head + " {}")
        return
    w.put(node, indent, head + " {")
    _block(w, body, indent + "    ", end)
    w.lines.append(indent + "}")


def _stmt(w: _Writer, s: Any, indent: str, end: int | None = None) -> None:
    inner = indent + "    "
    if isinstance(s, A.Assign):
        how = {"value": "", "spawn": "spawn ", "await": "await "}[s.how]
        w.put(s, indent, f"{s.name} = {how}{format_expr(s.value)}")
    elif isinstance(s, A.Return):
        w.put(s, indent, f"return {format_expr(s.value)}")
    elif isinstance(s, A.Get):
        w.put(s, indent, f"{s.name} = get {s.store}[{format_expr(s.key)}]")
    elif isinstance(s, A.Put):
        w.put(s, indent, f"put {s.store}[{format_expr(s.key)}] = {format_expr(s.value)}")
    elif isinstance(s, A.Publish):
        w.put(s, indent, f"publish {_neuro_name(s.topic)} {format_expr(s.value)}")
    elif isinstance(s, A.If):
        w.put(s, indent, f"if {format_expr(s.cond)} {{")
        _block(w, s.then, inner, _first_line(s.elifs[0][0]) if s.elifs else None)
        for cond, body in s.elifs:
            w.lines.append(f"{indent}}} elif {format_expr(cond)} {{")
            _block(w, body, inner, None)
        if s.orelse is not None:
            w.lines.append(f"{indent}}} else {{")
            _block(w, s.orelse, inner, None)
        w.lines.append(indent + "}")
    elif isinstance(s, A.Match):
        w.put(s, indent, f"match {format_expr(s.subject)} {{")
        for pattern, body in s.arms:
            head = "_" if pattern is None else format_expr(pattern)
            w.comments_before(getattr(pattern, "line", 0) or 0, inner)
            if not body:
                w.lines.append(f"{inner}{head} => {{}}")
                continue
            w.lines.append(f"{inner}{head} => {{")
            _block(w, body, inner + "    ", None)
            w.lines.append(inner + "}")
        w.lines.append(indent + "}")
    elif isinstance(s, A.For):
        limit = f" limit {s.limit}" if s.limit is not None else ""
        _open_block(w, s, indent, f"for {s.var} in {format_expr(s.iter)}{limit}", s.body, end)
    elif isinstance(s, A.While):
        _open_block(w, s, indent, f"while {format_expr(s.cond)} limit {s.limit}", s.body, end)


def _first_line(e: Any) -> int | None:
    return getattr(e, "line", None) or None


def _neuro_name(name: str) -> str:
    return name if _IDENT.match(name) else _string(name)


def _item(w: _Writer, item: Any) -> None:
    if isinstance(item, A.Use):
        text = f"use {_neuro_name(item.neuro)}"
        if item.version is not None:
            text += f" {item.op} {item.version}"
        if item.tag is not None:
            text += f" @ {item.tag}"
        if item.alias:
            text += f" as {item.alias}"
        w.put(item, "", text)
    elif isinstance(item, A.Import):
        w.put(item, "", f"import {_string(item.path)}")
    elif isinstance(item, A.Message):
        if not item.fields:
            w.put(item, "", f"message {item.name} {{}}")
            return
        w.put(item, "", f"message {item.name} {{")
        for fd in item.fields:
            default = f" = {format_expr(fd.default)}" if fd.default is not None else ""
            w.put(fd, "    ", f"{fd.name}: {type_text(fd.type)}{default},")
        w.lines.append("}")
    elif isinstance(item, A.Fn):
        params = ", ".join(f"{p.name}: {type_text(p.type)}" for p in item.params)
        w.put(item, "", f"fn {item.name}({params}) -> {type_text(item.returns)} = {format_expr(item.body)}")
    elif isinstance(item, A.Pure):
        w.put(item, "", f"neuro {item.name}({item.param.name}: {type_text(item.param.type)}) -> "
                        f"{type_text(item.returns)} = {format_expr(item.body)}")
    elif isinstance(item, A.NetDecl):
        head = f"net {item.name}({item.param}" + (f": {type_text(item.input)}" if item.input else "") + ")"
        if item.output is not None:
            head += f" -> {type_text(item.output)}"
        if item.deadline is not None:
            head += f" deadline {_number(item.deadline)}"
        if item.memo is not None:
            head += f" memo {'true' if item.memo else 'false'}"
        if item.ray_graph is not None:
            head += f" ray_graph {'true' if item.ray_graph else 'false'}"
        if item.policy is not None:
            head += f" policy {item.policy}"
        head += "".join(f" subscribe {_neuro_name(t)}" for t in item.subscribe)
        _open_block(w, item, "", head, item.body, None)
    elif isinstance(item, A.Store):
        default = f" = {format_expr(item.default)}" if item.default is not None else ""
        w.put(item, "", f"store {item.name}: {type_text(item.type)}{default}")
    elif isinstance(item, A.Channel):
        w.put(item, "", f"channel {_neuro_name(item.topic)}: {type_text(item.type)}")
    elif isinstance(item, A.Policy):
        if not item.settings:
            w.put(item, "", f"policy {item.name} {{}}")
            return
        w.put(item, "", f"policy {item.name} {{")
        for s in item.settings:
            w.put(s, "    ", f"{s.key} = {format_expr(s.value)}")
        w.lines.append("}")


def format_module(module: A.Module) -> str:
    w = _Writer(module.comments)
    previous: Any = None
    for item in module.items:
        if previous is not None:
            small = (A.Use, A.Import, A.Fn, A.Channel, A.Store)
            if not (isinstance(previous, small) and type(previous) is type(item)):
                w.lines.append("")
        _item(w, item)
        previous = item
    for _, _, text in w.comments:
        w.lines.append(text)
    return "\n".join(w.lines).rstrip("\n") + "\n" if w.lines else ""


def format_source(text: str, file: str | None = None) -> str:
    """`text` in the one layout; raises LangError when it does not parse (nothing is changed)."""
    return format_module(parse(text, file))
