"""The compiler's pipeline: parse -> imports -> declarations -> optimise -> nets -> build.

    program = compile_source(text, "pipeline.neuro", kernel=k)      # or neuros=[Inc, Double]
    await k.spawn(program.nets["pipeline"].neuro())                  # every net is a neuro

Names and versions are resolved against what runs (an embedded `kernel`, or a kernel
context inside a system neuro), the Neuro classes given as `neuros`, and a lock file's
versions (`lock`); with none of these (`offline=True`) everything but the neuros' types is
checked. Every problem of every file is reported at once, each at its line and column
(`LangError`); a problem the net checker finds (an edge whose types do not fit, a join) is
reported where the edge or node came from.
"""

from __future__ import annotations

import os
from typing import Any

from neuro._net import Net

from . import _ast as A
from ._emit import python_module
from ._errors import LangError, Located
from ._lower import Lowering
from ._optimise import Report, optimise
from ._parser import parse
from ._policies import policy_toml
from ._types import Types
from ._versions import version_problem

__all__ = ["Program", "compile_source", "compile_file", "read_sources", "MAX_IMPORTS"]

MAX_IMPORTS = 64


class Program:
    """A compiled file: its nets built (`nets`, name -> `neuro.nets.Built`, in the order they
    depend on each other), the declarations as nets (`decls`), the Python modules of its pure
    neuros (`python`), its policies as TOML text, its messages, and what the optimiser did."""

    def __init__(self) -> None:
        self.nets: dict[str, Any] = {}
        self.decls: dict[str, Net] = {}
        self.python: dict[str, str] = {}
        self.policies: dict[str, str] = {}
        self.messages: dict[str, type] = {}
        self.policy_of: dict[str, str] = {}  # net -> the policy it runs under (`net ... policy NAME`)
        self.uses: dict[str, str | None] = {}  # neuro -> the version it resolved to
        self.main: str | None = None  # the net a drop folder runs: named like the file, else the file's only net
        self.own_nets: list[str] = []  # the nets the file itself declares (not its imports')
        self.optimised: Report | None = None
        self.system: list[type] = []  # the system neuros its nets call (the store neuro), to be running

    def describe(self) -> dict[str, Any]:
        return {"main": self.main, "nets": {n: {"version": b.version, **b.show(plan=True)} for n, b in self.nets.items()},
                "neuros": self.uses, "messages": sorted(self.messages), "pure": sorted(self.python),
                "policies": sorted(self.policies), "optimised": self.optimised.as_data() if self.optimised else {}}


def read_sources(path: str) -> dict[str, str]:
    """The text of `path` and of every file it imports (transitively), by absolute path;
    a file that cannot be read is left out (the compiler reports it at its import)."""
    sources: dict[str, str] = {}
    todo = [os.path.abspath(path)]
    while todo and len(sources) <= MAX_IMPORTS:
        p = todo.pop()
        if p in sources:
            continue
        try:
            with open(p, encoding="utf-8") as f:
                sources[p] = f.read()
        except (OSError, UnicodeDecodeError):
            continue
        try:
            module = parse(sources[p], p)
        except LangError:
            continue
        todo += [os.path.normpath(os.path.join(os.path.dirname(p), i.path)) for i in module.items
                 if isinstance(i, A.Import)]
    return sources


def compile_file(path: str, **options: Any) -> Program:
    sources = read_sources(path)
    main = os.path.abspath(path)
    if main not in sources:
        raise LangError(_unreadable(path))
    return compile_source(sources[main], main, sources=sources, **options)


def _unreadable(path: str) -> list[Any]:
    found = Located("", path)
    found.add("import", f"cannot read {path}: check the path (a .neuro file is UTF-8 text)", line=1, column=1)
    return found.found


