"""The context a neuro's handler receives: how a neuro talks to the rest of the system.

This is the whole of what a neuro may do to the kernel. It is an abstract class so that the
SDK never exposes kernel internals; the kernel (or a sandbox worker) supplies the concrete one.
Beyond send, call and publish: `gather` (several calls at once), and `kernel`, a client of the
kernel the neuro runs in, each operation of which its policy's ``capabilities.control`` grants.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Iterable, TypeVar

import msgspec

__all__ = ["Context", "Progress", "KernelEvent", "EVENTS_MISSED", "register_artifacts", "Background"]

T = TypeVar("T")

#: The `name` of the KernelEvent that tells a subscriber how many events it missed
#: (``data["missed"]``) while its mailbox was full.
EVENTS_MISSED = "events.missed"


# version -> declared artifact path -> the read-only file it was exported as. A version names
# its artifacts' bytes (they are part of its hash), so one table serves every context of this
# process: the kernel's, a replay's shadow, a sandbox worker's (filled from its Load frame).
_artifacts: dict[str, dict[str, str]] = {}


def register_artifacts(version: str, paths: dict[str, str]) -> None:
    """Say where the artifacts of `version` are (path as declared -> file), for `ctx.artifact`."""
    _artifacts[version] = dict(paths)


class KernelEvent(msgspec.Struct, frozen=True, tag="kernel_event"):
    """A lifecycle or error event as a subscriber of the ``kernel.events`` topic sees it:
    `name` (``neuro.spawned``, ``neuro.crashed``, ``hook.done``, ...; docs/events.md lists them
    with their data), the `neuro` it is about, the `actor` that caused it and its own `data`.
    A neuro that subscribes to ``kernel.events`` takes it as input (``input = sdk.KernelEvent``,
    or a union with it). One named ``events.missed`` says that ``data["missed"]`` events did
    not fit in its mailbox."""

    time: float
    name: str
    neuro: str | None
    actor: str
    data: dict[str, Any]


class Progress(msgspec.Struct, tag="progress", forbid_unknown_fields=True):
    """A long job's progress, published on the topic ``progress.<neuro name>``."""

    neuro: str
    job: str
    done: float
    total: float
    note: str = ""
    metrics: dict[str, float] = {}


