"""The embedded kernel: a process table, supervisors, messaging and the event log, on trio.

    async with neuro.Kernel(log="run.db") as k:
        await k.spawn(Echo)
        reply = await k.call("echo", EchoIn(text="hi"), timeout=1.0)
"""

from __future__ import annotations

import itertools
import math
import os
import time
import typing
import weakref
from contextlib import asynccontextmanager
from os import PathLike
from typing import Any, AsyncIterator

import msgspec
import trio

from neuro._checks import brief, check_count, check_number, check_source, check_timeout
from neuro._context import KernelEvent
from neuro._errors import AlreadyRunning, KernelClosed, ManifestError, NeuroError, NoSuchNeuro
from neuro._manifest import Neuro, _is_union
from neuro.sandbox import Backend, default_backends

from ._artifactexport import find_artifacts
from ._artifactexport import with_grants as with_artifact_grants
from ._calls import Deadlines
from ._eventfeed import TOPIC as EVENTS_TOPIC
from ._eventfeed import EventFeed
from ._events import as_dict, event_data
from ._eventlog import EventLog
from ._policy import Policy, PolicyError
from ._energy import open_account
from ._labels import check_labels, check_reload, redacted
from ._policyfiles import PolicyStore, apply_overrides
from ._process import Process, ProcessInfo, State
from ._router import Router
from ._supervisor import Child, Supervisor, SupervisorInfo, SupervisorSpec, check_tree
from ._inspection import Inspection, KernelStatistics
from ._lifecycle import Lifecycle
from ._hooks import run_hook
from ._spawning import CLIENT, check_backend, check_grants, check_name, redeliver
from ._follow import CommitWatch
from ._query import LogQuery
from ._retention import Retainer
from . import _versionops
from ._versions import VersionInfo, VersionSource, VersionStore, adopt_source, read_history, stored_class

if typing.TYPE_CHECKING:
    from ._swap import SwapReport

__all__ = ["Kernel", "KernelStatistics", "KernelEvent", "LogQuery", "VersionInfo"]

ROOT = "root"


