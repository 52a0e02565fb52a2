"""Control flow of a net body: `if`/`elif`/`else`, `match`, `for` and `while` as edges.

- `if` and `match` start with a *gate*: a lambda that passes on every value the branches
  read, whose edges into each branch carry that branch's condition (`when`, first match
  wins), so a branch's nodes run only when it is taken. A name assigned in every branch (or
  before the branches) is, after them, the alternatives of its branches (the net's if/else
  merge); one assigned on some branches only may not be read after them;
- `for x in list limit N { y = f(x) }` is a map node;
- `while c limit N { v = f(v) }` is a gate (c before the first call) and a loop node
  (`until not c`, at most N calls).
"""

from __future__ import annotations

from typing import Any

from . import _ast as A
from ._emit import BUILTINS
from ._values import Partial, Pure, Scope, Val

__all__ = ["Flow"]


class Flow:
    """The control-flow part of `_lower.Lowering` (it provides lam, block, pure, value, ...)."""

    # -- control flow ----------------------------------------------------------------------------

    def branches(self, arms: list[tuple[A.Expr, list[A.Stmt]]], orelse: list[A.Stmt] | None, scope: Scope,
                 at: Any) -> None:
        conds = [self.pure(c, scope) for c, _ in arms]
        if any(c is None for c in conds):
            return
        blocks = [b for _, b in arms] + [orelse or []]
        reads = A.walk_names(blocks) | A.assigned_names([s for b in blocks for s in b])
        passed: dict[str, Val] = {}
        for c in conds:
            passed.update(c.deps)  # type: ignore[union-attr]
        for name in sorted(reads):
            v = scope.names.get(name)
            if isinstance(v, Val) and not v.task:
                self.read.add(id(v))
                passed.setdefault(name, v)
            elif isinstance(v, Pure):
                passed.update(v.deps)
        if not passed:
            passed[scope.anchor.field or "anchor"] = scope.anchor
        gate = self.lam({f: Pure(f, {f: v}) for f, v in passed.items()}, "gate", at, scope)
        gid = gate.srcs[0][0]
        texts = [c.text for c in conds]  # type: ignore[union-attr]
        whens = [" and ".join([*(f"(not {t})" for t in texts[:i]), texts[i]]) for i in range(len(texts))]
        whens.append(" and ".join(f"(not {t})" for t in texts))
        outcomes: list[Scope] = []
        for when, block in zip(whens, blocks):
            inner = scope.copy()
            gated = {f: Val([(f"{gid}.{f}", when)], f, (), v.type, at=v.at, root=v.root)
                     for f, v in passed.items()}
            for name, v in scope.names.items():
                if isinstance(v, Val) and name in gated:
                    inner.names[name] = gated[name]
                    self.read.add(id(gated[name]))
                elif isinstance(v, Pure):
                    inner.names[name] = Pure(v.text, {f: gated.get(f, d) for f, d in v.deps.items()})
            inner.anchor = next(iter(gated.values()))
            self.block(block, inner)
            outcomes.append(inner)
        for name in sorted(A.assigned_names([s for b in blocks for s in b])):
            got = [o.names.get(name) for o in outcomes]
            for g in got:
                if isinstance(g, Val):
                    self.read.add(id(g))  # merged, or reported as assigned on some branches only
            if any(isinstance(g, Partial) or g is None for g in got) or not all(isinstance(g, (Val, Pure)) for g in got):
                scope.names[name] = Partial(f"it is assigned in a branch of line {at.line} but not in every one")
                continue
            if not all(isinstance(g, Val) for g in got):
                scope.names[name] = Partial(f"a single value assigned in the branches of line {at.line} is not "
                                            "merged: assign a record {x: ...} or a node's value")
                continue
            vals: list[Val] = got  # type: ignore[assignment]
            srcs = [s for v in vals for s in v.endpoints()]
            merged = Val(srcs, name, (), vals[0].type, at=at)
            for v in vals:
                self.read.add(id(v))
            scope.names[name] = merged
            self.assigned.append((name, merged, at))

    def match(self, s: A.Match, scope: Scope) -> None:
        arms: list[tuple[A.Expr, list[A.Stmt]]] = []
        orelse = None
        for i, (pattern, block) in enumerate(s.arms):
            if pattern is None:
                if i != len(s.arms) - 1:
                    self.found.add("net", "the `_` arm matches everything: put it last", s)
                orelse = block
                continue
            arms.append((A.Compare(op="==", left=s.subject, right=pattern, line=pattern.line, column=pattern.column),
                         block))
        if not arms:
            self.found.add("net", "a match needs an arm with a value (`1 => { ... }`) besides `_`", s)
            return
        self.branches(arms, orelse, scope, s)

    def _single_call(self, body: list[A.Stmt], what: str, at: Any) -> tuple[str, str, Any] | None:
        if len(body) != 1 or not isinstance(body[0], A.Assign) or body[0].how != "value" \
                or not isinstance(body[0].value, A.Call) or len(body[0].value.args) != 1 or body[0].value.kwargs \
                or not isinstance(body[0].value.args[0], A.Name):
            self.found.add("net", f"the body of a {what} is one call of a neuro or net on one name "
                                  "(`y = f(x)`); put more steps in a `net` of their own and call that", at)
            return None
        call = body[0].value
        name = dotted(call.func)
        what_ = self.callee(name) if name else None
        if what_ is None or what_[0] not in ("neuro", "net", "pure"):
            self.found.add("name", f"`{name}` is not a neuro or net: declare it with `use {name}`", call.func)
            return None
        return body[0].name, call.args[0].id, (name, what_, call)

    def for_(self, s: A.For, scope: Scope) -> None:
        found = self._single_call(s.body, "for loop", s)
        if found is None:
            return
        target, arg, (name, what, call) = found
        if arg != s.var:
            self.found.add("net", f"a for loop calls its neuro on the item `{s.var}`, not on `{arg}`", call.args[0])
            return
        items = self.value(s.iter, scope, hint=f"{s.var}_items")
        items = self.as_val(items, "items", scope, s.iter) if items is not None else None
        if items is None or not self.check_name(target, s.body[0]):
            return
        assert self.decl is not None
        nid = self.fresh(target)
        self.decl.map(nid, what[1] if what[0] == "neuro" else name, limit=s.limit or 8)
        self.calls.append(("map", name))
        self.where[nid] = s
        self.feed(items, nid, s.iter)
        val = Val([(nid, None)], target, (), None, at=s)
        scope.names[target] = val
        self.assigned.append((target, val, s.body[0]))

    def while_(self, s: A.While, scope: Scope) -> None:
        found = self._single_call(s.body, "while loop", s)
        if found is None:
            return
        target, arg, (name, what, call) = found
        if target != arg or not isinstance(scope.names.get(target), Val):
            self.found.add("net", f"a while loop steps one value that exists before it: `{target} = f({target})` "
                                  f"(got `{target} = f({arg})`)", s.body[0])
            return
        reads = A.walk_names(s.cond) - set(BUILTINS)
        if reads - {target}:
            self.found.add("net", f"a while condition reads only the value it steps (`{target}`), here also "
                                  f"{', '.join(sorted(reads - {target}))}", s.cond)
            return
        if not (1 <= s.limit <= 10_000):
            self.found.add("net", f"`limit` bounds the loop: 1 to 10000 calls, got {s.limit}", s)
            return
        old: Val = scope.names[target]
        self.read.add(id(old))
        enter = self.pure(s.cond, scope)
        reply = self.pure(s.cond, Scope({target: Val([], None, (), old.type)}, scope.anchor))
        if enter is None or reply is None:
            return
        gate = self.lam({target: Pure(target, {target: old})}, "gate", s, scope)
        gid = gate.srcs[0][0]
        assert self.decl is not None
        nid = self.fresh(target)
        self.decl.loop(nid, what[1] if what[0] == "neuro" else name, until=f"not {reply.text}", max=s.limit)
        if old.root and not old.path and what[0] == "neuro" and what[2] is not None:
            self.input_seen.append(what[2].input)
        self.calls.append(("loop", name))
        self.where[nid] = s
        self.edge(f"{gid}.{target}", nid, enter.text, s)
        val = Val([(nid, None), (f"{gid}.{target}", f"not {enter.text}")], target, (), old.type, at=s)
        scope.names[target] = val
        self.assigned.append((target, val, s.body[0]))




def dotted(e: A.Expr) -> str | None:
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Attr):
        inner = dotted(e.obj)
        return f"{inner}.{e.name}" if inner else None
    return None
