"""Declaring a Neuro-Net: nodes (neuros, nets, lambdas, maps, loops) and the edges between them.

    net = sdk.Net("pipeline", input=Text, output=Summary)
    net.node("clean", "text.clean")              # node id, neuro name
    net.node("words", "text.words")
    net.lam("count", {"n": "len(words)"})        # a small pure transformation, inline
    net.chain("in", "clean", "words", "count")   # whole messages, one after the other
    net.edge("count.n", "out.words")             # a field into a field
    net.edge("clean.text", "out.text")
    pipeline = net.build(neuros=[Clean, Words])  # checked here: types, cycles, dead ends
    await kernel.spawn(pipeline.neuro())         # a net is a neuro

`"in"` is the net's input and `"out"` its output. An endpoint is a node id (the whole
message) or ``node.field.path`` (one field). Several edges into one node's fields join them
into one message; one node's output may feed many (fan-out). ``edge(..., when="kind ==
'big'")`` fires only when the expression holds on the source's output. `map` calls its
neuro once per item of a list; `loop` feeds a neuro's output back to it until an expression
holds, at most `max` times (a net's edges themselves never loop).

This module only records the declaration; `build` checks it and makes it runnable (the
runtime is `neuro.nets`, imported when first built). Nothing here talks to a kernel.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Net", "NODE_ID", "INPUT", "OUTPUT"]

INPUT, OUTPUT = "in", "out"
NODE_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class NodeDecl:
    """One node as declared: `kind` is neuro, net, lambda, map, loop or publish (`topic`, and
    the type it `accepts`: None is any)."""

    __slots__ = ("id", "kind", "neuro", "fields", "limit", "until", "max", "memo", "timeout", "line", "topic",
                 "accepts", "sink")

    def __init__(self, id: str, kind: str, neuro: Any = None, *, fields: dict[str, str] | None = None,
                 limit: int = 8, until: str | None = None, max: int = 0, memo: bool | None = None,
                 timeout: float | None = None, line: int | None = None, topic: str | None = None,
                 accepts: Any = None, sink: bool = False) -> None:
        self.id, self.kind, self.neuro, self.fields = id, kind, neuro, dict(fields or {})
        self.limit, self.until, self.max, self.memo, self.timeout, self.line = limit, until, max, memo, timeout, line
        self.topic, self.accepts = topic, accepts
        self.sink = sink  # a side effect (a publish, a store's put): it need not lead to 'out'

    def describe(self) -> dict[str, Any]:
        """The node as plain data (part of the net's version)."""
        neuro = self.neuro
        target = getattr(neuro, "name", neuro) if not isinstance(neuro, str) else neuro
        shown = {"id": self.id, "kind": self.kind, "neuro": target, "fields": self.fields, "limit": self.limit,
                 "until": self.until, "max": self.max, "memo": self.memo}
        if self.kind == "publish":  # (only here, so the versions of other nets stay as they were)
            shown["topic"] = self.topic
        if self.sink:
            shown["sink"] = True
        return shown


class EdgeDecl:
    __slots__ = ("src", "dst", "when", "line")

    def __init__(self, src: str, dst: str, when: str | None = None, line: int | None = None) -> None:
        self.src, self.dst, self.when, self.line = src, dst, when, line

    def __str__(self) -> str:
        return f"{self.src} -> {self.dst}" + (f" (when {self.when})" if self.when else "")


class Net:
    """A net being declared. `input` and `output` are its message types (msgspec Structs);
    left out, they are taken from the nodes the net's input feeds and its output comes from.
    `memo`: keep each node's result by (input hash, node version) and reuse it; `deadline`:
    seconds the whole run may take. `ray_graph`: where the net is a chain whose nodes all run
    on Ray, run it as one Ray compiled graph (docs/ray.md says what that leaves out)."""

    def __init__(self, name: str, *, input: Any = None, output: Any = None, memo: bool = True,
                 deadline: float = 30.0, description: str = "", ray_graph: bool = False) -> None:
        self.name = name
        self.input = input
        self.output = output
        self.memo = memo
        self.deadline = deadline
        self.ray_graph = ray_graph
        self.description = description
        self.nodes: dict[str, NodeDecl] = {}
        self.edges: list[EdgeDecl] = []
        self.source: str | None = None  # the file it was read from, for errors
        self.problems: list[str] = []  # what the declaration got wrong before build (duplicate ids, ...)

    def _add(self, node: NodeDecl) -> str:
        if node.id in self.nodes:
            self.problems.append(f"node {node.id!r} is declared twice; give each node its own id")
        self.nodes[node.id] = node
        return node.id

    def node(self, id: str, neuro: Any = None, *, memo: bool | None = None, timeout: float | None = None,
             sink: bool = False) -> str:
        """A node that calls neuro `neuro` (a name, a Neuro class, or a Net run inside this
        one); `neuro` left out is `id`. Returns the id. `sink`: a call made for its effect (a
        store's put): it need not lead to 'out', and the run answers after it."""
        target = id if neuro is None else neuro
        kind = "net" if isinstance(target, Net) else "neuro"
        return self._add(NodeDecl(id, kind, target, memo=memo, timeout=timeout, sink=sink))

    def lam(self, id: str, fields: dict[str, str]) -> str:
        """A lambda node: each output field is an expression over the input's fields
        (``{"y": "x + 1"}``); see `neuro.nets` for the language."""
        return self._add(NodeDecl(id, "lambda", fields=fields))

    def map(self, id: str, neuro: Any, *, limit: int = 8, memo: bool | None = None) -> str:
        """A node that takes a list and calls `neuro` once per item, at most `limit` at once;
        its output is the list of replies, in order."""
        return self._add(NodeDecl(id, "map", neuro, limit=limit, memo=memo))

    def loop(self, id: str, neuro: Any, *, until: str, max: int, memo: bool | None = None) -> str:
        """A node that calls `neuro`, then again on its own reply, until `until` holds on the
        reply or `max` calls were made; its output is the last reply."""
        return self._add(NodeDecl(id, "loop", neuro, until=until, max=max, memo=memo))

    def publish(self, id: str, topic: str, *, accepts: Any = None) -> str:
        """A node that publishes its input on `topic` through the kernel (as `ctx.publish`)
        and passes it on; `accepts`: the type it takes (None: any). It may be a sink: it
        need not lead to 'out', and the run answers after it has published."""
        return self._add(NodeDecl(id, "publish", topic=topic, accepts=accepts, sink=True))

    def edge(self, src: str, dst: str, *, when: str | None = None) -> None:
        """Data from `src` (``node`` or ``node.field``) to `dst`; `when`: only if the
        expression holds on `src`'s node's output, or, as ``"@NAME"``, if the neuro NAME
        answers true for it (a bool, or a message with one bool field; docs/nets.md)."""
        self.edges.append(EdgeDecl(src, dst, when))

    def chain(self, *ids: str) -> None:
        """Whole-message edges a -> b -> c ..."""
        for a, b in zip(ids, ids[1:]):
            self.edge(a, b)

    def build(self, *, neuros: Any = None, kernel: Any = None) -> Any:
        """Check the net and return it runnable (`neuro.nets.Built`). The types of its
        neuros come from `neuros` (Neuro classes, or a mapping name -> class) and, for the
        names not there, from the embedded `kernel`'s process table. Raises
        `neuro.nets.NetError` listing every problem: each names the edge or node, the field
        path and both types."""
        from neuro.nets import build

        return build(self, neuros=neuros, kernel=kernel)
