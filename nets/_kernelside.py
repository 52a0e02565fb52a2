"""What a net runner needs of the kernel that `Context` does not offer yet, in one place.

A net runner is a trusted system neuro that runs in the kernel's process. Three things it
needs are not in `ctx` (nor in `ctx.kernel`) today, so they are read here from the kernel's
own context object, and only here:

- `signatures(ctx_or_kernel)`: the input and output types and the running version of each
  neuro, for the checks at build and again after a node's hot swap (the kernel's `info` op
  gives the version but not the types);
- `emit(ctx, name, **data)`: a lineage event into the log, checked against the catalogue
  (kernel/_events.py), as the kernel's own events are;
- `run_id(ctx)`: the id of the message being handled, which names the net's run and is the
  parent of every call the run makes (so `LogReader.trace(run)` finds them).

Two more reach the kernel's own objects: `inline_calls(ctx)` (the kernel's context takes
`call(..., _inline=True)`: a call handled at once returns with no schedule point, for a
chain's steps) and `watch_swaps(where, net)` (the kernel's swap asks the net, through the
router's `swap_checks`, whether a new version of a neuro it calls still fits; kernel/_swap.py),
and `ray_actors(where, names)` (the Ray actors of a net's nodes, for its compiled graph).

Each falls back to what works anywhere (no types: build with classes; no events; a fresh
id) when the context is not the kernel's. A `ctx.kernel` op for each would remove this module.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ._graph import Signature

__all__ = ["signatures", "emitter", "run_id", "procs_of", "inline_calls", "watch_swaps", "SwapChecks", "ray_actors"]


def procs_of(where: Any) -> dict[str, Any] | None:
    """The process table of an embedded Kernel or of a kernel context, or None."""
    router = getattr(where, "_router", None)
    procs = getattr(router, "procs", None)
    return procs if isinstance(procs, dict) else None


def signatures(where: Any) -> tuple[Callable[[str], Signature | None], Callable[[], list[str]]]:
    """A resolver of neuro names from the process table of `where` (a Kernel or a context)."""
    procs = procs_of(where)

    def resolve(name: str) -> Signature | None:
        proc = procs.get(name) if procs is not None else None
        if proc is None or str(getattr(proc.state, "value", proc.state)) in ("stopped", "failed"):
            return None
        return Signature(name, proc.manifest.input, proc.manifest.output, proc.version)

    return resolve, (lambda: sorted(procs) if procs is not None else [])


def live_versions(where: Any) -> Callable[[str], str | None]:
    procs = procs_of(where)

    def version(name: str) -> str | None:
        proc = procs.get(name) if procs is not None else None
        return proc.version if proc is not None else None

    return version


def emitter(ctx: Any) -> Callable[..., None] | None:
    """The kernel's event function for `ctx` (name, neuro, actor, **data), or None."""
    router = getattr(ctx, "_router", None)
    return getattr(router, "_event", None)


def run_id(ctx: Any) -> int:
    current = getattr(ctx, "_current", None)
    mid = getattr(current, "id", None)
    return mid if isinstance(mid, int) else time.time_ns()



def ray_actors(where: Any, names: list[str]) -> tuple[tuple[Any, ...], list[Any]] | str:
    """The workers and Ray actors of neuros `names`, in order, when each runs on the ray
    backend now; else why not. A worker is replaced by a restart or a swap, so the workers
    tell a net's compiled graph when it must compile again."""
    procs = procs_of(where)
    if procs is None:
        return "the net does not run in a kernel"
    workers, actors = [], []
    for name in names:
        proc = procs.get(name)
        state = str(getattr(proc.state, "value", proc.state)) if proc is not None else "not spawned"
        if state != "running":
            return f"node neuro {name!r} is {state}"
        if proc.backend != "ray":
            return f"node neuro {name!r} runs in the {proc.backend} sandbox, not on Ray"
        actor = getattr(getattr(getattr(proc.worker, "handle", None), "carrier", None), "actor", None)
        if actor is None:
            return f"node neuro {name!r} has no Ray actor yet"
        workers.append(proc.worker)
        actors.append(actor)
    return tuple(workers), actors


_INLINE: dict[type, bool] = {}


def inline_calls(ctx: Any) -> bool:
    """Whether `ctx.call` takes `_inline=True` (the kernel's context: a call handled at once
    returns with no schedule point); another context (a replay's, a test's) is called plainly."""
    kind = type(ctx)
    found = _INLINE.get(kind)
    if found is None:
        import inspect

        try:
            found = "_inline" in inspect.signature(kind.call).parameters
        except (AttributeError, TypeError, ValueError):
            found = False
        _INLINE[kind] = found
    return found


class SwapChecks:
    """The nets that may refuse a swap, kept on the kernel's router as `swap_checks` (the
    kernel's swap calls each `check(name, new_class)` and refuses with the text it returns).
    Weak: a net no one holds checks nothing."""

    def __init__(self) -> None:
        import weakref

        self._nets: Any = weakref.WeakSet()

    def add(self, net: Any) -> None:
        self._nets.add(net)

    def __iter__(self) -> Any:
        return iter([net.swap_check for net in list(self._nets)])


def watch_swaps(where: Any, net: Any) -> bool:
    """Have the kernel of `where` (a Kernel or a kernel context) ask `net.swap_check` before
    each swap; False where there is no such kernel."""
    router = getattr(where, "_router", None)
    if router is None or not isinstance(getattr(router, "procs", None), dict):
        return False
    checks = getattr(router, "swap_checks", None)
    if not isinstance(checks, SwapChecks):
        checks = router.swap_checks = SwapChecks()
    checks.add(net)
    return True
