"""`Client`: one set of async methods, whether the kernel is embedded or the daemon's (the
transport decides which); `neuro.client`'s docstring describes them."""

from __future__ import annotations

import inspect
import itertools
import os
import sys
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import msgspec

from neuro import _control as c
from neuro._control import revive
from neuro._errors import ManifestError

__all__ = ["Client", "neuro_spec"]


class Client:
    """The same async methods over any transport; `neuro.client`'s docstring lists them.
    Made by `connect()`; used as ``async with``."""

    def __init__(self, transport: Any, *, raw: bool = False) -> None:
        self._t = transport
        self._raw = raw
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Client:
        await self._t.open()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._t.aclose()

    @property
    def kernel(self) -> Any:
        """The embedded kernel (None over the socket)."""
        return getattr(self._t, "kernel", None)

    async def _ask(self, frame_type: type, /, **fields: Any) -> c.Reply:
        return await self._t.request(frame_type(id=next(self._ids), **fields))

    def _as(self, value: Any, tp: Any) -> Any:
        if self._raw:
            return msgspec.to_builtins(value)
        return msgspec.convert(value, tp, from_attributes=True)

    def _neuro(self, neuro: Any) -> Any:
        if isinstance(neuro, str) or not self._t.remote:
            return neuro
        return neuro_spec(neuro)

    # -- the daemon ---------------------------------------------------------------------------

    async def ping(self) -> str:
        return (await self._ask(c.Ping)).value

    async def status(self) -> dict[str, Any]:
        """The daemon's pid, socket, uptime, clients, and the kernel's statistics."""
        return msgspec.to_builtins((await self._ask(c.Status)).value)

    async def shutdown(self) -> None:
        """Ask the daemon to stop gracefully (it drains, dead-letters the rest, flushes the log)."""
        await self._ask(c.Shutdown)

    # -- the process table --------------------------------------------------------------------

    async def spawn(self, neuro: Any, *, name: str | None = None, policy: str | None = None,
                    trusted: bool = False, version: str | None = None, as_name: str | None = None,
                    supervisor: str = "root", restart: str = "permanent") -> Any:
        """Start a neuro (a class, ``module:Class`` or a file path) under `supervisor`, restarted
        as `restart` says (permanent, transient, temporary); returns its ProcessInfo.
        A file is untrusted unless `trusted`: imported and run only in a sandbox. With
        `version`, `neuro` is a neuro's name and that stored version (or the one its prefix
        names) starts as a new process `as_name`: ``spawn("echo", version="3fa2", as_name="student")``."""
        name = _one_name(name, as_name)
        where = {"name": name, "policy": policy, "supervisor": supervisor, "restart": restart}
        if version is not None:
            if not isinstance(neuro, str):
                raise TypeError(f"spawn(..., version=) takes the name of a neuro in the version store, got {neuro!r}")
            reply = await self._ask(c.Spawn, neuro=neuro, version=version, **where)
        else:
            reply = await self._ask(c.Spawn, neuro=self._neuro(neuro), trusted=trusted, **where)
        return self._as(reply.value, _types().ProcessInfo)

    async def load(self, path: Any, *, trusted: bool = False, policy: str = "untrusted") -> Any:
        """Load the neuro file or package folder at `path` without starting it, to see that it
        loads and what it holds (a `Loaded`: name, version, class, files). Untrusted code (the
        default) is imported only in a sandbox of `policy`; the error names the file and line."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"load takes the path of a neuro file or folder, got {path!r}")
        reply = await self._ask(c.Load, path=os.path.abspath(os.fspath(path)), trusted=trusted, policy=policy)
        return self._as(reply.value, c.Loaded)

    async def hook(self, name: str, hook: str) -> Any:
        """Run neuro `name`'s `sleep` or `selfcheck` hook; returns what it returned. What it did
        and how long it took is a `hook.done` event."""
        reply = await self._ask(c.Hook, name=name, hook=hook)
        if self._raw:
            return msgspec.to_builtins(reply.value)
        return revive(reply.value, reply.type)

    async def stop(self, name: str, *, drain: bool = True, timeout: float = 5.0) -> None:
        """Stop `name`; with `drain` its queued messages are handled first (up to `timeout`
        seconds), the rest end as dead letters."""
        await self._ask(c.Stop, name=name, drain=drain, timeout=timeout)

    async def restart(self, name: str) -> Any:
        return self._as((await self._ask(c.Restart, name=name)).value, _types().ProcessInfo)

    async def ps(self) -> list[Any]:
        return self._as((await self._ask(c.Ps)).value, list[_types().ProcessInfo])

    async def info(self, name: str) -> Any:
        return self._as((await self._ask(c.Info, name=name)).value, _types().ProcessInfo)

    async def describe(self, name: str, *, log: bool = True) -> Any:
        """Everything about running neuro `name` (NeuroDetails): manifest, input and output
        types as JSON Schema, the policy in force, backend, origin file, version, last error
        (not looked up without `log`) and quota use."""
        from neuro.kernel._info import NeuroDetails

        return self._as((await self._ask(c.Describe, name=name, log=log)).value, NeuroDetails)

    async def usage(self) -> list[Any]:
        """Each neuro's CPU time and memory now (ResourceUsage; None figures in-process)."""
        from neuro.kernel._info import ResourceUsage

        return self._as((await self._ask(c.Usage)).value, list[ResourceUsage])

    async def statistics(self) -> Any:
        return self._as((await self._ask(c.Statistics)).value, _types().KernelStatistics)

    async def mailbox_statistics(self, name: str) -> Any:
        """The mailbox of `name`: queued messages, bound, overflow rule, senders waiting for
        room (MailboxStatistics)."""
        return self._as((await self._ask(c.MailboxStatistics, name=name)).value, _types().MailboxStatistics)

    # -- supervision and drop folders ---------------------------------------------------------

    async def supervisors(self) -> list[Any]:
        """Every supervisor, the root first (SupervisorInfo: strategy, children, restarts, state)."""
        return self._as((await self._ask(c.Supervisors)).value, list[_types().SupervisorInfo])

    async def supervise(self, spec: Any, *, parent: str = "root", trusted: bool = False) -> Any:
        """Start supervisor `spec` and its children (left to right) under `parent`; returns its
        SupervisorInfo. `spec` is a `SupervisorSpec`, or a dict of its shape whose children
        (dicts too; one with ``children`` is a supervisor) name their neuro as `spawn` does:
        ``{"name": "pair", "strategy": "one_for_all", "children": [{"neuro": "pkg.mod:A"}]}``.
        A file is untrusted unless `trusted`, as for `spawn`."""
        reply = await self._ask(c.Supervise, spec=self._wire_tree(spec), parent=parent, trusted=trusted)
        return self._as(reply.value, _types().SupervisorInfo)

    def _wire_tree(self, spec: Any) -> c.WireSupervisor:
        k = _types()
        if isinstance(spec, dict):
            try:
                return msgspec.convert(_tagged(spec), c.WireSupervisor)
            except msgspec.ValidationError as e:
                raise ManifestError(f"supervise: the spec {spec.get('name', '')!r} does not fit: {e}") from None
        if not isinstance(spec, k.SupervisorSpec):
            raise TypeError(f"supervise takes a SupervisorSpec or a dict of its shape, got {spec!r}")
        children: list[Any] = [
            self._wire_tree(child) if isinstance(child, k.SupervisorSpec) else
            c.WireChild(neuro=self._neuro(child.neuro), name=child.name, restart=child.restart, policy=child.policy,
                        shutdown=child.shutdown)
            for child in spec.children]
        return c.WireSupervisor(name=spec.name, children=children, strategy=spec.strategy,
                                max_restarts=spec.max_restarts, period=spec.period, restart=spec.restart)

    async def drop_folders(self, *, wait_idle: bool = False) -> list[Any]:
        """Each drop folder's counters (DropFolderStatistics: files, loads, errors, pending...);
        with `wait_idle`, once every change made to the folders before this call is handled."""
        from neuro.kernel._dropfolder import DropFolderStatistics

        reply = await self._ask(c.DropFolders, wait_idle=wait_idle)
        return self._as(reply.value, list[DropFolderStatistics])

    async def unpin(self, name: str) -> Any:
        """Let drop-folder neuro `name`, pinned by a stop or a rollback, follow its file again:
        the file's current version is loaded; returns an Unpinned (what runs now)."""
        from neuro.kernel._dropstate import Unpinned

        return self._as((await self._ask(c.Unpin, name=name)).value, Unpinned)

    # -- messages -----------------------------------------------------------------------------

    async def send(self, to: str, payload: Any, *, timeout: float | None = None, durable: bool = False) -> int:
        """Send one way; returns the message id once the kernel accepted it."""
        return (await self._ask(c.Send, to=to, payload=payload, timeout=timeout, durable=durable)).value

    async def call(self, to: str, payload: Any, *, timeout: float | None = 10.0, durable: bool = False) -> Any:
        """Send a request and return the reply (its Struct type when this process knows it)."""
        reply = await self._ask(c.Call, to=to, payload=payload, timeout=timeout, durable=durable)
        if self._raw:
            return msgspec.to_builtins(reply.value)
        return revive(reply.value, reply.type)

    async def publish(self, topic: str, payload: Any) -> int:
        return (await self._ask(c.Publish, topic=topic, payload=payload)).value

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[tuple[str, str, Any]]]:
        """``async with client.subscribe("kernel.events") as events: async for topic, sender,
        payload in events``. Live once the block is entered."""
        async with self._t.stream(c.Subscribe(id=next(self._ids), topic=topic)) as frames:
            yield self._items(frames)

    @asynccontextmanager
    async def tail(self, *, neuro: str | None = None, kind: str | None = None, correlation: int | None = None,
                   since: float | None = None, events: bool = False, interval: float = 0.2,
                   after_id: int | None = None, after_seq: int | None = None,
                   outcome: str | None = None) -> AsyncIterator[AsyncIterator[Any]]:
        """Log rows as they are committed (MessageRecord, or EventRecord with `events`), after
        `after_id` (`after_seq`), else from `since`, else from the log's start. The kernel
        waits for its log writer's commits (no polling); `interval` is not used any more."""
        req = c.Tail(id=next(self._ids), neuro=neuro, kind=kind, correlation=correlation, since=since,
                     events=events, interval=interval, after_id=after_id, after_seq=after_seq, outcome=outcome)
        tp = _types().EventRecord if events else _types().MessageRecord
        async with self._t.stream(req) as frames:
            yield self._rows(frames, tp)

    async def _items(self, frames: AsyncIterator[c.Event]) -> AsyncIterator[tuple[str, str, Any]]:
        async for f in frames:
            if self._raw:
                yield f.topic, f.sender, msgspec.to_builtins(f.payload)
            elif f.topic == "kernel.events" and isinstance(f.payload, dict):
                yield f.topic, f.sender, msgspec.convert(f.payload, _types().KernelEvent)
            else:
                yield f.topic, f.sender, revive(f.payload, f.type)

    async def _rows(self, frames: AsyncIterator[c.Event], tp: Any) -> AsyncIterator[Any]:
        async for f in frames:
            yield self._as(f.payload, tp)

    # -- the log ------------------------------------------------------------------------------

    async def messages(self, **filters: Any) -> list[Any]:
        """Logged messages with outcomes; filters: neuro, sender, kind, correlation, outcome,
        since, until, after_id, limit, newest_first."""
        return self._as((await self._ask(c.Messages, **filters)).value, list[_types().MessageRecord])

    async def events(self, **filters: Any) -> list[Any]:
        """Logged events; filters: name (globs), neuro, since, until, after_seq, limit, newest_first."""
        return self._as((await self._ask(c.Events, **filters)).value, list[_types().EventRecord])

    async def trace(self, message_id: int) -> Any:
        """A message and everything sent while handling it (None if not in the log)."""
        return self._as((await self._ask(c.Trace, message=message_id)).value, _types().TraceNode | None)

    async def vacuum(self, *, keep: str | None = None, dry_run: bool = False, compact: bool = False) -> Any:
        """Prune the log now by `keep` (``30d``, ``10GB``, ``30d,10GB``; None: the kernel's
        policy); `dry_run` removes nothing; `compact` rewrites the file after. A PruneReport."""
        from neuro.kernel._retention import PruneReport

        reply = await self._ask(c.Vacuum, keep=keep, dry_run=dry_run, compact=compact)
        return self._as(reply.value, PruneReport)

    # -- versions and policies ----------------------------------------------------------------

    async def swap(self, name: str, neuro: Any, *, replay: int | None = None, trusted: bool = False,
                   tolerance: float | None = None, accept: bool = False, dry_run: bool = False) -> Any:
        """Hot-swap `name` to `neuro`; returns the SwapReport, or raises SwapFailed (with
        `.report`) when the new version is refused. With `replay`, the replay gate first has the
        current version and the new one answer the last N logged calls from the same state and
        compares them (numbers within `tolerance`; `accept` takes the differences); `dry_run`
        reports without going live. A file is untrusted unless `trusted`, as for `spawn`."""
        reply = await self._ask(c.Swap, name=name, neuro=self._neuro(neuro), replay=replay, trusted=trusted,
                                tolerance=tolerance, accept=accept, dry_run=dry_run)
        return self._as(reply.value, _types().SwapReport)

    async def rollback(self, name: str, version: str | None = None) -> Any:
        return self._as((await self._ask(c.Rollback, name=name, version=version)).value, _types().SwapReport)

    async def versions(self, name: str) -> list[Any]:
        """Every version of `name` in the version store, oldest first, with origin, lineage
        and artifacts (VersionInfo); `live` marks the running one."""
        return self._as((await self._ask(c.Versions, name=name)).value, list[_types().VersionInfo])

    async def source(self, name: str, version: str) -> Any:
        """The code of stored `version` (or a prefix of it) of `name`: a VersionSource with
        its files as text and its artifacts' hashes."""
        from neuro.kernel._versions import VersionSource

        return self._as((await self._ask(c.Source, name=name, version=version)).value, VersionSource)

    async def diff(self, name: str, old: str, new: str) -> str:
        """A unified diff of two stored versions of `name` (each a version or a prefix), then
        a line for each artifact that changed; empty when they are the same code."""
        from neuro.kernel._versions import VersionSource, diff_sources

        a = msgspec.convert(await self.source(name, old), VersionSource, from_attributes=True)
        b = msgspec.convert(await self.source(name, new), VersionSource, from_attributes=True)
        return diff_sources(a, b)

    async def policies(self) -> dict[str, Any]:
        return self._as((await self._ask(c.Policies)).value, dict[str, _types().Policy])

    async def reload_policies(self) -> dict[str, Any]:
        return msgspec.to_builtins((await self._ask(c.ReloadPolicies)).value)


