"""Compiling one `net` of Neuro-Lang into a Neuro-Net declaration (`sdk.Net`).

Each value of a net body is where it comes from: a `Val` is the output of a node (or a path
into it), with the edges that bring it (several, after an `if`: one per branch, each behind
its condition). A call of a neuro is a node; a scalar expression stays text (`Pure`) until
it is used, and is fused into the lambda node that uses it; a record `{...}` of node values
becomes field edges straight into the node it feeds (fan-in), and a computed one a lambda.

Control flow becomes edges with conditions:

- `if` / `elif` / `else` and `match` start with a *gate*: a lambda that passes on every value
  the branches read, and whose edges into each branch carry the branch's condition (`when`),
  so a branch's nodes run only when it is taken. A name assigned in the branches is, after
  them, the alternatives of its branches (the net's if/else merge);
- `for x in list limit N { y = f(x) }` is a map node (N calls at once);
- `while c limit N { v = f(v) }` is a gate and a loop node (`until not c`, at most N calls);
- `spawn` / `await` mark a call whose result is joined later: every node already runs as
  soon as its inputs are there, so they check that each task is awaited.

Every node and edge made is remembered with the line and column it came from, so a problem
the net checker finds (types, joins) is reported at that place in the file.
"""

from __future__ import annotations

import keyword
from typing import Any, Callable

from neuro._net import NODE_ID, Net

from . import _ast as A
from ._emit import BUILTINS, py_literal
from ._errors import Located
from ._flow import Flow, dotted as _dotted
from ._values import Partial, Pure, RecordV, Scope, Val

__all__ = ["Lowering", "RESERVED"]

RESERVED = {"in", "out", "true", "false", "none", *BUILTINS}


