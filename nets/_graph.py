"""Building a net: resolve its nodes, check its graph and every edge's types, name its version.

`build(decl, resolve)` takes a declaration (`neuro._net.Net`) and a resolver (neuro name ->
`Signature`) and returns a `Graph`, or raises `NetError` listing every problem at once (as
torch's `load_state_dict` lists every key): unknown neuros, edges between nodes that do not
exist, cycles (a net's edges may not loop; a `loop` node is the bounded loop), nodes the
input never reaches, nodes whose output never reaches the output (dead ends), required input
fields no edge fills, and edges whose source type does not fit the target (`_types.misfit`),
each naming the edge, the field path and both types.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, NamedTuple

import msgspec

from neuro._net import INPUT, NODE_ID, OUTPUT, EdgeDecl, Net, NodeDecl

from ._expr import Expr, ExprError, compile_expr
from ._predicate import NeuroCondition, is_predicate
from ._types import misfit, type_name

__all__ = ["Signature", "Problem", "NetError", "Endpoint", "Edge", "Node", "Graph", "build_graph"]


class Signature(NamedTuple):
    """What a net needs to know of a neuro: its message types and its running version."""

    name: str
    input: Any
    output: Any
    version: str


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with a net: its `kind`, the `edge` or `node` it is at, and the text."""

    kind: str  # type, unknown_neuro, unknown_node, cycle, unreachable, dead_end, unconnected, ...
    message: str
    edge: str | None = None
    node: str | None = None
    source_type: str | None = None
    target_type: str | None = None


class NetError(ValueError):
    """A net that does not build; `problems` lists each thing wrong with it."""

    def __init__(self, net: str, problems: list[Problem], file: str | None = None) -> None:
        self.net, self.problems, self.file = net, problems, file
        where = f"{file}: " if file else ""
        lines = "\n".join(f"  - {p.message}" for p in problems)
        super().__init__(f"{where}net {net!r} does not build ({len(problems)} problem"
                         f"{'s' if len(problems) != 1 else ''}):\n{lines}")


class Endpoint(NamedTuple):
    node: str
    path: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join((self.node, *self.path))


class Edge:
    __slots__ = ("src", "dst", "when", "text", "index")

    def __init__(self, src: Endpoint, dst: Endpoint, when: Expr | None, text: str, index: int) -> None:
        self.src, self.dst, self.when, self.text, self.index = src, dst, when, text, index


class Node:
    """A checked node: its input and output types, its version, what it runs."""

    __slots__ = ("id", "kind", "neuro", "sub", "input", "output", "version", "exprs", "until", "limit", "max",
                 "memo", "timeout", "ins", "outs", "lam_type", "broken", "topic", "sink")

    def __init__(self, decl: NodeDecl) -> None:
        self.id, self.kind = decl.id, decl.kind
        self.neuro: str | None = None
        self.sub: Graph | None = None
        self.input: Any = Any
        self.output: Any = Any
        self.version = ""
        self.exprs: dict[str, Expr] = {}
        self.until: Expr | None = None
        self.limit, self.max, self.memo, self.timeout = decl.limit, decl.max, decl.memo, decl.timeout
        self.ins: list[Edge] = []
        self.outs: list[Edge] = []
        self.lam_type: Any = None
        self.broken = False  # a problem is reported for it already: its output is Any, not a second problem
        self.topic: str | None = decl.topic  # a publish node's
        self.sink = decl.sink  # a side effect: it need not lead to 'out'


