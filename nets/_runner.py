"""Running a built net, as messages: each node a call through the context of the net's neuro.

A step starts as soon as the steps it depends on are done, so independent branches run side
by side (each call under its own neuro's policy and sandbox); a linear chain runs in the
handler's own task with no task switch. An edge fires when its source ran (was not skipped)
and its `when` holds; a node none of whose edges fired is skipped, and with it what only it
feeds. Each node's result is looked up in the memo by (node, version, input hash) first,
unless the node or the run says `fresh`.

Every run is one ``net.run`` event in the log: the run (the id of the message that asked for
it, and the parent of every call it made), and for each step the node, its neuro and version,
the edges that fed it, the hashes of its input and output, and whether it was called or came
from the memo (reason ``cached``: no message was sent, so no outcome is owed). One event per
run, not per step: an event costs a few microseconds, a memo hit must cost less than ten.

A node that fails ends the run: the caller gets a `Reject` naming the node, its neuro, the
root error and the relay path; calls already made keep their outcomes. A plain chain of
neuro nodes takes `_chain`, one loop with no cancel scope (each call's timeout is the time
left); the general path runs under the run's deadline scope.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import msgspec
import trio

from neuro._errors import CallTimeout, NeuroError, RemoteError

from . import _kernelside
from ._expr import ExprError
from ._graph import Edge, Graph, Node
from ._memo import Memo, content_hash
from ._plan import Plan, Step

__all__ = ["NodeFailed", "Runner", "Run", "SKIP"]

SKIP = object()  # the value of a node that did not run (no edge into it fired)
# A chain's calls handled at once (plain-function neuros in this process) skip the call's
# schedule point, which is most of a call's cost; one in this many keeps it, so a long chain
# still lets the other tasks run (each call still sees a cancellation at once).
_CHECKPOINT_EVERY = 16


class NodeFailed(Exception):
    """A node's failure on its way out of the run (the net's handler makes it a Reject)."""

    def __init__(self, message: str, node: str) -> None:
        super().__init__(message)
        self.node = node


def _pick(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


class Run:
    """One run's state: values by node, what fired, counters."""

    __slots__ = ("id", "values", "fresh", "called", "cached", "deadline_at", "left", "running", "steps", "hashes")

    def __init__(self, run_id: int, fresh: bool, deadline_at: float, lineage: bool = True,
                 left: float | None = None) -> None:
        self.id = run_id
        self.values: dict[str, Any] = {}
        self.fresh = fresh
        self.called = 0
        self.cached = 0
        self.deadline_at = deadline_at
        self.left = deadline_at - trio.current_time() if left is None else left  # seconds, as the run began
        self.running: set[str] = set()
        self.steps: list[dict[str, Any]] | None = [] if lineage else None  # the lineage, for `net.run`
        self.hashes: dict[str, str] = {}  # node path -> its output's hash (a whole edge's input hash)