class Context(abc.ABC):
    """What a handler can do: send, call, publish, report progress, run blocking work."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The name this neuro runs under."""

    @property
    @abc.abstractmethod
    def version(self) -> str:
        """The content hash of the running version."""

    @abc.abstractmethod
    async def send(self, to: str, payload: Any, *, timeout: float | None = None) -> int:
        """Send a one-way message to neuro `to`; returns the message id. A full `block`
        mailbox makes it wait for room up to `timeout` seconds (default: the recipient's
        policy's `send_timeout`; `math.inf`: for ever), then raise `MailboxFull`."""

    @abc.abstractmethod
    async def call(self, to: str, payload: Any, *, timeout: float = 10.0) -> Any:
        """Call neuro `to` and return its reply; raises `RemoteError` or `CallTimeout`. A
        timeout that is NaN, negative or not a number raises ValueError or TypeError here."""

    @abc.abstractmethod
    async def publish(self, topic: str, payload: Any) -> int:
        """Publish an event on `topic` to every subscriber; returns the number it reached."""

    @property
    def labels(self) -> frozenset[str]:
        """The privacy labels what this neuro sends now carries: its policy's and those of the
        data it was given (docs/privacy.md). Empty where no kernel labels it."""
        return frozenset()

    async def declassify(self, label: str, *, reason: str) -> None:
        """Remove `label` from this neuro's taint, so what it sends next no longer carries it:
        an explicit act, logged as a `flow.declassified` event with `reason`. Only a neuro whose
        policy grants the label in `labels.declassify` may; any other gets `FlowRefused` (and a
        `flow.refused` event). Labels its own policy puts on its outputs stay."""
        await self._declassify(label, reason)

    async def _declassify(self, label: str, reason: str) -> None:
        """The kernel's context and the sandbox worker's supply it."""
        from neuro._errors import FlowRefused

        raise FlowRefused(f"declassify needs a neuro a kernel runs; a {type(self).__name__} holds no labels",
                          label=label, rule="declassify", neuro=self.name)

    async def progress(self, job: str, done: float, total: float, note: str = "", **metrics: float) -> None:
        """Publish a `Progress` event for a long job on ``progress.<name>``."""
        await self.publish(
            f"progress.{self.name}",
            Progress(neuro=self.name, job=job, done=done, total=total, note=note, metrics=metrics),
        )

    @abc.abstractmethod
    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking or CPU-heavy work in a worker thread so the kernel keeps serving."""

    @property
    def resources(self) -> Any:
        """What this neuro's policy grants it (CPU share, memory, wall time, a GPU and its
        memory share) and what of it the machine has: a frozen `neuro.sdk.Resources`. A
        learner uses the GPU only when ``ctx.resources.gpu`` (granted and present). A context
        no kernel made (a replay's shadow, a stand-in) grants nothing beyond the CPU."""
        from neuro._resources import Resources, probe

        return probe(self._grant() or Resources())

    def _grant(self) -> Any:
        """The `Resources` the kernel granted, before the machine is looked at; None: none known.
        The kernel's context and the sandbox worker's supply it."""
        return None

    def artifact(self, path: str) -> str:
        """The file to read declared artifact `path` from (``ctx.artifact("weights.bin")``):
        read-only, the same bytes the version was named with. Raises `NeuroError` naming the
        artifacts this version declares when `path` is not one of them."""
        import posixpath

        from neuro._errors import NeuroError

        if not isinstance(path, str):
            raise TypeError(f"artifact takes the path the neuro declares (a str), got {type(path).__name__}")
        table = _artifacts.get(self.version, {})
        found = table.get(posixpath.normpath(path)) if path else None
        if found is None:
            declared = ", ".join(sorted(table)) or "none"
            raise NeuroError(f"{self.name} {self.version} has no artifact {path!r} (it declares: {declared}); declare "
                             "it in the class's `artifacts` (or neuro.toml's) and load the neuro again")
        return found

    async def gather(self, calls: Iterable[tuple[str, Any]], *, timeout: float = 10.0, limit: int = 16,
                     raise_errors: bool = False) -> list[Any]:
        """Call several neuros at once: ``await ctx.gather([("b", msg1), ("c", msg2)])``.

        Returns one outcome per call, in the order given: the reply, or the exception that call
        raised (`RemoteError`, `CallTimeout`, `NoSuchNeuro`, ...), so one failed call does not
        fail the others. With `raise_errors`, the first failed call's exception (in the order
        given) is raised instead, once every call has finished. At most `limit` calls are in
        flight at once; `timeout` bounds each call, as for `call`."""
        import trio

        from neuro._checks import brief, check_count, check_timeout

        timeout = check_timeout(timeout)
        limit = check_count(limit, "limit", minimum=1)
        todo = list(calls)
        for i, item in enumerate(todo):
            if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
                raise TypeError(f"gather takes (neuro name, payload) pairs; calls[{i}] is {brief(item)}")
        outcomes: list[Any] = [None] * len(todo)
        queue = iter(enumerate(todo))

        async def worker() -> None:
            for i, (to, payload) in queue:
                try:
                    outcomes[i] = await self.call(to, payload, timeout=timeout)
                except Exception as e:  # noqa: BLE001 - the outcome of this one call
                    outcomes[i] = e

        async with trio.open_nursery() as nursery:
            for _ in range(min(limit, len(todo))):
                nursery.start_soon(worker)
        if not todo:
            await trio.lowlevel.checkpoint()
        if raise_errors:
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise outcome
        return outcomes

    async def start_background(self, fn: Callable[..., Any], *args: Any, name: str = "") -> "Background":
        """Run ``await fn(task_ctx, *args)`` as a task of this neuro's instance, beside its
        message handling, and return its `Background` handle at once (a long training job,
        say, while `Status` is answered). `task_ctx` is a context of its own: the handler's
        `ctx` ends with its message, so the task uses the one it is given.

        The task belongs to the running instance: it is cancelled when the neuro stops, is
        restarted, crashes or is swapped (in a sandbox, its worker's end ends it). An
        exception it does not catch crashes the neuro, as a handler's does (a
        ``neuro.crashed`` event naming the task; its supervisor decides what next). No
        policy wall time applies to it (that is per message). Always a checkpoint."""
        if not callable(fn):
            raise TypeError(f"start_background takes an async function fn(ctx, *args), got {type(fn).__name__}")
        if not isinstance(name, str):
            raise TypeError(f"start_background's name must be a str, got {type(name).__name__}")
        return await self._start_background(fn, args, name or getattr(fn, "__name__", "task"))

    async def _start_background(self, fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> "Background":
        """Start the task; the kernel's context and the sandbox worker's supply it."""
        from neuro._errors import NeuroError

        raise NeuroError(f"ctx.start_background needs a neuro a kernel runs; a {type(self).__name__} runs no "
                         "background task")

    async def put_artifact(self, data: bytes, *, label: str = "") -> str:
        """Keep `data` in the kernel's artifact store (in its event log), by content hash, and
        return the hash (sha256, hex). With `label`, `find_artifact(label)` finds the latest
        bytes this neuro stored under it, also after the neuro or the kernel restarts (how a
        learner finds its job's checkpoint). Raises `NeuroError` when the kernel keeps no log.
        A log retention other than "all" may prune artifacts no version references."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"put_artifact takes bytes, got {type(data).__name__}")
        if not isinstance(label, str) or ";" in label or "\0" in label:
            raise ValueError(f"put_artifact's label must be a str without ';' or NUL, got {label!r}")
        return await self._artifact_op("put", label, bytes(data))

    async def get_artifact(self, hash: str) -> bytes:
        """The bytes of artifact `hash` (as `put_artifact` returned it); `NeuroError` when the
        kernel keeps no log, `LogError` when no artifact has that hash."""
        if not isinstance(hash, str):
            raise TypeError(f"get_artifact takes the artifact's hash (a str), got {type(hash).__name__}")
        return await self._artifact_op("get", hash, None)

    async def find_artifact(self, label: str) -> str | None:
        """The hash of the latest artifact this neuro stored under `label`, or None."""
        if not isinstance(label, str):
            raise TypeError(f"find_artifact takes a label (a str), got {type(label).__name__}")
        return await self._artifact_op("find", label, None)

    async def _artifact_op(self, op: str, key: str, data: bytes | None) -> Any:
        """put/get/find on the kernel's artifact store; the kernel's context and the sandbox
        worker's supply it."""
        from neuro._errors import NeuroError

        raise NeuroError(f"a {type(self).__name__} reaches no artifact store: it works in a neuro a kernel runs")

    @property
    def kernel(self) -> Any:
        """A client of the kernel this neuro runs in, with the methods of `neuro.connect()`
        (ps, info, statistics, mailbox_statistics, supervisors, drop_folders, spawn, load, supervise,
        stop, restart, swap, rollback, versions, source, diff, hook, messages, events, trace,
        policies, reload_policies). Each is refused with a `PolicyError` naming
        the key to grant unless the neuro's policy lists it in ``capabilities.control``; none
        is granted by default, and never to untrusted code. It works in-process and from
        every sandbox (over the worker's channel to the kernel)."""
        client = self.__dict__.get("_kernel_client")
        if client is None:
            from neuro.client import Client
            from neuro.client._transport import Through

            client = self.__dict__["_kernel_client"] = Client(Through(self._control, remote=self._control_remote))
        return client

    #: Whether `kernel` requests leave this process (a class to spawn then travels as its name).
    _control_remote = False

    async def _control(self, request: Any) -> Any:
        """Run one control request on the kernel this neuro runs in; returns its `Reply`.
        The kernel's context and the sandbox worker's supply it."""
        from neuro._errors import NeuroError

        raise NeuroError(f"ctx.kernel reaches no kernel from a {type(self).__name__}: it works in a neuro a kernel "
                         "runs, not in a replay's shadow instance or a stand-in context")


class Background:
    """A task a neuro started with `ctx.start_background`: its `name`, whether it is `done`,
    the `error` it crashed with ("Type: message", or None), `cancel()` and ``await wait()``."""

    def __init__(self, name: str) -> None:
        import trio

        self.name = name
        self.error: str | None = None
        self._scope = trio.CancelScope()
        self._done = trio.Event()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        """Whether it ended because it was cancelled (by `cancel()` or by its neuro's end)."""
        return self._scope.cancelled_caught

    def cancel(self) -> None:
        """Cancel it at its next checkpoint (a thread it waits for finishes first). Idempotent."""
        self._scope.cancel()

    async def wait(self) -> None:
        """Wait until it has ended, however it ended."""
        await self._done.wait()

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        return f"<Background {self.name!r} {state}{' error' if self.error else ''}>"


async def run_background(handle: Background, fn: Callable[..., Any], ctx: Context, args: tuple[Any, ...]
                         ) -> tuple[BaseException, str] | None:
    """Run one background task under its handle's scope; (exception, traceback) if it crashed.
    What both contexts' `_start_background` run; the caller reports the crash."""
    import traceback

    try:
        with handle._scope:
            await fn(ctx, *args)
        return None
    except Exception as e:  # noqa: BLE001 - reported by the caller as the neuro's crash
        handle.error = f"{type(e).__name__}: {e}"
        return e, traceback.format_exc()
    finally:
        handle._done.set()