def compile_source(text: str, file: str | None = None, *, sources: dict[str, str] | None = None,
                   neuros: Any = None, kernel: Any = None, lock: dict[str, str] | None = None,
                   offline: bool = False) -> Program:
    """Compile `text` (the contents of `file`); `sources` holds the files it imports, by
    absolute path (`read_sources`). Raises LangError listing every problem."""
    from neuro.nets import class_resolver
    from neuro.nets import _kernelside

    sources = dict(sources or {})
    modules, found_all = _load(text, file, sources)
    main_found = found_all[0]
    types = Types(main_found)
    program = Program()
    decls: dict[str, tuple[Any, Located]] = {}
    uses: dict[str, tuple[A.Use, Located]] = {}
    channels: dict[str, tuple[A.Channel, Located]] = {}
    stores: dict[str, tuple[A.Store, Located]] = {}
    for module, found in zip(modules, found_all):
        types.found = found
        for item in module.items:
            if isinstance(item, A.Message):
                types.declare(item)
                continue
            if isinstance(item, A.Import):
                continue
            if isinstance(item, (A.Store, A.Channel)):  # the same one in two files is one; two that differ, an error
                table, key = (stores, item.name) if isinstance(item, A.Store) else (channels, item.topic)
                if key in table and table[key][0] != item:
                    found.add("declaration", f"{type(item).__name__.lower()} `{key}` is declared twice, differently "
                                             f"(line {table[key][0].line}); keep one", item)
                    continue
                table[key] = (item, found)  # type: ignore[assignment]
                continue
            name = item.alias or item.neuro if isinstance(item, A.Use) else item.name
            if isinstance(item, A.Use):
                if name in uses and uses[name][0].neuro != item.neuro:
                    found.add("declaration", f"`use {name}` twice, for different neuros", item)
                uses[name] = (item, found)
                continue
            if name in decls and decls[name][0] is not item:
                found.add("declaration", f"`{name}` is declared twice (line {decls[name][0].line}); rename one", item)
                continue
            decls[name] = (item, found)
    types.found = main_found
    program.messages = dict(types.messages)
    for name, (item, found) in decls.items():
        if name in uses:
            found.add("declaration", f"`{name}` is both a neuro in `use` and declared here; rename one", item)
    classes = class_resolver(neuros) if neuros is not None else {}
    live, known = _kernelside.signatures(kernel) if kernel is not None else ((lambda n: None), (lambda: []))
    resolvable = not offline and (neuros is not None or kernel is not None)

    def signature(name: str) -> Any:
        return classes.get(name) or live(name)

    for alias, (use, found) in uses.items():
        if not resolvable:
            program.uses[use.neuro] = None
            continue
        sig = signature(use.neuro)
        if sig is None:
            running = ", ".join(sorted({*classes, *known()})[:20]) or "none"
            found.add("version", f"neuro `{use.neuro}` is not running (running: {running}): start it, or fix the name",
                      use)
            continue
        why = version_problem(use, sig.version, kernel, lock)
        if why:
            found.add("version", why, use)
        program.uses[use.neuro] = sig.version
    report = Report()
    for module in modules:
        r = optimise(module)
        report.folded += r.folded
        report.pruned_branches += r.pruned_branches
    program.optimised = report
    items = {n: it for n, (it, _) in decls.items()}
    for name, (item, found) in decls.items():
        if isinstance(item, A.Fn):
            for p in item.params:
                types.found = found
                types.annotation(p.type)
            types.annotation(item.returns)
        elif isinstance(item, A.Pure):
            types.found = found
            if types.annotation(item.param.type) is not None and item.param.type.name not in types.messages:
                found.add("type", "a pure neuro's input is a message declared in the file", item.param.type)
            if types.annotation(item.returns) is not None and item.returns.name not in types.messages:
                found.add("type", "a pure neuro's output is a message declared in the file", item.returns)
            if not isinstance(item.body, A.Record):
                found.add("type", f"a pure neuro is one record: `neuro {name}(x: In) -> Out = {{field: ...}}`",
                          item.body)
        elif isinstance(item, A.Policy):
            program.policies[name] = policy_toml(item, found)
    accepts: dict[str, Any] = {}  # topic -> the type its channel takes (None: any)
    for topic, (channel, found) in channels.items():
        types.found = found
        accepts[topic] = types.annotation(channel.type)
    kept = {n: _store_type(st, types, found) for n, (st, found) in stores.items()}  # name -> (type, default)
    built: dict[str, Any] = {}
    out_types: dict[str, Any] = {}

    def callee(name: str) -> Any:
        if name in uses:
            use = uses[name][0]
            return ("neuro", use.neuro, signature(use.neuro) if resolvable else None)
        item = items.get(name)
        if isinstance(item, A.Fn):
            return ("fn", item)
        if isinstance(item, A.Pure):
            return ("pure", item)
        if isinstance(item, A.NetDecl):
            return ("net", program.decls.get(name) or Net(name), out_types.get(name))
        return None

    def fits(given: Any, want: Any) -> list[str]:
        from neuro.nets._types import misfit, type_name

        names = sorted({*classes, *known()}) if resolvable else []
        out = []
        for n in names:
            sig = signature(n)
            if sig is None or n == "nets" or n.startswith("lang"):
                continue
            if given is not None and misfit(given, sig.input) is not None:
                continue
            if want is not None and misfit(sig.output, want) is not None:
                continue
            out.append(f"{n} ({type_name(sig.input)} -> {type_name(sig.output)})")
        return out

    fns = {n: it for n, it in items.items() if isinstance(it, A.Fn)}
    order = _net_order(items, main_found, decls)
    for name in order:
        item, found = decls[name]
        types.found = found
        if isinstance(item, A.Pure):
            program.decls[name] = _pure_net(item, types, fns)
            if not found.found and not main_found.found:
                program.python[name] = python_module(item, [m for mod in modules for m in mod.items
                                                            if isinstance(m, A.Message)], item_file(found), fns)
                if resolvable:  # a net of one lambda: what a `for` or `while` over it runs, once spawned
                    from neuro.nets import NetError, build

                    try:
                        built[name] = program.nets[name] = build(program.decls[name])
                    except NetError as e:
                        for p in e.problems:
                            found.add("type", p.message, item.body)
            continue
        if item.policy is not None:
            program.policy_of[name] = item.policy
        low = Lowering(item, found, types, callee, fits, accepts, kept)
        decl = low.lower()
        if decl is None or found.found or main_found.found or not resolvable:
            if decl is not None:
                program.decls[name] = decl
            continue
        program.decls[name] = decl
        _build(program, name, decl, low, found, neuros, built, kernel)
        if name in program.nets:
            out_types[name] = program.nets[name].output
            _subscribe(program.nets[name], item, accepts, found, set(low.publishes.values()))
    every = list({(d.file, d.line, d.column, d.message): d for f in found_all for d in f.found}.values())  # once each
    if every:
        raise LangError(sorted(every, key=lambda d: (d.file != file, d.file or "", d.line or 0, d.column or 0)))
    program.own_nets = [n for n, (it, f) in decls.items() if isinstance(it, A.NetDecl) and f is main_found]
    program.main = _main_net(file, program.own_nets)
    return program