class Runner:
    """Runs one net's graphs through a context, with the net's memo."""

    def __init__(self, memo: Memo) -> None:
        self.memo = memo

    async def run(self, ctx: Any, g: Graph, plan: Plan, value: Any, run: Run, prefix: str = "",
                  in_hash: str | None = None) -> Any:
        if plan.chain is not None:
            return _as(await self._chain(ctx, g, plan.chain, value, run, prefix, in_hash or content_hash(value)),
                       g.output)
        values = {"in": value}
        run.hashes[prefix] = in_hash or content_hash(value)  # the net's input: "in" of this (sub)net
        pending = [len(s.preds) for s in plan.steps]
        roots = plan.roots
        if len(roots) == 1 and all(len(s.succs) <= 1 for s in plan.steps) and all(len(s.preds) <= 1 for s in plan.steps):
            i: int | None = roots[0]  # a chain: no nursery, no task switch
            while i is not None:
                step = plan.steps[i]
                await self._step(ctx, g, step, values, run, prefix)
                i = step.succs[0] if step.succs else None
        else:
            async with trio.open_nursery() as nursery:

                async def chain(i: int) -> None:
                    while True:
                        step = plan.steps[i]
                        await self._step(ctx, g, step, values, run, prefix)
                        ready = []
                        for j in step.succs:
                            pending[j] -= 1
                            if pending[j] == 0:
                                ready.append(j)
                        if not ready:
                            return
                        for j in ready[1:]:
                            nursery.start_soon(chain, j)
                        i = ready[0]

                for j in roots[1:]:
                    nursery.start_soon(chain, j)
                await chain(roots[0])
        asks = plan.out_asks
        answers = await self._ask(ctx, g, asks, values, run, prefix + "out") if asks else None
        return self._output(g, plan, values, answers)

    async def _chain(self, ctx: Any, g: Graph, chain: list[str], value: Any, run: Run, prefix: str,
                     in_hash: str) -> Any:
        """The fast path of a plain chain of neuro nodes: what `_step` and `_node` do for it,
        in one loop with nothing made per node that the build could make (a memo hit here is
        a few dictionary operations). One clock reading per node: a node's end is the next
        one's start, and the deadline is on the same clock."""
        memo = self.memo
        steps = run.steps
        use_memo = g.memo and not run.fresh
        perf = time.perf_counter
        record = _record
        call = ctx.call
        inline = _kernelside.inline_calls(ctx)  # no schedule point per node: the chain has its own, every few
        specs = g.chain_specs.get(prefix)
        if specs is None:  # what each node's step needs, made once per graph (the plan's)
            specs = g.chain_specs[prefix] = [
                (g.nodes[n], prefix + n, g.nodes[n].neuro, g.nodes[n].version, g.nodes[n].memo is not False,
                 [g.nodes[n].ins[0].text], g.nodes[n].timeout) for n in chain]
        start = perf()
        # The run's deadline on perf's clock: the top net's chain starts as the run does; a net
        # inside it starts later, with less time left.
        deadline = start + (run.left if not prefix else run.deadline_at - trio.current_time())
        for i, (node, path, neuro, version, memo_ok, edges, node_timeout) in enumerate(specs):
            keep = use_memo and memo_ok
            if keep:
                found = memo.get(path, version, in_hash)
                if found is not None:
                    run.cached += 1
                    value, out_hash = found
                    now = perf()
                    if steps is not None:
                        steps.append(record(path, neuro, "neuro", version, edges, in_hash, out_hash, "cached",
                                            now - start))
                    in_hash, start = out_hash, now
                    continue
            run.called += 1
            left = deadline - start  # the chain's deadline: each call's timeout
            if left <= 0:
                raise NodeFailed(_late(g, path), path)
            try:
                timeout = left if node_timeout is None else min(node_timeout, left)
                if inline and i % _CHECKPOINT_EVERY != _CHECKPOINT_EVERY - 1:
                    result = await call(neuro, value, timeout=timeout, _inline=True)
                else:
                    result = await call(neuro, value, timeout=timeout)
            except CallTimeout as e:
                raise (NodeFailed(_late(g, path), path) if node_timeout is None or node_timeout >= left
                       else self._failed(ctx, g, node, path, e)) from None
            except Exception as e:  # noqa: BLE001 - said with the node's name
                raise self._failed(ctx, g, node, path, e) from None
            out_hash = content_hash(result)
            if keep:
                memo.put(path, version, in_hash, result, out_hash)
            now = perf()
            if steps is not None:
                steps.append(record(path, neuro, "neuro", version, edges, in_hash, out_hash, "called", now - start))
            value, in_hash, start = result, out_hash, now
        run.hashes[prefix + chain[-1]] = in_hash
        if not prefix:
            run.hashes["out"] = in_hash  # the net's output is the last node's, whole
        return value

    # -- one step --------------------------------------------------------------------------

    def _inputs(self, g: Graph, node: Node, edges: list[Edge], values: dict[str, Any],
                answers: dict[int, bool] | None = None) -> tuple[Any, list[Edge]]:
        fired = []
        for e in edges:
            src = values.get(e.src.node, SKIP)
            if src is SKIP:
                continue
            if answers is not None and e.index in answers:
                if not answers[e.index]:
                    continue
            elif e.when is not None:
                try:
                    if not e.when.run(src):
                        continue
                except ExprError as err:
                    raise NodeFailed(f"net {g.name!r}: the condition of edge {e.text} failed: {err}", node.id) from None
            fired.append(e)
        if not fired:
            return SKIP, fired
        first = fired[0]
        if not first.dst.path:
            if len(fired) > 1:
                raise NodeFailed(f"net {g.name!r}: node {node.id!r} got whole messages from {len(fired)} edges at once "
                                 f"({', '.join(e.text for e in fired)}); make them alternatives (`when`)", node.id)
            return _pick(values[first.src.node], first.src.path), fired
        payload: dict[str, Any] = {}
        filled: set[tuple[str, ...]] = set()
        for e in fired:
            if e.dst.path in filled:
                raise NodeFailed(f"net {g.name!r}: two edges filled `{e.dst}` at once; make them alternatives "
                                 "(`when`)", node.id)
            filled.add(e.dst.path)
            _put(payload, e.dst.path, _pick(values[e.src.node], e.src.path))
        return payload, fired

    async def _step(self, ctx: Any, g: Graph, step: Step, values: dict[str, Any], run: Run, prefix: str) -> None:
        first = g.nodes[step.nodes[0]]
        ins = step.ins
        if len(ins) == 1 and ins[0].when is None and not ins[0].src.path and not ins[0].dst.path:
            # the common case (a chain): one whole message from one node, no condition
            edge = ins[0]
            payload = values.get(edge.src.node, SKIP)
            fired = [edge] if payload is not SKIP else []
        elif step.asks:
            answers = await self._ask(ctx, g, step.asks, values, run, prefix + first.id)
            payload, fired = self._inputs(g, first, ins, values, answers)
        else:
            payload, fired = self._inputs(g, first, ins, values)
        if payload is SKIP:
            for n in step.nodes:
                values[n] = SKIP
            return
        # A whole message from one node is that node's output: its hash is known already.
        src = fired[0].src if len(fired) == 1 else None
        in_hash = run.hashes.get(prefix + src.node if src.node != "in" else prefix) if src and not src.path else None
        for n in step.nodes:
            node = g.nodes[n]
            payload = await self._node(ctx, g, node, payload, fired, run, prefix, in_hash)
            values[n] = payload
            in_hash = run.hashes.get(prefix + n)
            fired = []

    async def _ask(self, ctx: Any, g: Graph, edges: list[Edge], values: dict[str, Any], run: Run,
                   path: str) -> dict[int, bool]:
        """Each predicate neuro's answer for the edges whose source ran (one call each, in turn)."""
        answers = {}
        for e in edges:
            src = values.get(e.src.node, SKIP)
            if src is SKIP:
                continue
            cond = e.when
            remaining = run.deadline_at - trio.current_time() + 0.5  # the run's deadline scope ends it first
            run.called += 1
            try:
                answers[e.index] = cond.holds(await ctx.call(cond.neuro, src, timeout=max(remaining, 0.0)))
            except Exception as err:  # noqa: BLE001 - said with the edge and the predicate
                cause = (f"{err.neuro} raised {err.type}: {err.message} (relay path: {' -> '.join([ctx.name, *err.path])})"
                         if isinstance(err, RemoteError) else f"{type(err).__name__}: {err}")
                raise NodeFailed(f"net {g.name!r}: the condition `{cond.text}` of edge {e.text} failed: {cause}",
                                 path) from None
        return answers

    async def _node(self, ctx: Any, g: Graph, node: Node, payload: Any, fired: list[Edge], run: Run,
                    prefix: str, in_hash: str | None = None) -> Any:
        start = time.perf_counter()
        path = prefix + node.id
        kind = node.kind
        if in_hash is None:
            in_hash = content_hash(payload)
        use_memo = kind not in ("lambda", "net", "publish") and node.sub is None and not run.fresh and g.memo \
            and node.memo is not False  # (a net inside a node memoises its own nodes: some may have effects)
        if use_memo:
            found = self.memo.get(path, node.version, in_hash)
            if found is not None:
                run.cached += 1
                run.hashes[path] = found[1]
                self._event(ctx, g, run, node, path, fired, in_hash, found[1], "cached", start)
                return found[0]
        run.running.add(path)
        try:
            if kind == "neuro":
                remaining = run.deadline_at - trio.current_time() + 0.5  # the run's deadline scope ends it first
                run.called += 1
                try:
                    result: Any = await ctx.call(node.neuro, payload, timeout=remaining if node.timeout is None
                                                 else max(0.0, min(node.timeout, remaining)))
                except Exception as e:  # noqa: BLE001 - said with the node's name, below
                    raise self._failed(ctx, g, node, path, e) from None
            elif kind == "lambda":
                try:
                    result: Any = {f: e.run(payload) for f, e in node.exprs.items()}
                except ExprError as err:
                    raise NodeFailed(f"net {g.name!r}: lambda node {node.id!r} failed: {err}", path) from None
            elif kind == "net":
                assert node.sub is not None
                from ._plan import make_plan

                sub_plan = _sub_plans.get(node.sub)
                if sub_plan is None:
                    sub_plan = _sub_plans[node.sub] = make_plan(node.sub)
                result = await self.run(ctx, node.sub, sub_plan, payload, run, prefix=f"{path}/", in_hash=in_hash)
                result = _as(result, node.sub.output)
            elif kind == "map":
                result = await self._map(ctx, g, node, payload, run, path)
            elif kind == "publish":
                result = await self._publish(ctx, g, node, payload, path)
            elif kind == "loop":
                result = payload
                assert node.until is not None
                for i in range(node.max):
                    result = await (self._call(ctx, g, node, result, run, path) if node.sub is None
                                    else self._inline(ctx, node, result, run, f"{path}[{i}]"))
                    try:
                        if node.until.run(result):
                            break
                    except ExprError as err:
                        raise NodeFailed(f"net {g.name!r}: `until` of loop node {node.id!r} failed: {err}", path) from None
            else:
                raise AssertionError(f"kernel bug: node kind {kind!r}")
        except Exception:
            run.running.discard(path)
            raise
        run.running.discard(path)  # (a node cancelled by the deadline stays in it: the error names it)
        out_hash = run.hashes[path] = content_hash(result)
        if use_memo:
            self.memo.put(path, node.version, in_hash, result, out_hash)
        self._event(ctx, g, run, node, path, fired, in_hash, out_hash, "called", start)
        return result

    async def _call(self, ctx: Any, g: Graph, node: Node, payload: Any, run: Run, path: str) -> Any:
        # The run's own deadline (a cancel scope) ends the run first, naming what still ran; a
        # node's `timeout` may be shorter.
        remaining = run.deadline_at - trio.current_time() + 0.5
        timeout = remaining if node.timeout is None else min(node.timeout, remaining)
        run.called += 1
        try:
            return await ctx.call(node.neuro, payload, timeout=max(timeout, 0.0))
        except Exception as e:  # noqa: BLE001 - said with the node's name
            raise self._failed(ctx, g, node, path, e) from None

    @staticmethod
    async def _publish(ctx: Any, g: Graph, node: Node, payload: Any, path: str) -> Any:
        """Publish `payload` on the node's topic through the context, as any neuro does: the
        kernel checks each subscriber's input type and the labels the net's process carries."""
        try:
            await ctx.publish(node.topic, payload)
        except Exception as e:  # noqa: BLE001 - said with the node's name
            raise NodeFailed(f"net {g.name!r}: publish node {path!r} ({node.topic}) failed: {type(e).__name__}: {e}",
                             path) from None
        return payload  # passed on: a publish node may sit in a chain

    @staticmethod
    def _failed(ctx: Any, g: Graph, node: Node, path: str, e: Exception) -> Exception:
        """The error a node's failed call ends the run with: its name, neuro, cause and relay path."""
        if isinstance(e, RemoteError):
            relay = " -> ".join([ctx.name, *e.path])
            return NodeFailed(f"net {g.name!r}: node {path!r} ({node.neuro}) failed: {e.neuro} raised {e.type}: "
                              f"{e.message} (relay path: {relay})", path)
        if isinstance(e, CallTimeout):
            return NodeFailed(f"net {g.name!r}: node {path!r} ({node.neuro}) did not answer in time: {e}", path)
        if isinstance(e, NeuroError):  # NoSuchNeuro, InvalidPayload, DeadLetter, MailboxFull, ...
            return NodeFailed(f"net {g.name!r}: node {path!r} ({node.neuro}): {type(e).__name__}: {e}", path)
        return e

    async def _map(self, ctx: Any, g: Graph, node: Node, items: Any, run: Run, path: str) -> list[Any]:
        if node.sub is not None:
            return await self._map_inline(ctx, node, list(items), run, path)
        items = list(items)
        results: list[Any] = [None] * len(items)
        todo = []
        for i, item in enumerate(items):
            h = content_hash(item)
            found = None if run.fresh or node.memo is False or not g.memo else self.memo.get(f"{path}[]", node.version, h)
            if found is not None:
                results[i] = found[0]
                run.cached += 1
            else:
                todo.append((i, item, h))
        if todo:  # one call per item, at most `limit` at once, through the context's gather
            remaining = run.deadline_at - trio.current_time() + 0.5
            run.called += len(todo)
            replies = await ctx.gather([(node.neuro, item) for _, item, _ in todo], limit=node.limit,
                                       timeout=remaining if node.timeout is None else min(node.timeout, remaining))
            for (i, _, h), reply in zip(todo, replies):
                if isinstance(reply, Exception):
                    raise self._failed(ctx, g, node, f"{path}[{i}]", reply)
                results[i] = reply
                if g.memo and node.memo is not False:
                    self.memo.put(f"{path}[]", node.version, h, reply, "")
        return results

    async def _inline(self, ctx: Any, node: Node, payload: Any, run: Run, path: str) -> Any:
        """The net inside a map or loop node, run here on one item or step (its nodes are
        `path/inner` in the lineage, each memoised on its own)."""
        sub = node.sub
        assert sub is not None
        plan = _sub_plans.get(sub)
        if plan is None:
            from ._plan import make_plan

            plan = _sub_plans[sub] = make_plan(sub)
        return _as(await self.run(ctx, sub, plan, payload, run, prefix=f"{path}/"), sub.output)

    async def _map_inline(self, ctx: Any, node: Node, items: list[Any], run: Run, path: str) -> list[Any]:
        results: list[Any] = [None] * len(items)
        limiter = trio.CapacityLimiter(node.limit)

        async def one(i: int, item: Any) -> None:
            async with limiter:
                results[i] = await self._inline(ctx, node, item, run, f"{path}[{i}]")

        async with trio.open_nursery() as nursery:
            for i, item in enumerate(items):
                nursery.start_soon(one, i, item)
        return results

    # -- the end -----------------------------------------------------------------------------

    def _output(self, g: Graph, plan: Plan, values: dict[str, Any], answers: dict[int, bool] | None = None) -> Any:
        fired = [e for e in plan.outs if values.get(e.src.node, SKIP) is not SKIP
                 and (answers[e.index] if answers is not None and e.index in answers
                      else e.when is None or e.when.run(values[e.src.node]))]
        if not fired:
            raise NodeFailed(f"net {g.name!r}: no branch reached the output (every edge into 'out' was skipped); "
                             "check the `when` conditions", "out")
        first = fired[0]
        if not first.dst.path:
            if len(fired) > 1:
                raise NodeFailed(f"net {g.name!r}: the output got whole messages from {len(fired)} edges at once "
                                 f"({', '.join(e.text for e in fired)}); make them alternatives (`when`)", "out")
            value = _pick(values[first.src.node], first.src.path)
        else:
            value = {}
            for e in fired:
                _put(value, e.dst.path, _pick(values[e.src.node], e.src.path))
        return _as(value, g.output)

    def _event(self, ctx: Any, g: Graph, run: Run, node: Node, path: str, fired: list[Edge], in_hash: str,
               out_hash: str, reason: str, start: float) -> None:
        if run.steps is not None:
            calls, reason = (node.topic, "published") if node.kind == "publish" else (node.neuro, reason)
            run.steps.append(_record(path, calls, node.kind, node.version, [e.text for e in fired], in_hash,
                                     out_hash, reason, time.perf_counter() - start))


def _step_dict(node: str, calls: str | None, kind: str, version: str, edges: list[str], input_hash: str,
               output_hash: str, reason: str, seconds: float) -> dict[str, Any]:
    return {"node": node, "calls": calls, "kind": kind, "version": version, "edges": edges, "input_hash": input_hash,
            "output_hash": output_hash, "reason": reason, "seconds": seconds}


_record = _step_dict  # one step of the lineage (kernel/_events.py NetStepRecord's fields)


def _late(g: Graph, path: str) -> str:
    return f"net {g.name!r} ran past its deadline of {g.deadline:g} s (still running: {path})"


_sub_plans: weakref.WeakKeyDictionary[Graph, Plan] = weakref.WeakKeyDictionary()  # a net node's plan


def _as(value: Any, tp: Any) -> Any:
    """`value` as the type `tp` says (a reply of another class, a lambda's dict)."""
    if tp is None or tp is Any:
        return value
    try:
        if isinstance(tp, type) and isinstance(value, tp):
            return value
    except TypeError:
        pass
    try:
        return msgspec.convert(value, tp, from_attributes=True)
    except msgspec.ValidationError as e:
        raise NodeFailed(f"the result does not fit the net's output type: {e}", "out") from None

