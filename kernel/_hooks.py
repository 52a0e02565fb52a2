"""Running a live neuro's `sleep` or `selfcheck` hook on request (`Kernel.hook`), as an event."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from neuro._checks import brief
from neuro._errorinfo import error_info, relayed
from neuro._errors import NeuroError, NoSuchNeuro, RemoteError

from ._context import KernelContext
from ._process import State

if TYPE_CHECKING:
    from ._kernel import Kernel

__all__ = ["CALLABLE_HOOKS", "run_hook"]

# The hooks anyone may run on a live neuro (the others belong to a swap).
CALLABLE_HOOKS = ("sleep", "selfcheck")


async def run_hook(kernel: Kernel, name: str, hook: str, origin: str) -> Any:
    """`Kernel.hook`: run `hook` of `name`'s running instance; a ``hook.done`` event either way."""
    if hook not in CALLABLE_HOOKS:
        raise ValueError(f"hook must be one of {', '.join(CALLABLE_HOOKS)}, got {brief(hook)}; snapshot, "
                         "restore and migrate run only within a swap")
    if not isinstance(origin, str):
        raise TypeError(f"origin must be a str naming who asked, got {brief(origin)}")
    await trio.lowlevel.checkpoint()  # always a checkpoint, even for a plain in-process hook
    proc = kernel._router.procs.get(name)
    if proc is None:
        raise NoSuchNeuro(f"no neuro named {name!r} is running")
    if proc.state is not State.RUNNING or proc.worker is None:
        raise NoSuchNeuro(f"{name!r} is {proc.state.value}; its hooks run on a running instance")
    if hook not in proc.manifest.hooks:
        how = "async def sleep(self, ctx)" if hook == "sleep" else "def selfcheck(self)"
        raise NeuroError(f"{name} has no {hook} hook; define `{how}` in its class")
    args = (KernelContext(kernel._router, proc),) if hook == "sleep" else ()
    start = time.perf_counter()
    try:
        result = await proc.worker.hook(hook, *args)
    except Exception as e:
        seconds = time.perf_counter() - start
        sandboxed = getattr(e, "error_info", None)  # what the sandbox's worker reported the hook raised
        if sandboxed is None and proc.backend != "inproc":
            kernel._event("hook.done", name, origin, hook=hook, seconds=seconds, ok=False,
                        error=f"{type(e).__name__}: {e}")
            raise  # the sandbox failed (its worker died), not the hook's code
        import traceback

        info = relayed(sandboxed if sandboxed is not None else error_info(e, traceback.format_exc()), name)
        kernel._event("hook.done", name, origin, hook=hook, seconds=seconds, ok=False,
                    error=f"{info.type}: {info.message}")
        raise RemoteError.from_info(info) from e
    kernel._event("hook.done", name, origin, hook=hook, seconds=time.perf_counter() - start, ok=True,
                result=_summary(result))
    return result


def _summary(value: Any, limit: int = 1000) -> Any:
    """A hook's result as an event can hold it: plain data, or its start as text when long."""
    if value is None:
        return None
    try:
        data = msgspec.to_builtins(value, enc_hook=repr)
        text = msgspec.json.encode(data)
    except Exception:  # noqa: BLE001 - a summary, never an error
        data = repr(value)
        text = data.encode()
    return data if len(text) <= limit else text[:limit].decode("utf-8", "replace") + "..."