def item_file(found: Located) -> str | None:
    return os.path.basename(found.file) if found.file else None


def _load(text: str, file: str | None, sources: dict[str, str]) -> tuple[list[A.Module], list[Located]]:
    """The main module and every module it imports, each with the Located of its file."""
    modules: list[A.Module] = []
    found: list[Located] = []
    seen: dict[str, int] = {}
    todo: list[tuple[str, str | None, Any]] = [(text, file, None)]
    while todo:
        src, path, at = todo.pop(0)
        located = Located(src, path)
        try:
            module = parse(src, path)
        except LangError as e:
            located.found.extend(e.diagnostics)
            modules.append(A.Module())
            found.append(located)
            continue
        modules.append(module)
        found.append(located)
        for item in module.items:
            if not isinstance(item, A.Import):
                continue
            base = os.path.dirname(path) if path else "."
            target = os.path.normpath(os.path.join(base, item.path))
            if target in seen or target == (os.path.abspath(file) if file else None):
                continue  # imported already (an import cycle is harmless: each file is read once)
            if len(seen) >= MAX_IMPORTS:
                located.add("import", f"more than {MAX_IMPORTS} files imported", item)
                continue
            if target not in sources:
                located.add("import", f"cannot import {item.path!r}: no such file ({target})", item)
                continue
            seen[target] = len(modules)
            todo.append((sources[target], target, item))
    return modules, found


def _net_order(items: dict[str, Any], found: Located, decls: dict[str, tuple[Any, Located]]) -> list[str]:
    """Nets and pure neuros, each after the ones it calls; a cycle of nets is an error."""
    deps = {n: (A.walk_names(it.body) if isinstance(it, A.NetDecl) else set()) & {
        k for k, v in items.items() if isinstance(v, (A.NetDecl, A.Pure))} - {n}
        for n, it in items.items() if isinstance(it, (A.NetDecl, A.Pure))}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            loop = path[path.index(n):] + [n]
            item, f = decls[n]
            f.add("net", f"nets call each other in a cycle ({' -> '.join(loop)}): a net is a graph with no way back; "
                         "use `while` for a loop", item)
            return
        state[n] = 1
        for d in sorted(deps[n]):
            visit(d, [*path, n])
        state[n] = 2
        order.append(n)

    for n in deps:
        visit(n, [])
    return order