class Kernel(Lifecycle, Inspection):
    """An embedded Neuro kernel. Use it as ``async with Kernel(...) as k`` inside trio.

    `log` is the SQLite file for the event log (``None``: no log). Policies come from the
    shipped `policies/` folder and `policy_dirs` (default: ``$NEURO_HOME/policies``);
    `policies` adds or replaces some by name; `watch_policies` reloads them live when their
    files change. `neuro_dirs` are drop folders: a neuro file dropped in is spawned, a
    changed one swapped, a deleted one stopped. Their files are untrusted: imported only in
    a sandbox, run under the `untrusted` policy unless they name another sandboxed one.
    `trusted_dirs` are drop folders whose files are trusted: imported and run in-process
    like your own code. `backends` adds sandbox backends by name. `log_retention` is how
    much of the log to keep (``"30d"``, ``"10GB"``, ``"30d,10GB"``, a `Retention`; default
    ``"all"``: everything), pruned in the background in small steps (kernel/_retention.py).
    `drop_pins` is the file where the drop folders keep their pins (a drop-folder neuro a
    person stopped or rolled back stays so across restarts; kernel/_dropstate.py); without
    one, pins last as long as the kernel. `on_demand` maps names to `OnDemand` specs
    (``module:Class``, a policy): a send or call to such a name spawns it first, if no process
    of that name runs (kernel/_ondemand.py); the daemon passes the installed learners.
    `ray` is the Ray cluster that neuros whose policy says `sandbox = "ray"` are placed on
    (``"auto"``: the one this machine belongs to; ``"host:6379"``; default: the Ray this
    process is connected to, else a local one started on first use; docs/ray.md). Ray is
    imported only when a neuro is first placed there.
    With `dream`, the dream daemon (neuro.dream, docs/dream.md) starts with the kernel, as a
    supervised system neuro under the `dream` policy; it needs a `log`.
    """

    def __init__(self, log: str | PathLike[str] | None = None, *, policies: dict[str, Policy] | None = None,
                 policy_dirs: list[str] | None = None, watch_policies: bool = False,
                 neuro_dirs: list[str | PathLike[str]] | None = None,
                 trusted_dirs: list[str | PathLike[str]] | None = None,
                 backends: dict[str, Backend] | None = None, flush_interval: float = 0.05,
                 log_retention: Any = None, drop_pins: str | PathLike[str] | None = None,
                 on_demand: dict[str, Any] | None = None, ray: str | None = None,
                 dream: bool = False) -> None:
        flush_interval = check_number(flush_interval, "flush_interval")
        if not isinstance(dream, bool):
            raise TypeError(f"dream must be True or False, got {brief(dream)}")
        if dream and log is None:
            raise NeuroError("Kernel(dream=True) needs an event log: the dream daemon learns from the calls "
                             "it logs; give Kernel(log=\"run.db\", dream=True)")
        self._dream = dream  # start the dream daemon (neuro.dream) once running
        self._log_path = str(log) if log is not None else None
        self._retention = Retainer(self, log_retention, self._log_path)  # checks the value
        self._store = PolicyStore(policy_dirs, policies)
        self._watch_policies = watch_policies
        self._policy_watch: Any = None
        self._neuro_dirs = [(str(d), False) for d in (neuro_dirs or [])] + [(str(d), True) for d in (trusted_dirs or [])]
        self._drop_folders: list[Any] = []
        from ._dropstate import PinStore

        self._drop_pins = PinStore(drop_pins)
        self._drop_pins.load()  # a file that does not read stops here, naming its line
        self._watchers = trio.CancelScope()  # drop folders and the policy watch
        self._backends = {**default_backends(ray=ray), **(backends or {})}
        self._flush_interval = flush_interval
        self._eventlog: EventLog | None = None
        self._commits: CommitWatch | None = None  # what the log's writer committed (kernel/_follow.py)
        self._deadlines = Deadlines()
        self._router = Router(None, self._deadlines, self._event, self._report_crash)
        self._feed = EventFeed(self._router)  # kernel events to subscribed neuros
        if on_demand:  # names spawned on first use (kernel/_ondemand.py)
            from ._ondemand import OnDemandTable

            self._on_demand = OnDemandTable(self, on_demand)
            self._router.on_demand = self._on_demand.ensure
        self._grants: weakref.WeakKeyDictionary[Process, Any] = weakref.WeakKeyDictionary()  # ctx.kernel
        self._pids = itertools.count(1)
        self._root = Supervisor(ROOT, "one_for_one", 3, 5.0, None, self)
        self._supervisors: dict[str, Supervisor] = {ROOT: self._root}
        self._lifecycle = trio.Lock()
        self._halt_grace: float | None = None  # set at shutdown: overrides each child's `shutdown`
        self._decoders: dict[type, tuple[msgspec.msgpack.Decoder, tuple[type, ...] | None]] = {}
        self._recovered: dict[str, list[Any]] = {}  # durable messages to redeliver, by neuro
        self._store_versions = VersionStore()  # read back from the log at start
        self._artifacts: Any = None  # the log's artifact store, opened when a version first needs it
        self._crashes: trio.MemorySendChannel | None = None
        self._nursery_manager: Any = None
        self._nursery: trio.Nursery | None = None
        self._state = "new"
        self.log = LogQuery(self)

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Kernel:
        if self._state != "new":
            raise NeuroError("a Kernel can be entered once; make a new one")
        recovered: tuple[int, dict[str, list[Any]]] = (0, {})
        if self._log_path is not None:
            self._eventlog = EventLog(self._log_path, flush_interval=self._flush_interval)
            self._eventlog.on_durable = self._router.from_writer(self._router.durable_committed)
            self._eventlog.on_failure = self._router.from_writer(self._router.durable_failed)
            recovered = self._eventlog.open()
            try:  # the version store lives in the log: its history, lineage and sources come back
                self._store_versions.load(await trio.to_thread.run_sync(read_history, self._log_path))
            except BaseException:
                self._eventlog.close()
                raise
            self._router.log = self._eventlog
            self._commits = CommitWatch.attach(self._eventlog)
        self._router.token = trio.lowlevel.current_trio_token()
        self._recovered = recovered[1]
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        self._router.nursery = self._nursery
        for backend in self._backends.values():
            backend.bind(self._nursery)
        send, receive = trio.open_memory_channel(math.inf)
        self._crashes = send
        self._background = trio.CancelScope()
        self._nursery.start_soon(self._run_background, receive)
        self._state = "running"
        self._event("kernel.started", None, "kernel", log=self._log_path)
        if recovered[0] or recovered[1]:
            self._event("kernel.recovered", None, "kernel", dead_lettered=recovered[0],
                        durable={name: len(rows) for name, rows in recovered[1].items()})
        if self._watch_policies or self._neuro_dirs:
            await self._nursery.start(self._run_watchers)
        if self._dream:  # a system neuro, supervised by the root, under the `dream` policy
            from neuro.dream import start as start_dream

            await start_dream(self)
        return self

    async def _run_watchers(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Drop folders and the policy watch: started once the kernel runs (they spawn
        neuros), cancelled first at shutdown (so nothing is respawned while stopping)."""
        with self._watchers:
            async with trio.open_nursery() as nursery:
                if self._watch_policies:
                    from ._policywatch import PolicyWatch

                    self._policy_watch = PolicyWatch(self._store.folders[1:], self.reload_policies,
                                                     self._store.stale)
                    nursery.start_soon(self._policy_watch.run)
                if self._neuro_dirs:
                    from ._dropfolder import DropFolder

                    for folder, trusted in self._neuro_dirs:
                        drop = DropFolder(self, folder, trusted=trusted)
                        self._drop_folders.append(drop)
                        await nursery.start(drop.run)
                task_status.started()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        try:
            await self.shutdown(drain=exc_type is None)
        finally:
            try:
                result = await self._nursery_manager.__aexit__(exc_type, exc, tb)
            except BaseExceptionGroup as group:
                # The body's own error comes back wrapped by the nursery; give it back as it was.
                if exc is not None and list(group.exceptions) == [exc]:
                    return False
                raise
        return result

    async def shutdown(self, *, drain: bool = True, timeout: float = 5.0) -> None:
        """Stop accepting; drain queued messages (up to `timeout`), dead-letter what is left
        with reason ``shutdown``, stop every neuro in reverse start order, flush the log.
        `timeout` bounds the whole stop: a handler still running after it (or at once, with
        drain=False) is cancelled, whatever its child spec's `shutdown` grace."""
        timeout = check_timeout(timeout)
        if self._state != "running":
            await trio.lowlevel.checkpoint()  # always a checkpoint, whatever the state
            return
        self._state = "stopping"
        self._router.closing = True
        self._watchers.cancel()
        if drain:
            with trio.move_on_after(timeout):
                while any(p.queue or p.in_flight for p in self._router.procs.values()):
                    await trio.sleep(0.005)
        self._halt_grace = 0.0  # the drain above was the grace; what still runs is cancelled
        async with self._lifecycle:
            await self._dead_letter_recovered()
            await self._root.shutdown("shutdown", failed=False)
            for proc in list(self._router.procs.values()):  # failed ones the tree no longer holds
                await self._halt_process(proc, "shutdown", failed=False)
            self._router.procs.clear()
        for backend in self._backends.values():
            await backend.aclose()
        await self._retention.stop()  # a pass part way ends its step and logs what went
        self._event("kernel.stopped", None, "kernel", accepted=self._router.accepted, **self._router.outcomes)
        for subscribers in self._router.client_topics.values():  # after kernel.stopped: the last they get
            for channel in subscribers:
                channel.close()  # a subscriber's `async for` ends instead of waiting forever
        self._background.cancel()
        if self._artifacts is not None:
            await trio.to_thread.run_sync(self._artifacts.close)
        if self._eventlog is not None:
            await trio.to_thread.run_sync(self._eventlog.close)
        self.log._close()
        self._state = "stopped"

    async def _dead_letter_recovered(self) -> None:
        """Durable messages recovered for a neuro that was never spawned again end here."""
        log = self._eventlog
        if log is None or not self._recovered:
            return
        now = time.time()
        for name, rows in self._recovered.items():
            for row in rows:
                log.append_outcome(row.id, now, "dead", "kernel restarted; its neuro was not spawned again",
                                   name, None, None, None)
        self._recovered = {}
        await trio.lowlevel.checkpoint()

    async def _run_background(self, crashes: trio.MemoryReceiveChannel) -> None:
        # The kernel's own tasks run under one scope so shutdown can cancel them without
        # cancelling the body of `async with Kernel()`, which runs in the nursery's scope.
        with self._background:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._deadlines.run)
                nursery.start_soon(self._supervise_loop, crashes)
                nursery.start_soon(self._feed.run)
                nursery.start_soon(self._retention.run)

    def _check_open(self) -> None:
        if self._state != "running":
            raise KernelClosed(f"the kernel is {self._state}; use it inside `async with Kernel(...)`")
        self._router.check_open()

    # -- the process table -----------------------------------------------------------------

    async def spawn(self, neuro: type[Neuro] | str, *, name: str | None = None, policy: str | None = None,
                    supervisor: str = ROOT, restart: str = "permanent", source: dict[str, bytes] | None = None,
                    version: str | None = None, as_name: str | None = None) -> ProcessInfo:
        """Start a neuro under `supervisor` (the root one by default) and return its row.
        `source` is the exact code it was loaded from (relative path -> bytes), kept in the
        version store and shipped to a sandbox; by default it is read from the module's file.

        With `version`, `neuro` is the name of a neuro (or of a process running one) and the
        version store's `version` of it (a hash or its prefix) starts as a new process named
        `as_name` (or `name`), beside what runs already: ``spawn("tutor", version="3fa2",
        as_name="student")`` lets a teacher and its student serve side by side. Untrusted
        code is described in a sandbox again, never imported here."""
        self._check_open()
        if as_name is not None:
            if name is not None and name != as_name:
                raise TypeError(f"give the new process's name once: name={name!r} or as_name={as_name!r}")
            name = as_name
        if version is not None:
            if not isinstance(neuro, str) or not isinstance(version, str):
                raise TypeError(f"spawn(NAME, version=V) takes the name of a stored neuro and a version (str); got "
                                f"{brief(neuro)} and {brief(version)}")
            if source is not None:
                raise TypeError("spawn(NAME, version=V) takes its source from the version store; drop source=")
            running = self._router.procs.get(neuro)
            key = running.manifest.name if running is not None else neuro
            target = self._store_versions.match(key, version, neuro)
            neuro, _ = await stored_class(self, key, target)  # its source and stored version come with it
        if not (isinstance(neuro, type) and issubclass(neuro, Neuro) and "__manifest__" in vars(neuro)):
            raise ManifestError(f"spawn takes a Neuro subclass with a manifest, got {brief(neuro)}")
        if source is not None:
            check_source(source)
            await find_artifacts(neuro)  # part of the version the source makes
            adopt_source(neuro, source)
        await self._policy_of(neuro, policy)  # artifacts stored and exported before the lock (1 GB takes time)
        sup = self._supervisors.get(supervisor)
        if sup is None:
            raise NeuroError(f"no supervisor named {supervisor!r}; known: {', '.join(self._supervisors)}")
        async with self._lifecycle:
            proc = await self._spawn(Child(neuro, name=name, restart=restart, policy=policy), sup)
        return proc.info()

    async def _spawn(self, child: Child, sup: Supervisor) -> Process:
        neuro = child.neuro
        if not (isinstance(neuro, type) and issubclass(neuro, Neuro) and "__manifest__" in vars(neuro)):
            raise ManifestError(f"spawn takes a Neuro subclass with a manifest, got {neuro!r}")
        manifest = neuro.__manifest__
        name = child.name or manifest.name
        check_name(name, child.restart)
        existing = self._router.procs.get(name)
        if existing is not None:
            if existing.state not in (State.FAILED, State.STOPPED):
                raise AlreadyRunning(f"a neuro named {name!r} is already running (pid {existing.pid}); "
                                     "stop it first or spawn this one with another name=")
            await self._forget(existing)
        pol = await self._policy_of(neuro, child.policy, name)
        backend = check_backend(name, manifest, pol, self._backends)
        decoder, outputs = self._codec(neuro)
        check_grants(name, neuro, pol, backend, decoder)
        proc = Process(next(self._pids), name, neuro, pol, sup, child.restart, decoder, outputs)
        proc.energy = open_account(self, proc)  # joules per neuro against its policy's budget (kernel/_energy.py)
        proc.backend = backend
        proc.shutdown = child.shutdown
        try:
            await self._start_worker(proc)
        except Exception as e:
            self._event("neuro.start_failed", name, "kernel", error=f"{type(e).__name__}: {e}")
            raise NeuroError(f"could not start {name}: {type(e).__name__}: {e}") from e
        self._router.procs[name] = proc
        sup.children.append(proc)
        for topic in manifest.subscribe:
            self._router.neuro_topics.setdefault(topic, []).append(name)
        self._record_version(neuro, "spawn", None, getattr(neuro, "__neuro_source__", None))
        self._event("neuro.spawned", name, sup.name, pid=proc.pid, version=proc.version, policy=pol.name,
                    sandbox=backend)
        if name in self._recovered:
            redeliver(self, proc, self._recovered.pop(name))
        self._warn_unenforced(proc)
        return proc

    def _warn_unenforced(self, proc: Process) -> None:
        """Say in the log what this policy asks that this backend cannot enforce."""
        missing = self._backends[proc.backend].unenforced(proc.policy)
        if proc.worker is not None and proc.worker.unenforced:  # what this instance's sandbox could not set
            missing = {**missing, **proc.worker.unenforced}
        if missing:
            self._event("quota.unenforceable", proc.name, "kernel", backend=proc.backend, limits=missing)

    async def reload_policies(self) -> dict[str, Any]:
        """Read the policy files again. Running neuros pick up changed quotas at once; a bad
        file is an event and its policy keeps the value it had."""
        changed, errors = await trio.to_thread.run_sync(self._store.reload)
        for name, error in errors.items():
            self._event("policy.invalid", None, "kernel", policy=name, error=str(error))
        for name, policy in changed.items():
            self._event("policy.changed", None, "kernel", policy=name)
            for proc in list(self._router.procs.values()):  # a spawn may come while one awaits
                if proc.policy.name != name:
                    continue
                try:
                    new = apply_overrides(policy, proc.manifest.policy_overrides,
                                          f"overrides of {proc.name}") if proc.manifest.policy_overrides else policy
                    new = with_artifact_grants(new, proc.neuro)  # its artifacts stay readable
                    # Checked as it will apply, overrides included: a reload cannot label an in-process
                    # neuro, nor give its own labels or its taint a way out.
                    check_labels(proc.name, new, proc.backend)
                    check_reload(proc.name, proc.labels, new, proc.backend)
                    proc.policy = new
                except PolicyError as e:
                    self._event("policy.invalid", proc.name, "kernel", policy=name, error=str(e))
                    continue
                self._router.policy_changed(proc)
                worker = proc.worker
                if worker is not None:
                    await worker.apply_policy(proc.policy)
                self._event("policy.applied", proc.name, "kernel", policy=name)
                self._warn_unenforced(proc)
        return {"changed": sorted(changed), "errors": {n: str(e) for n, e in errors.items()}}

    def drop_folders(self) -> list[Any]:
        """The drop folders this kernel watches (each has `statistics()` and `wait_idle()`)."""
        return list(self._drop_folders)

    def policies(self) -> dict[str, Policy]:
        """Every policy this kernel knows, by name."""
        return dict(self._store.policies)

    def _codec(self, neuro: type[Neuro]) -> tuple[msgspec.msgpack.Decoder, tuple[type, ...] | None]:
        codec = self._decoders.get(neuro)
        if codec is None:
            out = neuro.__manifest__.output
            outputs = typing.get_args(out) if _is_union(out) else (type(None),) if out is None else (out,)
            codec = (msgspec.msgpack.Decoder(neuro.__manifest__.input), outputs)
            self._decoders[neuro] = codec
        return codec

    async def _policy_of(self, neuro: type[Neuro], policy: str | None = None, name: str | None = None) -> Policy:
        """The policy an instance of `neuro` runs under, with read grants of its artifacts."""
        return await _versionops.policy_of(self, neuro, policy, name)

    def _record_version(self, neuro: type[Neuro], origin: str, parent: str | None,
                        source: dict[str, bytes] | None = None) -> None:
        _versionops.record_version(self, neuro, origin, parent, source)

    async def _start_worker(self, proc: Process) -> None:
        backend = self._backends[proc.backend]
        worker = await backend.start(proc.neuro, proc.policy)
        # Called only by a worker that can end on its own (one in another process).
        worker.on_exit = lambda died: self._worker_died(proc, worker, died)
        proc.worker = worker
        proc.state = State.RUNNING
        proc.stop_reason = None
        proc.started_at = time.time()
        if proc.queue:
            self._router._start_runner(proc)

    async def stop(self, name: str, *, drain: bool = True, timeout: float = 5.0, reason: str = "stopped") -> None:
        """Stop a neuro for good: it is not restarted. Queued messages drain for up to
        `timeout` seconds (with `drain`), then end as dead letters with `reason`."""
        timeout = check_timeout(timeout)
        self._check_open()
        async with self._lifecycle:
            proc = self._router.procs.get(name)
            if proc is None:
                raise NoSuchNeuro(f"no neuro named {name!r} is running")
            if proc in proc.supervisor.children:
                proc.supervisor.children.remove(proc)
            await self._halt_process(proc, reason, failed=False, drain=drain, grace=timeout)
            await self._forget(proc)
        if reason != "removed":  # a drop folder's own stop of a removed file pins nothing
            self._pin_drop(name, "stopped", None)

    def _pin_drop(self, name: str, how: str, version: str | None) -> None:
        """A person stopped or rolled back `name`: if a drop folder runs it, the next save of
        its file must not undo that (kernel/_dropstate.py)."""
        for drop in self._drop_folders:
            if drop.pin(name, how, version) is not None:
                return

    async def unpin(self, name: str) -> Any:
        """Let the drop-folder neuro `name`, pinned by a stop or a rollback, follow its file
        again: its file's current version is loaded (spawned, or swapped in) before this
        returns an `Unpinned` saying what runs now. Raises NoSuchNeuro if `name` is not pinned."""
        from ._dropstate import Unpinned

        self._check_open()
        for drop in self._drop_folders:
            pin = await drop.unpin(name)
            if pin is None:
                continue
            proc = self._router.procs.get(name)
            broken = drop.broken().get(pin.entry)
            state = proc.state.value if proc is not None else "broken" if broken is not None else "stopped"
            return Unpinned(name=name, file=os.path.join(pin.folder, pin.entry), how=pin.how,
                            pinned_version=pin.version, state=state,
                            version=proc.version if proc is not None else None,
                            error=broken.error if broken is not None else "")
        pin = self._drop_pins.pop(name)  # one of a folder this kernel no longer watches
        if pin is None:
            pinned = ", ".join(p.name for p in self._drop_pins.all()) or "none"
            raise NoSuchNeuro(f"{name!r} is not pinned (pinned: {pinned}); a drop-folder neuro is pinned when "
                              "it is stopped or rolled back")
        return Unpinned(name=name, file=os.path.join(pin.folder, pin.entry), how=pin.how,
                        pinned_version=pin.version, state="stopped")

    async def restart(self, name: str) -> ProcessInfo:
        """Restart a neuro with fresh state; its queued messages wait for the new instance."""
        self._check_open()
        async with self._lifecycle:
            proc = self._router.procs.get(name)
            if proc is None:
                raise NoSuchNeuro(f"no neuro named {name!r} is running")
            if proc.supervisor.state != "running":
                if proc in proc.supervisor.children:
                    proc.supervisor.children.remove(proc)
                self._event("neuro.reparented", name, ROOT, old_supervisor=proc.supervisor.name,
                            reason=f"supervisor {proc.supervisor.name} is {proc.supervisor.state}")
                proc.supervisor = self._root
            if proc not in proc.supervisor.children:
                proc.supervisor.children.append(proc)
            await self._halt_process(proc, "restart requested", failed=False, for_restart=True)
            await self._restart_process(proc, "restart requested")
        return proc.info()

    # -- hooks ------------------------------------------------------------------------------

    async def hook(self, name: str, hook: str, *, origin: str = "api") -> Any:
        """Run the `sleep` hook (consolidation: it gets a context, so it may send, call and
        publish) or the `selfcheck` of neuro `name`'s running instance, and return what it
        returned. It runs beside the neuro's message handling, as a swap's snapshot does. What
        it did and how long it took is a ``hook.done`` event (hook, seconds, ok, and the result
        or the error); a hook that raises is a `RemoteError` here, as a handler's error is, and
        does not crash the neuro. `origin` names who asked, for the log."""
        self._check_open()
        return await run_hook(self, name, hook, origin)

    # -- ctx.kernel: the control capability -------------------------------------------------

    def _granted(self, proc: Process) -> Any:
        """What neuro `proc`'s `ctx.kernel` requests go through: the client API's own `Ops`
        (the one reader of control requests), behind its policy's ``capabilities.control``."""
        granted = self._grants.get(proc)
        if granted is None:
            from ._control_ops import Granted  # the control layer, on a neuro's first request

            granted = self._grants[proc] = Granted(self, proc)
        return granted

    # -- versions: swap and rollback -------------------------------------------------------

    async def swap(self, name: str, neuro: type[Neuro], *, replay: int | None = None,
                   tolerance: float | None = None, accept: bool = False, origin: str = "api",
                   source: dict[str, bytes] | None = None, dry_run: bool = False) -> SwapReport:
        """Replace the running version of `name` with `neuro`, atomically, without losing a
        message. With `replay` (or the manifest's `replay`), the replay gate runs first: the
        current version and the new one each answer the last N logged calls in a shadow
        instance that sends nothing, from the same state, and the new one goes live only if
        their answers agree (equal; numbers within `tolerance`; or as the neuro's own `agree`
        hook says); `accept` takes the differences. `dry_run` loads, self-checks and runs the
        gate, reports, and leaves the old version serving. Raises `SwapFailed` (with the
        report, and the gate's first differences) if it does not (or, dry, would not) go
        live; the old version keeps serving."""
        return await _versionops.swap(self, name, neuro, replay=replay, tolerance=tolerance, accept=accept,
                                      origin=origin, source=source, dry_run=dry_run)

    async def rollback(self, name: str, version: str | None = None) -> SwapReport:
        """Swap `name` back to `version` (default: the version the running one replaced). A
        drop-folder neuro is pinned there: a save of its file does not undo it (`unpin`)."""
        report = await _versionops.rollback(self, name, version)
        if report.ok:
            self._pin_drop(name, "rolled_back", report.new_version)
        return report

    async def load(self, path: str | PathLike[str], *, trusted: bool = False, policy: str = "untrusted",
                   folder: str | PathLike[str] | None = None) -> Any:
        """Load the neuro file or package folder at `path` for `spawn` or `swap` (returns a
        `LoadedNeuro`: `.cls`, `.name`, `.version`, `.files`). Untrusted code (the default) is
        imported only in a sandbox of `policy` and runs sandboxed; `trusted=True` imports it
        here, for code you wrote. Raises NeuroFileError naming the file and what to do."""
        return await _versionops.load(self, path, trusted=trusted, policy=policy, folder=folder)

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of neuro `name` in the version store (this kernel's, and with a log
        every one the log holds), oldest first, with its origin, lineage and artifacts;
        `live` marks the running one."""
        return _versionops.versions(self, name)

    async def source(self, name: str, version: str) -> VersionSource:
        """The code of stored `version` (a version or its prefix) of neuro `name`: its files
        as text and its artifacts' hashes. Raises NeuroError when it is not stored."""
        return await _versionops.source(self, name, version)

    # -- supervision -----------------------------------------------------------------------

    async def supervise(self, spec: SupervisorSpec, *, parent: str = ROOT) -> SupervisorInfo:
        """Start a supervisor and its children (left to right) under `parent`."""
        self._check_open()
        check_tree(spec)  # again: its `children` lists may have changed since it was built
        if parent not in self._supervisors:
            raise NeuroError(f"no supervisor named {parent!r}; known: {', '.join(self._supervisors)}")
        if spec.name in self._supervisors:
            raise AlreadyRunning(f"a supervisor named {spec.name!r} already exists")
        async with self._lifecycle:
            sup = await self._start_subtree(spec, self._supervisors[parent])
        return sup.info()

    def supervisors(self) -> list[SupervisorInfo]:
        return [s.info() for s in self._supervisors.values()]

    # -- messaging -------------------------------------------------------------------------

    async def send(self, to: str, payload: Any, *, timeout: float | None = None, durable: bool = False) -> int:
        """Send a one-way message; returns its id. Waits for room in a full mailbox whose rule
        is `block`, up to `timeout` seconds (default: the policy's `send_timeout`, 30 s;
        `math.inf` waits for ever); raises `InvalidPayload`, `NoSuchNeuro`, `MailboxFull`.
        With `durable`, returns only once the message is on disk (synchronous=FULL, committed
        in groups with other durable senders): after a crash it is delivered again."""
        self._check_open()
        return await self._router.send(CLIENT, to, payload, timeout, durable=durable)

    def send_nowait(self, to: str, payload: Any) -> int:
        """Like `send`, but raises `trio.WouldBlock` instead of waiting for room."""
        self._check_open()
        return self._router.send_nowait(CLIENT, to, payload)

    async def call(self, to: str, payload: Any, *, timeout: float | None = 10.0, durable: bool = False) -> Any:
        """Send a request and wait for the reply; raises `RemoteError` if the handler raised,
        `CallTimeout` after `timeout` seconds (`None` or `math.inf`: no deadline, though the
        wait for room in a full `block` mailbox is still bounded by the policy's
        `send_timeout` under `None`), `DeadLetter` if the message was dropped.
        With `durable`, the request is on disk before it is delivered (see `send`)."""
        self._check_open()
        return await self._router.call(CLIENT, to, payload, timeout, durable=durable)

    async def publish(self, topic: str, payload: Any) -> int:
        """Publish an event on `topic`; returns how many subscribers it reached."""
        self._check_open()
        return await self._router.publish(CLIENT, topic, payload)

    def publish_nowait(self, topic: str, payload: Any) -> int:
        """Like `publish`, and never a checkpoint: `publish` never waits either, it only
        checkpoints (trio's rule); a subscriber without room now is skipped, with an event."""
        self._check_open()
        return self._router.publish_nowait(CLIENT, topic, payload)

    @asynccontextmanager
    async def subscribe(self, topic: str, *, buffer: int = 1000) -> AsyncIterator[trio.MemoryReceiveChannel]:
        """Receive ``(topic, sender, payload)`` for every event published on `topic` (a name,
        or a prefix ending in ``*``). Kernel lifecycle events come on ``kernel.events``.
        A subscriber that falls `buffer` events behind loses the newest ones."""
        if buffer != math.inf:
            check_count(buffer, "buffer")
        if not isinstance(topic, str):
            raise TypeError(f"topic must be a str (a name, or a prefix ending in `*`), got {brief(topic)}")
        send, receive = trio.open_memory_channel(buffer)
        subs = self._router.client_topics.setdefault(topic, [])
        subs.append(send)
        try:
            async with receive:
                yield receive
        finally:
            subs.remove(send)
            send.close()

    def _event(self, name: str, neuro: str | None, actor: str, **data: Any) -> None:
        """Log event `name` of the catalogue (kernel/_events.py) and tell its subscribers; a
        name not there, or data that does not fit its Struct, is an error (a kernel bug)."""
        record = event_data(name, data)
        if self._eventlog is not None:
            self._eventlog.append_event(name, neuro, actor, record)  # type: ignore[arg-type]  # encodes as a dict
        router = self._router
        if router.client_topics or router.neuro_topics:
            data = redacted(router, as_dict(record), neuro, actor)
            event = KernelEvent(time=time.time(), name=name, neuro=neuro, actor=actor, data=data)
            if router.client_topics:  # the kernel's event, whoever its actor: no egress check (nor a flow.refused)
                router.publish_to_clients(EVENTS_TOPIC, event, actor, by_kernel=True)
            if router.neuro_topics and self._state == "running":
                self._feed.deliver(event)
