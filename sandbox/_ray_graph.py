"""A chain of Ray-placed neuros run as one Ray compiled graph (nets on Ray, docs/ray.md).

Through actor calls each node of a net costs a Ray task and a trip through the kernel's
router. A compiled graph (`ray.dag`, Ray >= 2.44) sets up channels between the actors once;
a run writes the net's input into the first channel and reads the last node's reply, with
no task submitted and nothing going through the kernel in between.

The actor's side, `graph_node` (called by `NeuroHost.graph_call` on Ray's graph thread),
runs the neuro's handler on that thread, beside the worker's own. So:

- a compiled node is a function of its input: its handler must finish without awaiting
  (no `ctx.call`, no sleep); one that awaits fails with an error that says so;
- calls to the same neuro through the kernel still work meanwhile, on the worker's thread,
  and the policy's `concurrency` does not count the graph's calls;
- an actor takes part in one compiled graph at a time (Ray's rule).

The kernel's side, `CompiledChain`: compile, run and tear down, each blocking (from a thread).
A node's error comes back as `GraphNodeError`, naming the neuro; an actor that died or a
channel that broke as `GraphBroken`; past the timeout, `GraphTimeout`. After a broken or
timed-out run the chain is torn down: what the nodes after the break did is not known.
"""

from __future__ import annotations

import logging
import threading
import traceback
import weakref
from types import CoroutineType
from typing import Any

import msgspec

from neuro._errorinfo import error_info

__all__ = ["CompiledChain", "GraphNodeError", "GraphBroken", "GraphTimeout", "graph_node", "close_all"]

_enc = msgspec.msgpack.Encoder()
_AWAITED = ("its handler awaited something (a ctx call, a sleep, a lock): a node of a compiled graph must finish "
            "without awaiting; turn `ray_graph` off for this net, or make the node a function of its input")


class GraphNodeError(Exception):
    """A node's handler raised (or could not run) in a compiled graph."""

    def __init__(self, neuro: str, type: str, message: str, traceback: str = "") -> None:
        super().__init__(f"{neuro} raised {type}: {message}")
        self.neuro, self.type, self.message, self.traceback = neuro, type, message, traceback

    def __reduce__(self) -> Any:  # crosses from the actor to the kernel by pickle
        return GraphNodeError, (self.neuro, self.type, self.message, self.traceback)


class GraphBroken(Exception):
    """An actor of the graph died or its channel broke: the run's fate past it is unknown."""


class GraphTimeout(Exception):
    """The graph's reply did not come within the run's time."""


# -- on the actor --------------------------------------------------------------------------


def graph_node(worker: Any, data: bytes) -> bytes:
    """The handler of the neuro that `worker` (sandbox/worker.py) has loaded, on `data`."""
    if worker is None or worker.instance is None:
        raise GraphNodeError("?", "NotLoaded", "the actor has no neuro loaded yet")
    from .worker import WorkerContext

    try:
        msg = worker.input.decode(data)
        result = worker.instance.handle(WorkerContext(worker, 0), msg)
        if type(result) is CoroutineType:
            try:
                result.send(None)  # outside trio: a handler that awaits cannot go on here
            except StopIteration as done:
                result = done.value
            else:
                result.close()
                raise GraphNodeError(worker.neuro_name, "RuntimeError", _AWAITED)
        return _enc.encode(result)
    except GraphNodeError:
        raise
    except RuntimeError as e:
        # trio's primitives outside its loop: "must be called from async context"
        message = _AWAITED if "async context" in str(e) else str(e)
        raise GraphNodeError(worker.neuro_name, "RuntimeError", message, traceback.format_exc()) from None
    except Exception as e:  # noqa: BLE001 - carried to the kernel, which names the node
        info = error_info(e, traceback.format_exc())  # (the type named as every handler's error is)
        raise GraphNodeError(worker.neuro_name, info.type, info.message, info.traceback) from None


# -- on the kernel -------------------------------------------------------------------------

_live: weakref.WeakSet[CompiledChain] = weakref.WeakSet()


class CompiledChain:
    """Actors `actors` (each a `NeuroHost`), in order, as one compiled graph. Blocking calls."""

    def __init__(self, actors: list[Any]) -> None:
        from ray.dag import InputNode

        with InputNode() as start:
            node: Any = start
            for actor in actors:
                node = actor.graph_call.bind(node)
        self._dag = node.experimental_compile()
        self._lock = threading.Lock()  # one run at a time: each run's reply is read before the next
        self.closed = False
        _live.add(self)

    def run(self, data: bytes, timeout: float) -> bytes:
        import ray
        import ray.exceptions as rex

        with self._lock:
            if self.closed:
                raise GraphBroken("the compiled graph was torn down")
            try:
                ref = self._dag.execute(data)
                return ray.get(ref, timeout=max(timeout, 0.001))
            except rex.RayTaskError as e:  # (ray.get raises it as a subclass of the cause's class too)
                cause = getattr(e, "cause", None)
                if isinstance(cause, GraphNodeError):
                    raise GraphNodeError(cause.neuro, cause.type, cause.message, cause.traceback) from None
                self._close_locked()
                raise GraphBroken(_one_line(e)) from None
            except (rex.RayChannelTimeoutError, rex.GetTimeoutError, TimeoutError):
                self._close_locked()  # a reply still on its way would be the next run's
                raise GraphTimeout(f"no reply within {timeout:.3g} s") from None
            except Exception as e:  # noqa: BLE001 - an actor died, a channel closed: said, and torn down
                self._close_locked()
                raise GraphBroken(_one_line(e)) from None

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self.closed:
            return
        self.closed = True
        _live.discard(self)
        # Ray logs each actor it cannot reach as it tears down, with a traceback; here that is
        # the expected case (an actor a swap or a crash ended), said already by the kernel.
        quiet = logging.getLogger("ray.dag.compiled_dag_node")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            self._dag.teardown()
        except Exception:  # noqa: BLE001 - an actor already gone leaves nothing to tear down
            pass
        finally:
            quiet.setLevel(level)


def close_all() -> None:
    """Tear down every compiled graph of this process (the ray backend's close, before its actors go)."""
    for chain in list(_live):
        chain.close()


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"ray: {type(error).__name__}: {text[:300]}"