class Lowering(Flow):
    """Lower one net. `callee(name)` says what a called name is: ("neuro", name, Signature
    or None), ("net", Net decl, output type), ("pure", Pure decl), ("fn", Fn decl) or None;
    `fits(input_type)` lists the neuros a hole could be."""

    def __init__(self, net: A.NetDecl, found: Located, types: Any, callee: Callable[[str], Any],
                 fits: Callable[[Any, Any], list[str]], accepts: dict[str, Any] | None = None,
                 stores: dict[str, tuple[Any, Any]] | None = None) -> None:
        self.ast, self.found, self.types, self.callee, self.fits = net, found, types, callee, fits
        self.accepts = accepts or {}  # topic -> the type its `channel` takes
        self.stores = stores or {}  # store -> (the type of its values, its default)
        self.stores_used = False
        self.publishes: dict[str, str] = {}  # publish node id -> its topic
        self.decl: Net | None = None
        self.where: dict[str, Any] = {}  # node id or edge text -> the AST node it came from
        self.used_ids = {"in", "out"} | A.assigned_names(net.body)
        self.ids: set[str] = set()
        self.tasks: dict[str, Any] = {}  # task name -> Assign, until awaited
        self.read: set[int] = set()
        self.assigned: list[tuple[str, Val, Any]] = []
        self.returns = 0
        self.input_seen: list[Any] = []  # input types of the neuros the whole input feeds
        self.output_type: Any = None
        self.calls: list[tuple[str, str]] = []  # (kind, target) of each node, for dependency order
        self._fn_stack: list[str] = []

    # -- helpers ---------------------------------------------------------------------------------

    def fresh(self, base: str) -> str:
        base = base.replace(".", "_").replace("-", "_").lower()
        if not base or not base[0].isalpha():
            base = "n" + base
        base = base[:50]
        candidate, i = base, 1
        while candidate in self.ids or (candidate in self.used_ids and candidate != base) or \
                candidate in RESERVED or not NODE_ID.match(candidate) or keyword.iskeyword(candidate):
            i += 1
            candidate = f"{base}_{i}"
        self.ids.add(candidate)
        return candidate

    def edge(self, src: str, dst: str, when: str | None, at: Any) -> None:
        assert self.decl is not None
        self.decl.edge(src, dst, when=when)
        self.where[str(self.decl.edges[-1])] = at

    def feed(self, val: Val, dst: str, at: Any) -> None:
        for ep, when in val.endpoints():
            self.edge(ep, dst, when, at)

    def lam(self, fields: dict[str, Pure], hint: str, at: Any, scope: Scope) -> Val:
        assert self.decl is not None
        nid = self.fresh(hint)
        deps: dict[str, Val] = {}
        for p in fields.values():
            deps.update(p.deps)
        if not deps:
            a = scope.anchor
            deps[a.field or "anchor"] = a
        self.decl.lam(nid, {f: p.text for f, p in fields.items()})
        self.where[nid] = at
        for f, v in deps.items():
            self.feed(Val(v.srcs, v.field, (), v.type), f"{nid}.{f}", at)
        return Val([(nid, None)], nid, (), None, at=at)

    # -- the net ---------------------------------------------------------------------------------

    def lower(self) -> Net | None:
        n = self.ast
        input_type = self.types.annotation(n.input) if n.input is not None else None
        self.output_type = self.types.annotation(n.output) if n.output is not None else None
        self.decl = Net(n.name, input=input_type, output=self.output_type, memo=n.memo if n.memo is not None else True,
                        deadline=n.deadline if n.deadline is not None else 30.0, ray_graph=bool(n.ray_graph))
        self.decl.source = self.found.file
        self.check_name(n.param, n)
        root = Val([("in", None)], n.param, (), input_type, at=n, root=True)
        scope = Scope({n.param: root}, root)
        self.read.add(id(root))
        self.block(n.body, scope)
        if self.decl.input is None and self.input_seen:
            self.decl.input = self.input_seen[0]  # (through a gate the net checker cannot see it)
        if self.returns == 0:
            self.found.add("net", f"net `{n.name}` never returns: end it with `return VALUE`", n)
        for name, val, at in self.assigned:
            if id(val) not in self.read and not val.task:
                self.found.add("net", f"`{name}` is assigned but never used: use it, or remove the line", at)
        for name, at in self.tasks.items():
            self.found.add("net", f"task `{name}` is spawned but never awaited: add `x = await {name}`", at)
        return self.decl

    def check_name(self, name: str, at: Any) -> bool:
        if name in RESERVED or keyword.iskeyword(name) or not NODE_ID.match(name):
            self.found.add("name", f"`{name}` cannot name a value: names are lower case letters, digits and '_', "
                                   f"starting with a letter, and not one of: in, out, {', '.join(BUILTINS)}, or a "
                                   "Python keyword", at)
            return False
        return True

    def block(self, stmts: list[A.Stmt], scope: Scope) -> None:
        for i, s in enumerate(stmts):
            if isinstance(s, A.Return) and i != len(stmts) - 1:
                self.found.add("net", "nothing may follow `return` in a block", stmts[i + 1])
            if isinstance(s, A.Assign):
                self.assign(s, scope)
            elif isinstance(s, A.Return):
                self.returns += 1
                self.into("out", s.value, scope, s, is_return=True)
            elif isinstance(s, A.Publish):
                self.publish(s, scope)
            elif isinstance(s, (A.Get, A.Put)):
                self.store_op(s, scope)
            elif isinstance(s, A.If):
                arms = [(s.cond, s.then), *s.elifs]
                self.branches([(c, b) for c, b in arms], s.orelse, scope, s)
            elif isinstance(s, A.Match):
                self.match(s, scope)
            elif isinstance(s, A.For):
                self.for_(s, scope)
            elif isinstance(s, A.While):
                self.while_(s, scope)

    def assign(self, s: A.Assign, scope: Scope) -> None:
        if not self.check_name(s.name, s):
            return
        if s.how == "await":
            task = scope.names.get(s.value.id)  # type: ignore[union-attr]
            if not isinstance(task, Val) or not task.task:
                self.found.add("net", f"`{s.value.id}` is not a task: `await` takes a name given by "  # type: ignore
                                      "`name = spawn f(...)`", s.value)
                return
            self.read.add(id(task))
            self.tasks.pop(s.value.id, None)  # type: ignore[union-attr]
            val = Val(task.srcs, s.name, task.path, task.type, False, s)
            scope.names[s.name] = val
            self.assigned.append((s.name, val, s))
            return
        if s.how == "spawn" and not isinstance(s.value, A.Call):
            self.found.add("net", "`spawn` starts a call: `t = spawn f(x)`", s.value)
            return
        value = self.value(s.value, scope, hint=s.name)
        if value is None:
            scope.names[s.name] = Partial(None)
            return
        if isinstance(value, RecordV):
            value = self.record_node(value, s.name, scope)
        if isinstance(value, Val):
            val = value.named(s.name)
            val.at = s
            if s.how == "spawn":
                val.task = True
                self.tasks[s.name] = s
            scope.names[s.name] = val
            self.assigned.append((s.name, val, s))
        else:
            scope.names[s.name] = value  # a scalar: fused into whatever reads it

    def publish(self, s: A.Publish, scope: Scope) -> None:
        """A publish node fed by the value: a sink, whose type the net checker checks against
        the channel's (a misfit is reported here, `_program._build`)."""
        if s.topic not in self.accepts:
            declared = ", ".join(sorted(self.accepts)) or "none"
            self.found.add("name", f"`publish {s.topic}`: no `channel {s.topic}: Type` declares that topic (the "
                                   f"channels here: {declared}); declare it (`any` takes every value)", s)
            return
        hint = "publish_" + s.topic.replace("-", "_").split(".")[-1]
        got = self.value(s.value, scope, hint=hint)
        if got is None:
            return
        if isinstance(got, Pure):  # a single value: a lambda computes it, its field is what is published
            got = self.lam({"value": got}, f"{hint}_value", s.value, scope).sub("value")
        elif isinstance(got, RecordV):
            got = self.record_node(got, f"{hint}_value", scope)
        assert self.decl is not None
        nid = self.fresh(hint)
        tp = self.accepts[s.topic]
        self.decl.publish(nid, s.topic, accepts=None if tp is Any else tp)
        self.where[nid] = s
        self.publishes[nid] = s.topic
        self.feed(got, nid, s)

    def store_op(self, s: A.Get | A.Put, scope: Scope) -> None:
        """A lambda that writes the request, and a call of the store neuro (`lang.store`, never
        memoised: its answers are not a function of its input); a put is a sink."""
        from ._store import NAME as STORE

        if isinstance(s, A.Get) and not self.check_name(s.name, s):
            return
        if s.store not in self.stores:
            declared = ", ".join(sorted(self.stores)) or "none"
            self.found.add("name", f"unknown store `{s.store}`: declare it, `store {s.store}: Type` (the stores here: "
                                   f"{declared})", s)
            if isinstance(s, A.Get):
                from ._values import Partial

                scope.names[s.name] = Partial(None)
            return
        tp, default = self.stores[s.store]
        key = self.pure(s.key, scope)
        value = self.pure(s.value, scope) if isinstance(s, A.Put) else Pure(py_literal(default))
        if key is None or value is None:
            return
        op = "put" if isinstance(s, A.Put) else "get"
        hint = f"{op}_{s.store}"
        fields = {"op": Pure(repr(op)), "store": Pure(repr(s.store)), "key": Pure(f"str({key.text})", key.deps),
                  "value" if op == "put" else "default": value}
        request = self.lam(fields, f"{hint}_request", s, scope)
        assert self.decl is not None
        nid = self.fresh(hint)
        self.decl.node(nid, STORE, memo=False, sink=op == "put")
        self.calls.append(("neuro", STORE))
        self.where[nid] = s
        self.stores_used = True
        self.feed(request, nid, s)
        if isinstance(s, A.Get):
            val = Val([(f"{nid}.value", None)], s.name, (), tp, at=s)
            scope.names[s.name] = val
            self.assigned.append((s.name, val, s))

    # -- expressions -------------------------------------------------------------------------------

    def lookup(self, e: A.Name, scope: Scope) -> Any:
        found = scope.names.get(e.id)
        if isinstance(found, Partial):
            if found.why is None:
                return None
            self.found.add("name", f"`{e.id}` is assigned on some branches only, so it may not be there here "
                                   f"({found.why}); assign it on every branch (or before the branches)", e)
            return None
        if found is None:
            what = self.callee(e.id)
            if what is not None:
                self.found.add("name", f"`{e.id}` is a {what[0]}: call it, `{e.id}(...)`", e)
            else:
                known = ", ".join(sorted(k for k, v in scope.names.items() if not isinstance(v, Partial))) or "none"
                self.found.add("name", f"unknown name `{e.id}` (the names here: {known})", e)
            return None
        if isinstance(found, Val):
            if found.task:
                self.found.add("net", f"`{e.id}` is a task: await it first (`r = await {e.id}`)", e)
                return None
            self.read.add(id(found))
        return found

    def value(self, e: A.Expr, scope: Scope, hint: str = "v") -> Any:
        """Val, Pure or RecordV for `e`; None after reporting a problem."""
        if isinstance(e, A.Name):
            return self.lookup(e, scope)
        if isinstance(e, A.Lit):
            return Pure(py_literal(e.value))
        if isinstance(e, A.Attr):
            name = _dotted(e)
            if name is not None and name.split(".")[0] not in scope.names and self.callee(name) is not None:
                self.found.add("name", f"`{name}` is a {self.callee(name)[0]}: call it, `{name}(...)`", e)
                return None
            inner = self.value(e.obj, scope, hint)
            if inner is None:
                return None
            if isinstance(inner, Val):
                return inner.sub(e.name)
            if isinstance(inner, RecordV):
                if e.name not in inner.fields:
                    self.found.add("name", f"the record has no field `{e.name}` (its fields: "
                                           f"{', '.join(inner.fields)})", e)
                    return None
                return inner.fields[e.name]
            return Pure(f"{inner.text}.{e.name}", inner.deps)
        if isinstance(e, A.Record):
            fields: dict[str, Any] = {}
            for k, v in e.fields:
                if k in fields:
                    self.found.add("name", f"field `{k}` is given twice", v)
                got = self.value(v, scope, hint=k)
                if got is None:
                    return None
                fields[k] = got
            return RecordV(fields, e, dict(e.fields))
        if isinstance(e, A.Call):
            return self.call(e, scope, hint)
        if isinstance(e, A.Hole):
            self.hole(e, None, scope)
            return None
        parts = [self.pure(x, scope) if x is not None else Pure("") for x in _operands(e)]
        if any(p is None for p in parts):
            return None
        deps: dict[str, Val] = {}
        for p in parts:
            deps.update(p.deps)
        t = [p.text for p in parts]
        if isinstance(e, (A.BinOp, A.Compare, A.BoolOp)):
            return Pure(f"({t[0]} {e.op} {t[1]})", deps)
        if isinstance(e, A.Unary):
            return Pure(f"(not {t[0]})" if e.op == "not" else f"(-{t[0]})", deps)
        if isinstance(e, A.Index):
            return Pure(f"{t[0]}[{t[1]}]", deps)
        if isinstance(e, A.Slice):
            return Pure(f"{t[0]}[{t[1]}:{t[2]}]", deps)
        if isinstance(e, A.ListLit):
            return Pure("[" + ", ".join(t) + "]", deps)
        raise AssertionError(f"compiler bug: no lowering for {type(e).__name__}")

    def pure(self, e: A.Expr, scope: Scope) -> Pure | None:
        """`e` as lambda text (a node's value is read by its field name)."""
        got = self.value(e, scope)
        if got is None:
            return None
        if isinstance(got, Pure):
            return got
        if isinstance(got, RecordV):
            parts = {k: self.as_pure(v) for k, v in got.fields.items()}
            deps: dict[str, Val] = {}
            for p in parts.values():
                deps.update(p.deps)
            return Pure("{" + ", ".join(f"{k!r}: {p.text}" for k, p in parts.items()) + "}", deps)
        return self.as_pure(got)

    def as_pure(self, v: Any) -> Pure:
        if isinstance(v, Pure):
            return v
        if isinstance(v, RecordV):
            parts = {k: self.as_pure(x) for k, x in v.fields.items()}
            deps: dict[str, Val] = {}
            for p in parts.values():
                deps.update(p.deps)
            return Pure("{" + ", ".join(f"{k!r}: {p.text}" for k, p in parts.items()) + "}", deps)
        field = v.field or "anchor"
        text = ".".join([field, *v.path]) if v.field is not None else ".".join(v.path)
        return Pure(text, {field: v} if v.field is not None else {})

    def record_node(self, rec: RecordV, hint: str, scope: Scope) -> Val:
        return self.lam({k: self.as_pure(v) for k, v in rec.fields.items()}, hint, rec.at, scope)

    def as_val(self, got: Any, hint: str, scope: Scope, at: Any) -> Val | None:
        if isinstance(got, Val):
            return got
        if isinstance(got, RecordV):
            return self.record_node(got, hint, scope)
        self.found.add("type", "a message is needed here, not a single value: give a node's value, a record "
                               "{field: ...}, or named fields f(field: ...)", at)
        return None

    # -- calls -----------------------------------------------------------------------------------

    def call(self, e: A.Call, scope: Scope, hint: str) -> Any:
        if isinstance(e.func, A.Hole):
            arg = self.arg_value(e, scope, "hole")
            self.hole(e.func, arg, scope)
            return None
        name = _dotted(e.func)
        if name is None:
            self.found.add("name", "only a name can be called (a neuro, net, fn or one of "
                                   f"{', '.join(BUILTINS)})", e.func)
            return None
        if name in BUILTINS:
            return self.builtin(e, name, scope)
        what = self.callee(name)
        if what is None:
            self.found.add("name", f"unknown name `{name}`: declare the neuro with `use {name}`, or define "
                                   f"`fn {name}`, `net {name}` or `neuro {name}`", e.func)
            return None
        kind = what[0]
        if kind == "fn":
            return self.inline_fn(e, what[1], scope)
        if kind == "pure":
            arg = self.arg_value(e, scope, hint)
            if arg is None:
                return None
            pure: A.Pure = what[1]
            inner = Scope({pure.param.name: arg}, arg)
            body = self.value(pure.body, inner, hint)  # inlined: a lambda, not a call
            if not isinstance(body, RecordV):
                return None
            val = self.record_node(body, hint if hint != "v" else pure.name, scope)
            self.where[val.srcs[0][0]] = e
            val.type = self.types.annotation(pure.returns)
            return val
        nid = self.fresh(hint if hint != "v" else name.split(".")[-1])
        assert self.decl is not None
        if kind == "net":
            self.decl.node(nid, what[1])
            out_type = what[2]
        else:
            self.decl.node(nid, what[1])
            out_type = what[2].output if what[2] is not None else None
        self.calls.append((kind, name))
        self.where[nid] = e
        if kind == "neuro" and what[2] is not None and len(e.args) == 1 and isinstance(e.args[0], A.Name):
            arg = scope.names.get(e.args[0].id)
            if isinstance(arg, Val) and arg.root and not arg.path:
                self.input_seen.append(what[2].input)
        if not self.wire(nid, e, scope, nid):
            return None
        return Val([(nid, None)], nid, (), out_type, at=e)

    def arg_value(self, e: A.Call, scope: Scope, hint: str) -> Val | None:
        if e.kwargs and e.args or len(e.args) > 1:
            self.found.add("type", "a neuro takes one message: give one value, or named fields, not both", e)
            return None
        if e.kwargs:
            got: Any = self.value(A.Record(fields=e.kwargs, line=e.line, column=e.column), scope, hint)
        elif e.args:
            got = self.value(e.args[0], scope, hint)
        else:
            self.found.add("type", "give the call its input: f(value) or f(field: value, ...)", e)
            return None
        if got is None:
            return None
        return self.as_val(got, f"{hint}_in", scope, e)

    def wire(self, target: str, e: A.Call, scope: Scope, hint: str) -> bool:
        if e.kwargs and e.args or len(e.args) > 1:
            self.found.add("type", "a neuro takes one message: give one value, or named fields, not both", e)
            return False
        if not e.args and not e.kwargs:
            self.found.add("type", "give the call its input: f(value) or f(field: value, ...)", e)
            return False
        got = self.value(A.Record(fields=e.kwargs, line=e.line, column=e.column), scope, hint) if e.kwargs \
            else self.value(e.args[0], scope, hint)
        return self.place(got, target, scope, e, hint, e.args[0] if e.args else e)

    def place(self, got: Any, target: str, scope: Scope, at: Any, hint: str, arg_at: Any = None) -> bool:
        """Edges that bring `got` into node `target` (or `out`)."""
        if got is None:
            return False
        if isinstance(got, RecordV) and all(isinstance(v, Val) for v in got.fields.values()):
            for k, v in got.fields.items():
                self.feed(v, f"{target}.{k}", got.exprs.get(k, at))  # fan-in: fields straight into fields
            return True
        val = self.as_val(got, f"{hint}_in", scope, arg_at or at)
        if val is None:
            return False
        self.feed(val, target, at)
        return True

    def into(self, target: str, e: A.Expr, scope: Scope, at: Any, is_return: bool = False) -> None:
        if is_return and isinstance(e, A.Call) and isinstance(e.func, A.Hole):
            arg = self.arg_value(e, scope, "hole")
            self.hole(e.func, arg, scope, want=self.output_type)
            return
        got = self.value(e, scope, hint="result")
        self.place(got, target, scope, at, "result")

    def builtin(self, e: A.Call, name: str, scope: Scope) -> Pure | None:
        if e.kwargs:
            self.found.add("type", f"`{name}` takes no named arguments", e)
            return None
        parts = [self.pure(a, scope) for a in e.args]
        if any(p is None for p in parts):
            return None
        deps: dict[str, Val] = {}
        for p in parts:
            deps.update(p.deps)  # type: ignore[union-attr]
        texts = [p.text for p in parts]  # type: ignore[union-attr]
        if name == "choose":
            if len(texts) != 3:
                self.found.add("type", "choose(condition, then, else) takes 3 arguments", e)
                return None
            return Pure(f"({texts[1]} if {texts[0]} else {texts[2]})", deps)
        return Pure(f"{name}({', '.join(texts)})", deps)

    def inline_fn(self, e: A.Call, fn: A.Fn, scope: Scope) -> Pure | None:
        if e.kwargs or len(e.args) != len(fn.params):
            self.found.add("type", f"fn `{fn.name}` takes {len(fn.params)} argument"
                                   f"{'s' if len(fn.params) != 1 else ''} by position "
                                   f"({', '.join(p.name for p in fn.params)}), got {len(e.args) + len(e.kwargs)}", e)
            return None
        if fn.name in self._fn_stack:
            self.found.add("declaration", f"fn `{fn.name}` calls itself (through "
                                          f"{' -> '.join([*self._fn_stack, fn.name])}): a fn is a small pure "
                                          "expression, inlined where it is called, so it may not recurse", e)
            return None
        parts = [self.pure(a, scope) for a in e.args]
        if any(p is None for p in parts):
            return None
        inner = Scope({p.name: part for p, part in zip(fn.params, parts)}, scope.anchor)
        self._fn_stack.append(fn.name)
        try:
            return self.pure(fn.body, inner)
        finally:
            self._fn_stack.pop()

    def hole(self, at: A.Hole, arg: Val | None, scope: Scope, want: Any = None) -> None:
        from neuro.nets._types import type_name

        given = arg.type if arg is not None else None
        fits = self.fits(given, want)
        where = f" for an input of type {type_name(given)}" if given is not None else ""
        self.found.add("hole", f"a hole (`?`) is to be filled{where}: the neuros whose types fit here: "
                               f"{', '.join(fits) or 'none'}", at, fits=fits)

def _operands(e: A.Expr) -> list[Any]:
    if isinstance(e, (A.BinOp, A.Compare, A.BoolOp)):
        return [e.left, e.right]
    if isinstance(e, A.Unary):
        return [e.operand]
    if isinstance(e, A.Index):
        return [e.obj, e.index]
    if isinstance(e, A.Slice):
        return [e.obj, e.lo, e.hi]
    if isinstance(e, A.ListLit):
        return list(e.items)
    return []
