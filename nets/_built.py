"""A built net: its graph, plan and memo, how it runs inside a handler, and the neuro it is.

`Built.neuro()` is a Neuro class whose handler runs the net through its own context, so a
net is spawned, called, swapped and stopped like any neuro, and is a node of other nets by
its name. Its version is the net's (`_graph._version`: the graph and its nodes' versions),
and what the version store keeps of it is the graph as JSON.
"""

from __future__ import annotations

from typing import Any

import trio

from neuro._errors import Reject
from neuro._manifest import Neuro
from neuro._net import Net

from . import _kernelside
from ._graph import Graph, NetError, Signature, build_graph, describe, source
from ._memo import Memo, content_hash
from ._plan import Plan, make_plan
from ._predicate import NeuroCondition
from ._raygraph import NOT_COMPILED, RayGraph
from ._runner import NodeFailed, Run, Runner, _as
from ._types import type_name

__all__ = ["Built", "build", "class_resolver"]


def class_resolver(neuros: Any) -> dict[str, Signature]:
    """Signatures of the given Neuro classes (a list, or a mapping name -> class)."""
    found: dict[str, Signature] = {}
    items = neuros.items() if isinstance(neuros, dict) else ((None, n) for n in (neuros or ()))
    for key, cls in items:
        if isinstance(cls, Built):
            sig = cls.graph.signature()
            found[key or sig.name] = sig
            continue
        manifest = getattr(cls, "__manifest__", None)
        if manifest is None:
            raise TypeError(f"build(neuros=...) takes Neuro classes (or built nets), got {cls!r}")
        name = key or manifest.name
        found[name] = Signature(name, manifest.input, manifest.output, cls.version())
    return found


def build(decl: Net, *, neuros: Any = None, kernel: Any = None) -> Built:
    """Check `decl` and make it runnable; see `Net.build`."""
    if not isinstance(decl, Net):
        raise TypeError(f"build takes a neuro.sdk.Net, got {decl!r}")
    classes = class_resolver(neuros)
    live, known = _kernelside.signatures(kernel) if kernel is not None else (lambda n: None, lambda: [])

    def resolve(name: str) -> Signature | None:
        return classes.get(name) or live(name)

    graph = build_graph(decl, resolve, lambda: sorted({*classes, *known()}))
    built = Built(decl, graph, classes)
    if kernel is not None:
        built._watch(kernel)
    return built


