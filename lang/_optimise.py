"""The optimiser: what the compiler simplifies in the tree before it makes a net of it.

- **constant folding**: an expression of literals (`2 * 60`, `not false`) is its value;
- **dead branches pruned**: an `if` / `elif` whose condition is a constant keeps only the
  branch taken (no gate node, no edges); a `match` on a literal keeps its one arm;
- **pure functions fused** and **trivial neuros inlined** happen as the net is lowered
  (`_lower`): a `fn` is substituted into the lambda that calls it, a pure `neuro` of the
  file becomes a lambda node instead of a call, and a `net` of the file runs inline as a
  net node. The net's own plan (`neuro.nets._plan`) then fuses lambda chains and schedules
  the parallel segments (`neuro lang build --plan` shows them).

`optimise(module)` rewrites in place and returns what it did, for `neuro lang build`.
"""

from __future__ import annotations

import operator
from typing import Any

from . import _ast as A

__all__ = ["optimise", "Report"]

_BIN = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv, "%": operator.mod,
        "/": operator.truediv}
_CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class Report:
    def __init__(self) -> None:
        self.folded = 0
        self.pruned_branches: list[int] = []  # lines of the branches dropped

    def as_data(self) -> dict[str, Any]:
        return {"folded_constants": self.folded, "pruned_branches_at_lines": self.pruned_branches}


def _const(e: Any) -> tuple[bool, Any]:
    return (True, e.value) if isinstance(e, A.Lit) else (False, None)


def fold(e: Any, report: Report) -> Any:
    """`e` with its constant parts computed (only what cannot fail: no division by zero)."""
    if isinstance(e, (A.BinOp, A.Compare, A.BoolOp)):
        e.left, e.right = fold(e.left, report), fold(e.right, report)
        (ok_a, a), (ok_b, b) = _const(e.left), _const(e.right)
        if ok_a and ok_b:
            try:
                if isinstance(e, A.BinOp) and e.op in _BIN and type(a) is type(b) and isinstance(a, (int, float)) \
                        and not isinstance(a, bool) and not (e.op in ("/", "//", "%") and b == 0):
                    value = _BIN[e.op](a, b)
                elif isinstance(e, A.Compare) and e.op in _CMP and type(a) is type(b):
                    value = _CMP[e.op](a, b)
                elif isinstance(e, A.BoolOp) and isinstance(a, bool) and isinstance(b, bool):
                    value = (a and b) if e.op == "and" else (a or b)
                else:
                    return e
            except TypeError:
                return e
            report.folded += 1
            return A.Lit(value=value, line=e.line, column=e.column)
        return e
    if isinstance(e, A.Unary):
        e.operand = fold(e.operand, report)
        ok, v = _const(e.operand)
        if ok and e.op == "not" and isinstance(v, bool):
            report.folded += 1
            return A.Lit(value=not v, line=e.line, column=e.column)
        return e
    if isinstance(e, A.Call):
        e.args = [fold(a, report) for a in e.args]
        e.kwargs = [(k, fold(v, report)) for k, v in e.kwargs]
        return e
    if isinstance(e, A.Record):
        e.fields = [(k, fold(v, report)) for k, v in e.fields]
        return e
    if isinstance(e, A.ListLit):
        e.items = [fold(i, report) for i in e.items]
        return e
    if isinstance(e, (A.Attr, A.Index, A.Slice)):
        e.obj = fold(e.obj, report)
        return e
    return e


def _block(stmts: list[A.Stmt], report: Report) -> list[A.Stmt]:
    out: list[A.Stmt] = []
    for s in stmts:
        if isinstance(s, (A.Assign, A.Return, A.Publish)):
            s.value = fold(s.value, report)
            out.append(s)
        elif isinstance(s, (A.Get, A.Put)):
            s.key = fold(s.key, report)
            if isinstance(s, A.Put):
                s.value = fold(s.value, report)
            out.append(s)
        elif isinstance(s, A.If):
            arms = [(fold(s.cond, report), s.then), *((fold(c, report), b) for c, b in s.elifs)]
            kept: list[tuple[Any, list[A.Stmt]]] = []
            taken: list[A.Stmt] | None = None
            for cond, body in arms:
                ok, v = _const(cond)
                if ok and isinstance(v, bool):
                    if v:
                        taken = body
                        break
                    continue
                kept.append((cond, _block(body, report)))
            if taken is not None or len(kept) < len(arms):
                report.pruned_branches.append(s.line)
            if not kept:  # every condition was constant: the branch taken (or `else`) is all that is left
                out.extend(_block(taken if taken is not None else (s.orelse or []), report))
                continue
            orelse = taken if taken is not None else s.orelse
            s.cond, s.then = kept[0]
            s.elifs = kept[1:]
            s.orelse = _block(orelse, report) if orelse is not None else None
            out.append(s)
        elif isinstance(s, A.Match):
            s.subject = fold(s.subject, report)
            ok, v = _const(s.subject)
            if ok:
                arm = next((b for p, b in s.arms if p is not None and p.value == v and type(p.value) is type(v)),
                           next((b for p, b in s.arms if p is None), None))
                report.pruned_branches.extend(p.line for p, b in s.arms if b is not arm and p is not None)
                out.extend(_block(arm or [], report))
                continue
            s.arms = [(p, _block(b, report)) for p, b in s.arms]
            out.append(s)
        elif isinstance(s, (A.For, A.While)):
            if isinstance(s, A.For):
                s.iter = fold(s.iter, report)
            else:
                s.cond = fold(s.cond, report)
            s.body = _block(s.body, report)
            out.append(s)
        else:
            out.append(s)
    return out


def optimise(module: A.Module) -> Report:
    report = Report()
    for item in module.items:
        if isinstance(item, A.NetDecl):
            item.body = _block(item.body, report)
        elif isinstance(item, (A.Fn, A.Pure)):
            item.body = fold(item.body, report)
    return report
