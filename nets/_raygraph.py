"""A net that asks for `ray_graph`: its chain run as one Ray compiled graph (sandbox/_ray_graph.py).

It is used when the net is a plain chain of neuro nodes and every node's neuro runs on the
ray backend now; otherwise, and while a node restarts, the net runs through actor calls as
any net does. A `net.ray_graph` event says which, and why, each time that changes. The graph
is compiled at the first run, again when a node's actor changed (a restart, a swap), and is
torn down when it breaks; a compile that failed is not tried again until an actor changes.

What a compiled run changes, and docs/ray.md says: the memo keeps whole runs (by the net's
version and input hash; the values between two nodes are not seen), each node's own
`timeout` is not applied (the run's deadline bounds the whole graph), and the nodes' calls
are not messages: the log has the net's own call, with its outcome, and its `net.run` event, whose
steps say `compiled` (the hashes between two nodes are not seen, so they are empty).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import trio

from . import _kernelside
from ._graph import Graph
from ._memo import Memo, content_hash
from ._runner import NodeFailed, Run, _late, _record

__all__ = ["RayGraph", "NOT_COMPILED"]

NOT_COMPILED = object()  # run() did not run the net: run it through actor calls
_enc = msgspec.msgpack.Encoder()
_WHOLE = "<ray_graph>"  # the memo's key for a whole compiled run (with the net's version and input hash)


class RayGraph:
    """One net's compiled graph, made and remade as its nodes' actors change; `memo` is the net's."""

    def __init__(self, memo: Memo) -> None:
        self.memo = memo
        self._chain: Any = None  # sandbox._ray_graph.CompiledChain
        self._workers: tuple[Any, ...] = ()  # the workers it was compiled over (or failed to be)
        self._said: tuple[bool, str | None] | None = None  # the last net.ray_graph event's (compiled, reason)
        self._lock = trio.Lock()

    async def run(self, ctx: Any, g: Graph, chain: list[str], msg: Any, run: Run, in_hash: str) -> Any:
        """The net's output, run as one compiled graph; NOT_COMPILED where it cannot be."""
        neuros = [g.nodes[n].neuro for n in chain]
        keep = g.memo and not run.fresh and all(g.nodes[n].memo is not False for n in chain)
        if keep:  # the memo keeps whole runs here: the values between two nodes are not seen
            found_run = self._memo_hit(g, chain, run, in_hash)
            if found_run is not NOT_COMPILED:
                return found_run
        found = _kernelside.ray_actors(ctx, neuros)
        if isinstance(found, str):
            self._say(ctx, g, neuros, False, found)
            return NOT_COMPILED
        workers, actors = found
        async with self._lock:
            if not _same(workers, self._workers):
                await self._compile(ctx, g, neuros, workers, actors)
            compiled = self._chain
        if compiled is None:
            return NOT_COMPILED
        from neuro.sandbox._ray_graph import GraphBroken, GraphNodeError, GraphTimeout

        start = time.perf_counter()
        left = run.deadline_at - trio.current_time()
        run.called += len(chain)
        try:
            reply = await trio.to_thread.run_sync(compiled.run, _enc.encode(msg), left)
        except GraphNodeError as e:
            node = next((n for n in chain if g.nodes[n].neuro == e.neuro), chain[0])
            raise NodeFailed(f"net {g.name!r}: node {node!r} ({e.neuro}) failed: {e.neuro} raised {e.type}: "
                             f"{e.message} (in the net's Ray compiled graph)", node) from None
        except GraphTimeout:
            self._forget(compiled)
            raise NodeFailed(_late(g, "its Ray compiled graph"), chain[-1]) from None
        except GraphBroken as e:
            self._forget(compiled)
            self._say(ctx, g, neuros, False, f"its compiled graph broke: {e}")
            raise NodeFailed(f"net {g.name!r}: its Ray compiled graph broke ({e}); the nodes before the break ran, "
                             "what those after it did is not known; the next run compiles again once every node "
                             "runs", chain[0]) from None
        try:
            result = msgspec.msgpack.decode(reply, type=g.output) if g.output is not None else \
                msgspec.msgpack.decode(reply)
        except msgspec.ValidationError as e:
            raise NodeFailed(f"the result does not fit the net's output type: {e}", "out") from None
        out_hash = content_hash(result)
        if keep:
            self.memo.put(_WHOLE, g.version, in_hash, result, out_hash)
        _steps(g, chain, run, in_hash, out_hash, "compiled", time.perf_counter() - start)
        return result

    def _memo_hit(self, g: Graph, chain: list[str], run: Run, in_hash: str) -> Any:
        found = self.memo.get(_WHOLE, g.version, in_hash)
        if found is None:
            return NOT_COMPILED
        result, out_hash = found
        run.cached += len(chain)
        _steps(g, chain, run, in_hash, out_hash, "cached", 0.0)
        return result

    async def _compile(self, ctx: Any, g: Graph, neuros: list[str], workers: tuple[Any, ...],
                       actors: list[Any]) -> None:
        from neuro.sandbox._ray_graph import CompiledChain

        old, self._chain, self._workers = self._chain, None, workers
        if old is not None:
            await trio.to_thread.run_sync(old.close)
        try:
            self._chain = await trio.to_thread.run_sync(CompiledChain, actors)
        except Exception as e:  # noqa: BLE001 - said in the event; the net runs through actor calls
            self._say(ctx, g, neuros, False, f"Ray could not compile the graph: {type(e).__name__}: "
                                             f"{' '.join(str(e).split())[:300]}")
            return
        self._say(ctx, g, neuros, True, None, again=old is not None)

    def _forget(self, compiled: Any) -> None:
        if self._chain is compiled:
            self._chain, self._workers = None, ()  # torn down by the chain itself; compiled again next run

    def _say(self, ctx: Any, g: Graph, neuros: list[str], compiled: bool, reason: str | None,
             again: bool = False) -> None:
        """A `net.ray_graph` event when the way the net runs changed (or it compiled `again`)."""
        if self._said == (compiled, reason) and not again:
            return
        self._said = (compiled, reason)
        _event = _kernelside.emitter(ctx)  # (so named, tests/kernel/test_event_catalogue.py finds the emitter)
        if _event is not None:
            _event("net.ray_graph", ctx.name, ctx.name, net=g.name, compiled=compiled, nodes=neuros,
                  reason=reason or ("compiled again: a node's actor changed" if again else None))



def _steps(g: Graph, chain: list[str], run: Run, in_hash: str, out_hash: str, reason: str, seconds: float) -> None:
    """The run's lineage, one step a node: only the chain's ends have hashes (and the last its time)."""
    if run.steps is not None:
        last = len(chain) - 1
        for i, n in enumerate(chain):
            node = g.nodes[n]
            run.steps.append(_record(n, node.neuro, "neuro", node.version, [node.ins[0].text],
                                     in_hash if i == 0 else "", out_hash if i == last else "", reason,
                                     seconds if i == last else 0.0))
    run.hashes[chain[-1]] = run.hashes["out"] = out_hash


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))