def _pure_net(item: A.Pure, types: Types, fns: dict[str, A.Fn]) -> Net:
    """A pure neuro as a net of one lambda node (what a map or loop over it runs)."""
    from ._emit import python_expr

    net = Net(item.name, input=types.annotation(item.param.type), output=types.annotation(item.returns))
    if isinstance(item.body, A.Record):
        rename = lambda n: n  # noqa: E731  the lambda's input field is the parameter
        try:
            net.lam("body", {k: python_expr(v, rename, fns) for k, v in item.body.fields})
        except ValueError as e:
            types.found.add("declaration", f"pure neuro `{item.name}`: {e}", item.body)
        net.edge("in", f"body.{item.param.name}")
        net.edge("body", "out")
    return net


def _build(program: Program, name: str, decl: Net, low: Lowering, found: Located, neuros: Any,
           built: dict[str, Any], kernel: Any) -> None:
    from neuro.nets import NetError, build

    given = dict(neuros) if isinstance(neuros, dict) else {c.__manifest__.name if hasattr(c, "__manifest__")
                                                            else c.name: c for c in (neuros or ())}
    if low.stores_used:  # the store neuro is known to the compiler: it need not run yet to compile
        from ._store import NAME as STORE, StoreHost

        given.setdefault(STORE, StoreHost)
        if StoreHost not in program.system:
            program.system.append(StoreHost)
    try:
        program.nets[name] = b = build(decl, neuros={**given, **built}, kernel=kernel)
    except NetError as e:
        for p in e.problems:
            at = low.where.get(p.node or "") or low.where.get(p.edge or "") or _edge_at(low, p) or low.ast
            found.add("type" if p.kind in ("type", "field", "unconnected", "join", "expression") else "net",
                      _plain(p.message, low) if p.node not in low.publishes or p.kind != "type"
                      else _published(p, low.publishes[p.node]), at)
        return
    built[name] = b


def _edge_at(low: Lowering, p: Any) -> Any:
    text = p.edge or ""
    for key, at in low.where.items():
        if text and key.startswith(text.split(" (when")[0]):
            return at
    return None


def _plain(message: str, low: Lowering) -> str:
    """A net checker's message in the words of the language (its hints name the Python builder)."""
    return message.replace("give it: Net(..., input=Type) or, in a file, [input] fields",
                           f"give it: `net {low.ast.name}({low.ast.param}: Type)`")


def _store_type(st: A.Store, types: Types, found: Located) -> tuple[Any, Any]:
    """The type a store's values have, and its default (a literal that fits it)."""
    import msgspec

    from ._types import literal_value, type_text

    types.found = found
    tp = types.annotation(st.type)
    if st.default is None:
        return tp, None
    ok, value = literal_value(st.default)
    if not ok:
        found.add("declaration", f"store `{st.name}`: a default is a literal (a number, a string, true, false, none "
                                 "or a list of them)", st.default)
        return tp, None
    if tp is not None:
        try:
            msgspec.convert(value, tp)
        except (msgspec.ValidationError, TypeError) as e:
            found.add("type", f"store `{st.name}`: its default {value!r} is not a {type_text(st.type)}: {e}",
                      st.default)
    return tp, value


def _subscribe(built: Any, item: A.NetDecl, accepts: dict[str, Any], found: Located, publishes: set[str]) -> None:
    """`net ... subscribe TOPIC`: each event on TOPIC runs the net; a channel's type must fit its input."""
    from neuro.nets._types import misfit, type_name

    for topic in item.subscribe:
        if topic in publishes:
            found.add("net", f"net `{item.name}` subscribes to `{topic}` and publishes on it: each run would start "
                             "another, without end; publish on another topic", item)
        tp = accepts.get(topic)
        why = misfit(tp, built.input) if tp is not None and tp is not Any else None
        if why is not None:
            found.add("type", f"net `{item.name}` subscribes to `{topic}`, whose channel takes {type_name(tp)}, and "
                              f"its input is {type_name(built.input)}: {why}", item)
    built.subscribe = tuple(dict.fromkeys(item.subscribe))


def _published(p: Any, topic: str) -> str:
    """A publish node's type problem in the words of the language: the channel against the value."""
    why = p.message.split(f"takes {p.target_type}: ", 1)[-1]
    return f"`publish {topic}`: the channel takes {p.target_type}, and this value is {p.source_type}: {why}"


def _main_net(file: str | None, nets: list[str]) -> str | None:
    stem = os.path.basename(file or "").removesuffix(".neuro")
    if stem in nets:
        return stem
    return nets[0] if len(nets) == 1 else None
