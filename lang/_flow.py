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

from typing import Any, get_args, get_origin

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
        call = body[0].value  # type: ignore[union-attr]
        name = dotted(call.func)
        what_ = self.callee(name) if name else None
        if what_ is None or what_[0] not in ("neuro", "net", "pure"):
            self.found.add("name", f"`{name}` is not a neuro or net: declare it with `use {name}`", call.func)
            return None
        return body[0].name, call.args[0].id, (name, what_, call)  # type: ignore[union-attr]

    def _body_net(self, name: str, param: str, input_type: Any, body: list[A.Stmt], result: str, at: Any,
                  scope: Scope) -> Any:
        """A loop body of several steps as a net of its own (param -> `result`), run inline by
        the map or loop node once per item or step; it reads only `param`."""
        outside = sorted(n for n in A.walk_names(body) - A.assigned_names(body) - {param}
                         if isinstance(scope.names.get(n), (Val, Pure)))
        if outside:
            self.found.add("net", f"a loop body of several steps runs as a net of its own, once per "
                                  f"{'item' if isinstance(at, A.For) else 'step'}: it reads only `{param}` and the names "
                                  f"it assigns, not {', '.join(f'`{n}`' for n in outside)}", at)
            return None
        ret = A.Return(value=A.Name(id=result, line=at.line, column=at.column), line=at.line, column=at.column)
        inner = type(self)(A.NetDecl(name=name, param=param, body=[*body, ret], line=at.line, column=at.column),
                           self.found, self.types, self.callee, self.fits, self.accepts, self.stores)
        decl = inner.lower()
        if decl is not None and decl.input is None:
            decl.input = input_type
        self.stores_used = self.stores_used or inner.stores_used
        return decl

    def _result(self, body: list[A.Stmt], what: str, at: Any) -> str | None:
        last = body[-1] if body else None
        if not isinstance(last, A.Assign) or last.how != "value":
            self.found.add("net", f"the last step of a {what} names its result (`y = ...`)", last or at)
            return None
        return last.name

    def for_(self, s: A.For, scope: Scope) -> None:
        items = self.value(s.iter, scope, hint=f"{s.var}_items")
        items = self.as_val(items, "items", scope, s.iter) if items is not None else None
        if _one_call(s.body):
            found = self._single_call(s.body, "for loop", s)
            if found is None:
                return
            target, arg, (name, what, call) = found
            if arg != s.var:
                self.found.add("net", f"a for loop calls its neuro on the item `{s.var}`, not on `{arg}`", call.args[0])
                return
            runs: Any = what[1] if what[0] == "neuro" else name
        else:  # several steps: a net of its own, from the item to the body's last name
            target = self._result(s.body, "for loop's body", s)  # type: ignore[assignment]
            item = _item_type(items.type) if items is not None else None
            runs = self._body_net(f"{self.ast.name}_{s.var}", s.var, item, s.body, target, s, scope) \
                if target is not None else None
            name = runs.name if runs is not None else ""
        if items is None or runs is None or not self.check_name(target, s.body[-1]):
            for n in A.assigned_names(s.body):  # reported already: not once more where they are read
                scope.names.setdefault(n, Partial(None))
            return
        assert self.decl is not None
        nid = self.fresh(target)
        self.decl.map(nid, runs, limit=s.limit or 8)
        self.calls.append(("map", name))
        self.where[nid] = s
        self.feed(items, nid, s.iter)
        val = Val([(nid, None)], target, (), None, at=s)
        scope.names[target] = val
        self.assigned.append((target, val, s.body[-1]))

    def while_(self, s: A.While, scope: Scope) -> None:
        if _one_call(s.body):
            found = self._single_call(s.body, "while loop", s)
            if found is None:
                return
            target, arg, (name, what, call) = found
        else:
            target = arg = self._result(s.body, "while loop's body", s)  # type: ignore[assignment]
            if target is None:
                return
            what, name = ("net", None, None), ""
        if target != arg or not isinstance(scope.names.get(target), Val):
            self.found.add("net", f"a while loop steps one value that exists before it: `{target} = f({target})` "
                                  f"(got `{target} = f({arg})`)", s.body[-1])
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
        if what[1] is None:  # several steps: a net of its own, from the value to its next value
            runs: Any = self._body_net(f"{self.ast.name}_{target}_step", target, old.type, s.body, target, s, scope)
            if runs is None:
                return
            name = runs.name
        else:
            runs = what[1] if what[0] == "neuro" else name
        enter = self.pure(s.cond, scope)
        reply = self.pure(s.cond, Scope({target: Val([], None, (), old.type)}, scope.anchor))
        if enter is None or reply is None:
            return
        gate = self.lam({target: Pure(target, {target: old})}, "gate", s, scope)
        gid = gate.srcs[0][0]
        assert self.decl is not None
        nid = self.fresh(target)
        self.decl.loop(nid, runs, until=f"not {reply.text}", max=s.limit)
        if old.root and not old.path and what[0] == "neuro" and what[2] is not None:
            self.input_seen.append(what[2].input)
        self.calls.append(("loop", name))
        self.where[nid] = s
        self.edge(f"{gid}.{target}", nid, enter.text, s)
        val = Val([(nid, None), (f"{gid}.{target}", f"not {enter.text}")], target, (), old.type, at=s)
        scope.names[target] = val
        self.assigned.append((target, val, s.body[-1]))


def _item_type(tp: Any) -> Any:
    """The type of a list's items (a `list[T]`, or msgspec's description of one), or None."""
    import msgspec

    from neuro.nets._types import as_type

    if get_origin(tp) is list:
        return get_args(tp)[0]
    if isinstance(tp, msgspec.inspect.ListType):
        return as_type(tp.item_type)
    return None


def _one_call(body: list[A.Stmt]) -> bool:
    """Whether a loop's body is one call of a neuro or net on one name (`y = f(x)`): a map or
    loop node of that neuro; anything else is a net of its own."""
    return (len(body) == 1 and isinstance(body[0], A.Assign) and body[0].how == "value"
            and isinstance(body[0].value, A.Call) and len(body[0].value.args) == 1 and not body[0].value.kwargs
            and isinstance(body[0].value.args[0], A.Name) and dotted(body[0].value.func) is not None
            and dotted(body[0].value.func) not in BUILTINS)


def dotted(e: A.Expr) -> str | None:
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Attr):
        inner = dotted(e.obj)
        return f"{inner}.{e.name}" if inner else None
    return None