class Graph:
    """A net that built: nodes in a topological order, edges, types and version."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.input: Any = None
        self.output: Any = None
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        self.order: list[str] = []
        self.version = ""
        self.memo = True
        self.deadline = 30.0
        self.description = ""
        self.decl: Net | None = None
        self.into_out: list[Edge] = []
        self.from_in: list[Edge] = []
        self.chain_specs: dict[str, list[Any]] = {}  # the runner's fast path, by prefix (_runner._chain)
        self.always: dict[str, bool] = {}  # node -> whether it runs on every input (_typecheck._always)

    def signature(self) -> Signature:
        return Signature(self.name, self.input, self.output, self.version)


Resolver = Callable[[str], "Signature | None"]


def build_graph(decl: Net, resolve: Resolver, known: Callable[[], list[str]] = lambda: [],
                depth: int = 0) -> Graph:
    problems: list[Problem] = [Problem("declaration", p) for p in decl.problems]
    g = Graph(decl.name)
    g.decl, g.memo, g.deadline, g.description = decl, decl.memo, decl.deadline, decl.description
    if depth > 16:
        raise NetError(decl.name, [Problem("nesting", f"nets nest deeper than 16 inside {decl.name!r}")], decl.source)
    for nd in decl.nodes.values():
        if nd.id in (INPUT, OUTPUT) or not NODE_ID.match(nd.id):
            problems.append(Problem("node_id", f"node id {nd.id!r} is not allowed: lower case letters, digits and "
                                    "'_', starting with a letter; 'in' and 'out' are the net's own", node=nd.id))
            continue
        node = Node(nd)
        _resolve_node(node, nd, resolve, known, problems, depth)
        g.nodes[nd.id] = node
    for i, ed in enumerate(decl.edges):
        edge = _edge(ed, i, g, problems)
        if edge is not None:
            g.edges.append(edge)
            if isinstance(edge.when, NeuroCondition):
                _resolve_condition(edge, edge.when, resolve, known, problems)
    if not g.nodes:
        problems.append(Problem("empty", f"net {decl.name!r} has no nodes; add one with net.node(...)"))
    order = _order(g, problems) if not problems or all(p.kind != "unknown_node" for p in problems) else None
    if order is not None:
        _reach(g, problems)
        g.order = order
        if not any(p.kind in ("cycle", "unreachable", "dead_end") for p in problems):
            from ._typecheck import check_types  # (it needs this module's classes)

            check_types(g, decl, problems)
    if problems:
        raise NetError(decl.name, problems, decl.source)
    g.version = _version(g)
    return g


# -- nodes and edges --------------------------------------------------------------------------------


def _resolve_condition(edge: Edge, cond: NeuroCondition, resolve: Resolver, known: Callable[[], list[str]],
                       problems: list[Problem]) -> None:
    sig = resolve(cond.neuro)
    if sig is None:
        running = ", ".join(sorted(known())[:20]) or "none"
        problems.append(Problem("unknown_neuro", f"edge {edge.text}: `when` names unknown neuro {cond.neuro!r}: it is "
                                f"not running and was not given to build (known: {running})", edge=edge.text))
        return
    cond.input, cond.output, cond.version = sig.input, sig.output, sig.version


def _resolve_node(node: Node, nd: NodeDecl, resolve: Resolver, known: Callable[[], list[str]],
                  problems: list[Problem], depth: int) -> None:
    if nd.kind == "lambda":
        if not nd.fields:
            problems.append(Problem("lambda", f"lambda node {nd.id!r} has no fields; give it {{field: expression}}",
                                    node=nd.id))
        for field, text in nd.fields.items():
            try:
                node.exprs[field] = compile_expr(text)
            except ExprError as e:
                node.broken = True
                problems.append(Problem("expression", f"lambda node {nd.id!r}, field `{field}`: {e}", node=nd.id))
        node.version = _hash(json.dumps(nd.fields, sort_keys=True))
        return
    if nd.kind == "publish":
        if not isinstance(nd.topic, str) or not nd.topic:
            problems.append(Problem("publish", f"publish node {nd.id!r}: the topic is a non-empty name, got "
                                    f"{nd.topic!r}", node=nd.id))
        node.input = node.output = nd.accepts if nd.accepts is not None else Any  # it passes its input on
        node.version = _hash(f"publish {nd.topic} {type_name(node.input)}")
        return
    target = nd.neuro
    if nd.kind == "net" or isinstance(target, Net):
        try:
            node.sub = build_graph(target, resolve, known, depth + 1)
        except NetError as e:
            problems.extend(Problem(p.kind, f"in net node {nd.id!r} ({target.name}): {p.message}", p.edge, nd.id,
                                    p.source_type, p.target_type) for p in e.problems)
            return
        node.kind = "net" if nd.kind == "neuro" else nd.kind
        sig: Signature | None = node.sub.signature()
        node.neuro = target.name
    else:
        name = getattr(target, "name", target)
        if not isinstance(name, str):
            problems.append(Problem("unknown_neuro", f"node {nd.id!r}: {target!r} is not a neuro name", node=nd.id))
            return
        node.neuro = name
        sig = resolve(name)
        if sig is None:
            running = ", ".join(sorted(known())[:20]) or "none"
            problems.append(Problem("unknown_neuro", f"node {nd.id!r}: unknown neuro {name!r}: it is not running and "
                                    f"was not given to build (known: {running})", node=nd.id))
            return
    assert sig is not None
    node.input, node.output, node.version = sig.input, sig.output, sig.version
    if nd.kind == "map":
        if not (isinstance(nd.limit, int) and 1 <= nd.limit <= 1024):
            problems.append(Problem("map", f"map node {nd.id!r}: limit must be 1 to 1024, got {nd.limit!r}", node=nd.id))
        node.input, node.output = list[sig.input], list[sig.output]  # type: ignore[name-defined]
    elif nd.kind == "loop":
        if not (isinstance(nd.max, int) and 1 <= nd.max <= 10_000):
            problems.append(Problem("cycle", f"loop node {nd.id!r}: `max` must bound it (1 to 10000 calls), got "
                                    f"{nd.max!r}; an unbounded loop is not allowed", node=nd.id))
        why = misfit(sig.output, sig.input)
        if why is not None:
            problems.append(Problem("type", f"loop node {nd.id!r}: the output of {node.neuro} "
                                    f"({type_name(sig.output)}) goes back into its input ({type_name(sig.input)}) "
                                    f"and does not fit: {why}", node=nd.id, source_type=type_name(sig.output),
                                    target_type=type_name(sig.input)))
        try:
            node.until = compile_expr(nd.until or "")
            node.until.infer(sig.output)
        except ExprError as e:
            problems.append(Problem("expression", f"loop node {nd.id!r}, `until`: {e}", node=nd.id))


def _endpoint(text: Any) -> Endpoint | None:
    if not isinstance(text, str) or not text:
        return None
    parts = text.split(".")
    if not all(parts):
        return None
    return Endpoint(parts[0], tuple(parts[1:]))


def _edge(ed: EdgeDecl, i: int, g: Graph, problems: list[Problem]) -> Edge | None:
    text = str(ed)
    src, dst = _endpoint(ed.src), _endpoint(ed.dst)
    if src is None or dst is None:
        problems.append(Problem("edge", f"edge {text}: an endpoint is a node id or node.field.path", edge=text))
        return None
    bad = []
    if src.node == OUTPUT:
        bad.append("'out' is where data leaves the net; it cannot be a source")
    elif src.node != INPUT and src.node not in g.nodes:
        bad.append(f"no node {src.node!r}")
    if dst.node == INPUT:
        bad.append("'in' is where data enters the net; it cannot be a target")
    elif dst.node != OUTPUT and dst.node not in g.nodes:
        bad.append(f"no node {dst.node!r}")
    if bad:
        known = ", ".join(["in", *g.nodes, "out"])
        problems.append(Problem("unknown_node", f"edge {text}: {'; '.join(bad)} (nodes: {known})", edge=text))
        return None
    when: Any = None
    if is_predicate(ed.when):
        when = NeuroCondition(ed.when)  # type: ignore[arg-type]
        if not NODE_ID.match(when.neuro.replace(".", "_").replace("-", "_")):
            problems.append(Problem("expression", f"edge {text}: `when` {ed.when!r}: `@` names a predicate neuro, "
                                    "as in `@is_big`", edge=text))
            return None
    elif ed.when is not None:
        try:
            when = compile_expr(ed.when)
        except ExprError as e:
            problems.append(Problem("expression", f"edge {text}: `when`: {e}", edge=text))
            return None
    edge = Edge(src, dst, when, text, i)
    if src.node == INPUT:
        g.from_in.append(edge)
    else:
        g.nodes[src.node].outs.append(edge)
    if dst.node == OUTPUT:
        g.into_out.append(edge)
    else:
        g.nodes[dst.node].ins.append(edge)
    return edge


# -- the graph's shape --------------------------------------------------------------------------------


def _order(g: Graph, problems: list[Problem]) -> list[str] | None:
    """A topological order of the nodes, or None with a `cycle` problem naming the loop."""
    state: dict[str, int] = {}
    order: list[str] = []
    for start in g.nodes:
        if start in state:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            outs = [e.dst.node for e in g.nodes[node].outs if e.dst.node != OUTPUT]
            if i < len(outs):
                stack.append((node, i + 1))
                nxt = outs[i]
                if state.get(nxt) == 1:
                    loop = path[path.index(nxt):] + [nxt]
                    problems.append(Problem(
                        "cycle", f"unbounded cycle {' -> '.join(loop)}: a net's edges may not loop back; use a loop "
                        "node (net.loop(..., until=..., max=N)) for a bounded loop", node=nxt,
                        edge=next(e.text for e in g.nodes[loop[-2]].outs if e.dst.node == nxt)))
                    return None
                if nxt not in state:
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    # No cycle: Kahn's order, ties broken by declaration, so a plan reads as the net was written.
    rank = {n: i for i, n in enumerate(g.nodes)}
    waiting = {n: len({e.src.node for e in g.nodes[n].ins if e.src.node != INPUT}) for n in g.nodes}
    ready = sorted((n for n, c in waiting.items() if c == 0), key=rank.__getitem__)
    while ready:
        node = ready.pop(0)
        order.append(node)
        for nxt in dict.fromkeys(e.dst.node for e in g.nodes[node].outs if e.dst.node != OUTPUT):
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                ready.append(nxt)
                ready.sort(key=rank.__getitem__)
    return order


def _reach(g: Graph, problems: list[Problem]) -> None:
    forward: set[str] = set()
    todo = [e.dst.node for e in g.from_in]
    while todo:
        n = todo.pop()
        if n == OUTPUT or n in forward:
            continue
        forward.add(n)
        todo.extend(e.dst.node for e in g.nodes[n].outs)
    backward: set[str] = set()
    todo = [e.src.node for e in g.into_out] + [n for n, node in g.nodes.items() if node.sink]
    while todo:
        n = todo.pop()
        if n == INPUT or n in backward:
            continue
        backward.add(n)
        todo.extend(e.src.node for e in g.nodes[n].ins)
    if not g.into_out:
        problems.append(Problem("dead_end", f"nothing reaches the output of net {g.name!r}: add an edge into 'out'"))
    if not g.from_in:
        problems.append(Problem("unreachable", f"the input of net {g.name!r} goes nowhere: add an edge from 'in'"))
    for n in g.nodes:
        if n not in forward and g.from_in:
            problems.append(Problem("unreachable", f"node {n!r} is unreachable: no path from 'in' leads to it", node=n))
        elif n not in backward and g.into_out:  # (a sink leads to the kernel: a publish, a put)
            problems.append(Problem("dead_end", f"node {n!r} is a dead end: its output reaches no path to 'out' "
                                    "(connect it, or remove it)", node=n))


# -- version -------------------------------------------------------------------------------------


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(g: Graph) -> dict[str, Any]:
    """The net's graph as plain data: what its version hashes, and what `show` prints."""
    return {
        "name": g.name,
        "input": type_name(g.input) if g.input is not None else None,
        "output": type_name(g.output) if g.output is not None else None,
        "nodes": [{**g.decl.nodes[n].describe(), "version": g.nodes[n].version,  # type: ignore[union-attr]
                   "input": type_name(g.nodes[n].input), "output": type_name(g.nodes[n].output)} for n in g.order],
        "edges": [{"src": str(e.src), "dst": str(e.dst), "when": e.when.text if e.when else None,
                   **({"when_version": e.when.version} if isinstance(e.when, NeuroCondition) else {})}
                  for e in g.edges],
    }


def source(g: Graph) -> dict[str, bytes]:
    """The net as the version store keeps it: its graph with its nodes' versions, as JSON in
    a one-line Python module (the store keeps code; `neuro versions NET --source` shows it)."""
    text = json.dumps(describe(g), sort_keys=True, default=str)
    return {"net.py": f'"""The graph of net {g.name}, kept by neuro.nets (JSON)."""\nNET = {text!r}\n'.encode()}


def _version(g: Graph) -> str:
    """The hash of the graph and its nodes' versions (a swap of any node makes a new net
    version), by the one hash of neuro versions (`neuro._identity`): what the kernel computes
    from `source(g)` when a drop folder spawns the net with its source."""
    from neuro._identity import hash_files

    return hash_files(source(g))