def _one_name(name: str | None, as_name: str | None) -> str | None:
    if name is not None and as_name is not None and name != as_name:
        raise TypeError(f"give the new process's name once: name={name!r} or as_name={as_name!r}")
    return as_name if as_name is not None else name


def _types() -> Any:
    import neuro.kernel as k

    return k


def _tagged(spec: dict[str, Any]) -> dict[str, Any]:
    """A supervisor spec written as dicts, each child tagged as the protocol's union needs."""
    children = spec.get("children")
    if not isinstance(children, list):
        return spec  # the conversion names what is wrong
    out = []
    for child in children:
        if isinstance(child, dict) and "kind" not in child:
            child = {"kind": "supervisor", **_tagged(child)} if "children" in child else {"kind": "child", **child}
        out.append(child)
    return {**spec, "children": out}


def neuro_spec(neuro: Any) -> str:
    """How a neuro class travels to the daemon: ``module:Class``, or ``file.py:Class`` for a
    class whose module the daemon cannot import (a script's ``__main__``, a test file)."""
    if not inspect.isclass(neuro):
        raise TypeError(f"a neuro is a class, `module:Class` or a file path, got {neuro!r}")
    module = sys.modules.get(neuro.__module__)
    file = getattr(module, "__file__", None)
    if neuro.__module__ == "__main__" or file is None or not _importable(neuro.__module__):
        if file is None:
            raise TypeError(f"{neuro.__qualname__} has no file the daemon could load; define it in a .py file")
        return f"{os.path.abspath(file)}:{neuro.__qualname__}"
    return f"{neuro.__module__}:{neuro.__qualname__}"


def _importable(module: str) -> bool:
    top = module.split(".")[0]
    return top == "neuro" or (top in sys.modules and getattr(sys.modules[top], "__spec__", None) is not None
                              and "site-packages" in str(getattr(sys.modules[top], "__file__", "")))