class Built:
    """A net that built. `run(ctx, msg)` runs it inside a handler; `neuro()` is its class."""

    def __init__(self, decl: Net, graph: Graph, classes: dict[str, Signature]) -> None:
        self.decl = decl
        self.graph = graph
        self.plan: Plan = make_plan(graph)
        self.memo = Memo()
        self._runner = Runner(self.memo)  # holds nothing of a run: one for every run
        self._classes = classes
        self._neuro: type[Neuro] | None = None
        self.refused: NetError | None = None  # the last re-check after a swap that failed
        self._where: Any = None  # the kernel (or a context of it) whose swaps this net checks; False: none
        self._called = _called(graph)  # the nodes that call a neuro, nets inside it included
        self._versions = _versions(graph, self._called)  # what each run compares
        self.subscribe: tuple[str, ...] = ()  # topics whose events each run the net, once it is a neuro
        self._ray: RayGraph | None = None  # its Ray compiled graph, when the net asks for one

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def version(self) -> str:
        return self.graph.version

    @property
    def input(self) -> Any:
        return self.graph.input

    @property
    def output(self) -> Any:
        return self.graph.output

    def show(self, *, plan: bool = False) -> dict[str, Any]:
        shown = {**describe(self.graph), "version": self.version}
        if plan:
            shown["plan"] = self.plan.describe()
        return shown

    # -- swaps of its nodes -------------------------------------------------------------------

    def _watch(self, where: Any) -> None:
        self._where = where if _kernelside.watch_swaps(where, self) else False

    def swap_check(self, name: str, neuro: Any) -> str | None:
        """Why the swap of neuro `name` to class `neuro` must be refused: this net runs in that
        kernel, calls `name` (a node or a `when` predicate) and would not build with the new
        version's types. None: the swap may go on (the kernel's swap asks this first)."""
        try:
            return self._swap_misfit(name, neuro)
        except Exception:  # noqa: BLE001 - a check that cannot tell never blocks a swap: the next run checks again
            return None

    def _swap_misfit(self, name: str, neuro: Any) -> str | None:
        if not self._where or name not in {n for n, _ in self._versions}:
            return None
        procs = _kernelside.procs_of(self._where) or {}
        if not any(getattr(p.neuro, "__neuro_net__", None) is self and str(getattr(p.state, "value", p.state))
                   not in ("stopped", "failed") for p in procs.values()):
            return None  # built, not running: nothing to keep working
        manifest = neuro.__manifest__
        new = Signature(name, manifest.input, manifest.output, neuro.version())
        live, known = _kernelside.signatures(self._where)
        try:
            graph = build_graph(self.decl, lambda n: new if n == name else live(n) or self._classes.get(n), known)
        except NetError as e:
            return (f"running net {self.name!r} calls {name!r} and would no longer fit its new version "
                    f"{new.version}, so the swap is refused (the old version keeps serving); change the net first, "
                    f"or stop it: {e}")
        if (type_name(graph.input), type_name(graph.output)) != (type_name(self.graph.input),
                                                                 type_name(self.graph.output)):
            return (f"running net {self.name!r}: the new version of {name!r} would change the net's own input or "
                    f"output type ({type_name(self.graph.input)} -> {type_name(self.graph.output)} becomes "
                    f"{type_name(graph.input)} -> {type_name(graph.output)}); build and swap the net itself")
        return None

    # -- running ---------------------------------------------------------------------------

    def _recheck(self, where: Any) -> None:
        """A node runs another version than the net was built with: build again with the
        types of what runs now. If it no longer fits, refuse (NodeFailed naming the edge);
        the graph stays as it was, so the net answers again once the node fits."""
        procs = _kernelside.procs_of(where)
        if procs is None:
            return
        for name, version in self._versions:  # the common case: every node runs the version it was built with
            proc = procs.get(name)
            if proc is not None and proc.version != version:
                break
        else:
            return
        live_version = _kernelside.live_versions(where)
        stale = [n for n in self._called if live_version(n.neuro) not in (None, n.version)] or \
            [_Asked(name) for name, version in self._versions if live_version(name) not in (None, version)]
        live, known = _kernelside.signatures(where)
        try:
            graph = build_graph(self.decl, lambda name: live(name) or self._classes.get(name), known)
        except NetError as e:
            self.refused = e
            names = ", ".join(f"{n.id} ({n.neuro} {live_version(n.neuro)})" for n in stale)
            raise NodeFailed(f"net {self.name!r}: {names} changed version and the net no longer fits it, so it "
                             f"refuses to run until it does: {e}", stale[0].id) from None
        if graph.input is not None and type_name(graph.input) != type_name(self.graph.input) or \
                graph.output is not None and type_name(graph.output) != type_name(self.graph.output):
            raise NodeFailed(f"net {self.name!r}: after the swap of {stale[0].neuro} the net's own input or output "
                             f"type would change ({type_name(self.graph.input)} -> {type_name(self.graph.output)}); "
                             "build and swap the net itself", stale[0].id)
        # The same types by name: keep the classes the net's neuro was made with (an inferred
        # output is a new Struct class at each build, and the handler must return the manifest's).
        graph.input, graph.output = self.graph.input, self.graph.output
        self.graph, self.plan, self.refused = graph, make_plan(graph), None
        self._called = _called(graph)
        self._versions = _versions(graph, self._called)

    async def run(self, ctx: Any, msg: Any, *, fresh: bool = False) -> Any:
        """Run the net on `msg` through `ctx` (a handler's context); returns its output.
        Raises `Reject` naming the failed node, its neuro, the root error and relay path."""
        return (await self.run_counted(ctx, msg, fresh=fresh))[0]

    async def run_counted(self, ctx: Any, msg: Any, *, fresh: bool = False) -> tuple[Any, Run]:
        """`run`, and the run's record: its id, node calls made, results from the memo."""
        _event = _kernelside.emitter(ctx)  # (so named, tests/kernel/test_event_catalogue.py finds the emitter)
        start = trio.current_time()
        run = Run(_kernelside.run_id(ctx), fresh, start + self.graph.deadline, _event is not None,
                  self.graph.deadline)
        runner = self._runner
        in_hash = content_hash(msg)
        error: str | None = None
        result: Any = None
        if self._where is None:
            self._watch(ctx)
        try:
            self._recheck(ctx)
            if self.decl.ray_graph:
                result = await self._on_ray(ctx, msg, run, in_hash)
                if result is not NOT_COMPILED:
                    return result, run
            if self.plan.chain is not None:
                # The fast path, called straight (a coroutine frame less per node call), and with
                # no cancel scope: one call runs at a time, each with the time left as its timeout.
                result = _as(await runner._chain(ctx, self.graph, self.plan.chain, msg, run, "", in_hash),
                             self.graph.output)
                return result, run
            with trio.move_on_at(run.deadline_at) as scope:
                try:
                    result = await runner.run(ctx, self.graph, self.plan, msg, run, in_hash=in_hash)
                except BaseExceptionGroup as group:
                    failed = _first_failure(group)
                    if failed is None:
                        raise
                    raise failed from None
            if scope.cancelled_caught:
                unfinished = ", ".join(sorted(run.running)) or "none"
                raise NodeFailed(f"net {self.name!r} ran past its deadline of {self.graph.deadline:g} s (still "
                                 f"running: {unfinished})", unfinished)
        except NodeFailed as e:
            error = str(e)
            raise Reject(error) from None
        finally:
            if _event is not None:
                _event("net.run", ctx.name, ctx.name, run=run.id, net=self.name, version=self.version,
                     input_hash=in_hash, output_hash=None if error is not None else run.hashes.get("out")
                     or content_hash(result),
                     ok=error is None, error=error, called=run.called, cached=run.cached,
                     seconds=trio.current_time() - start, steps=run.steps)
        return result, run

    async def _on_ray(self, ctx: Any, msg: Any, run: Run, in_hash: str) -> Any:
        """The run as one Ray compiled graph (`ray_graph`), or NOT_COMPILED: through actor calls."""
        if self._ray is None:
            self._ray = RayGraph(self.memo)
        if self.plan.chain is None:
            self._ray._say(ctx, self.graph, [n.neuro for n in self._called], False,
                           "the net is not a plain chain of neuro nodes (a compiled graph runs only those)")
            return NOT_COMPILED
        return await self._ray.run(ctx, self.graph, self.plan.chain, msg, run, in_hash)

    # -- as a neuro ----------------------------------------------------------------------------

    def neuro(self, *, name: str | None = None, policy: str = "default",
              dream: dict[str, Any] | bool | None = None) -> type[Neuro]:
        """The Neuro class that runs this net (made once per name and policy). `dream`: the
        dream daemon's settings (docs/dream.md), so it may learn the whole net's input ->
        output map, from the net's logged runs, as one student."""
        cached = self._neuro
        if cached is not None and name in (None, cached.name) and cached.policy == policy and dream is None \
                and cached.subscribe == self.subscribe:
            return cached
        built = self

        async def handle(self: Any, ctx: Any, msg: Any) -> Any:
            return (await built.run_counted(ctx, msg))[0]  # (not `run`: every frame is resumed per node call)

        cls = type(f"Net_{(name or self.name).replace('.', '_').replace('-', '_')}", (Neuro,), {
            "name": name or self.name, "input": self.input, "output": self.output, "policy": policy,
            "handle": handle, "__module__": __name__, "__doc__": self.graph.description or f"net {self.name}",
            "dream": dream, "subscribe": self.subscribe,
        })
        cls.__version_cache__ = self.version  # type: ignore[attr-defined]
        cls.__neuro_source__ = source(self.graph)  # type: ignore[attr-defined]
        cls.__neuro_net__ = self  # type: ignore[attr-defined]
        if name in (None, self.name) and dream is None:
            self._neuro = cls
        return cls


def _called(graph: Graph) -> list[Any]:
    """Every node that calls a neuro, in `graph` and the nets inside it (their versions key the memo)."""
    found = []
    for node in graph.nodes.values():
        if node.sub is not None:  # a net node, or a map or loop over a net run inline
            found += _called(node.sub)
        elif node.neuro and node.kind in ("neuro", "map", "loop"):
            found.append(node)
    return found


class _Asked:
    """A predicate neuro that changed version, as `_recheck` names it (like a node)."""

    def __init__(self, neuro: str) -> None:
        self.id = f"when @{neuro}"
        self.neuro = neuro


def _versions(graph: Graph, called: list[Any]) -> list[tuple[str, str]]:
    """(neuro, version) of every neuro the net calls: its nodes' and its predicates' (`when = "@NAME"`)."""
    return [(n.neuro, n.version) for n in called] + _asked(graph)


def _asked(graph: Graph) -> list[tuple[str, str]]:
    found = [(e.when.neuro, e.when.version) for e in graph.edges if isinstance(e.when, NeuroCondition)]
    for node in graph.nodes.values():
        if node.sub is not None:
            found += _asked(node.sub)
    return found


def _first_failure(group: BaseExceptionGroup) -> NodeFailed | None:
    for exc in group.exceptions:
        if isinstance(exc, NodeFailed):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_failure(exc)
            if inner is not None:
                return inner
    return None


def problems_of(e: NetError) -> list[dict[str, Any]]:
    return [{"kind": p.kind, "message": p.message, "edge": p.edge, "node": p.node, "source_type": p.source_type,
             "target_type": p.target_type} for p in e.problems]

