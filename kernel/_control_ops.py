"""What each control request does to a kernel: the one place requests meet the Kernel API.

The daemon's server and the embedded client both call `Ops`, so a request means the same
thing whichever way it arrives. `request()` returns a value the protocol can carry; `stream()`
yields ``(topic, sender, payload)`` items for `Subscribe` and `Tail`.

Requests that only read the kernel's tables (ping, ps, info, status, statistics, versions,
policies, mailbox statistics, supervisors, drop folders without waiting, shutdown) finish
without a checkpoint, so the daemon answers them inline in the task
that read them; a caller that loops on them from trio must checkpoint itself (`Local` does).

A neuro's `ctx.kernel` is a client whose requests come through `Granted`: the same `Ops`, once
the neuro's policy grants the operation (``capabilities.control``). From a sandbox a request
travels as bytes: `Granted.serve` answers them, `neuro._wire_errors.reply_of` reads the answer
in the sandbox.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

import msgspec
import trio

import neuro
from neuro import _control as c
from neuro._checks import check_source
from neuro._errors import ManifestError, NeuroError, PolicyError
from neuro._manifest import Neuro
from neuro._wire_errors import to_frame

from ._artifactexport import find_artifacts
from ._kernel import CLIENT
from ._labels import client_egress
from ._supervisor import Child, SupervisorSpec
from ._versions import adopt_source

__all__ = ["Ops", "Granted", "OPERATIONS", "resolve_neuro"]


class Ops:
    """Runs control requests against `kernel`. `status` adds the daemon's own facts to
    `Status`; `shutdown` is called for `Shutdown` (None: refused)."""

    def __init__(self, kernel: Any, *, status: Callable[[], dict[str, Any]] | None = None,
                 shutdown: Callable[[], None] | None = None, origin: str = "api") -> None:
        self.kernel = kernel
        self._status = status
        self._shutdown = shutdown
        self._origin = origin  # who swaps and runs hooks, as the log records it
        self._reply_egress = self._check_reply_egress  # bound once: a call then makes no closure
        self._handlers: dict[type, Callable[[Any], Any]] = {
            c.Ping: self._ping, c.Status: self._status_of, c.Shutdown: self._shutdown_req,
            c.Ps: self._ps, c.Info: self._info, c.Spawn: self._spawn, c.Stop: self._stop,
            c.Restart: self._restart, c.Send: self._send, c.Call: self._call, c.Publish: self._publish,
            c.Messages: self._messages, c.Events: self._events, c.Trace: self._trace, c.Swap: self._swap,
            c.Rollback: self._rollback, c.Versions: self._versions, c.Policies: self._policies,
            c.ReloadPolicies: self._reload, c.Statistics: self._statistics, c.Hook: self._hook,
            c.Vacuum: self._vacuum, c.Source: self._source, c.MailboxStatistics: self._mailbox,
            c.Supervisors: self._supervisors, c.Supervise: self._supervise, c.DropFolders: self._drop_folders,
            c.Load: self._load, c.Describe: self._describe, c.Usage: self._usage,
            c.Unpin: self._unpin,
        }

    async def request(self, req: Any) -> Any:
        handler = self._handlers.get(type(req))
        if handler is None:
            raise NeuroError(f"{type(req).__name__} is not a request this daemon serves")
        return await handler(req)

    # -- the daemon ---------------------------------------------------------------------------

    async def _ping(self, req: c.Ping) -> str:
        return "pong"

    async def _status_of(self, req: c.Status) -> dict[str, Any]:
        facts = {"protocol": c.PROTOCOL, "version": neuro.__version__, "neuros": len(self.kernel.ps()),
                 "statistics": msgspec.to_builtins(self.kernel.statistics())}
        if self._status is not None:
            facts.update(self._status())
        return facts

    async def _shutdown_req(self, req: c.Shutdown) -> str:
        if self._shutdown is None:
            raise NeuroError("an embedded kernel stops when its `async with` block ends; nothing to shut down")
        self._shutdown()
        return "stopping"

    # -- the process table --------------------------------------------------------------------

    async def _ps(self, req: c.Ps) -> list[Any]:
        return self.kernel.ps()

    async def _info(self, req: c.Info) -> Any:
        return self.kernel.info(req.name)

    async def _describe(self, req: c.Describe) -> Any:
        return await self.kernel.describe(req.name, log=req.log)

    async def _usage(self, req: c.Usage) -> list[Any]:
        return self.kernel.usage()

    async def _mailbox(self, req: c.MailboxStatistics) -> Any:
        return self.kernel.mailbox_statistics(req.name)

    async def _spawn(self, req: c.Spawn) -> Any:
        where = {"name": req.name, "policy": req.policy, "supervisor": req.supervisor, "restart": req.restart}
        if req.version is not None:  # a stored version, under another name
            return await self.kernel.spawn(req.neuro, version=req.version, **where)
        cls = await self._resolve(req.neuro, req.trusted)
        return await self.kernel.spawn(cls, source=getattr(cls, "__neuro_files__", None), **where)

    async def _load(self, req: c.Load) -> c.Loaded:
        loaded = await self.kernel.load(req.path, trusted=req.trusted, policy=req.policy)
        return c.Loaded(name=loaded.name, version=loaded.version, neuro=loaded.cls.__name__, path=loaded.path,
                        files=list(loaded.files))

    async def _resolve(self, neuro: Any, trusted: bool) -> type[Neuro]:
        """The class a request names. A file is untrusted unless the request says otherwise:
        the kernel has a sandbox import it (`Kernel.load`); an installed module is trusted."""
        if isinstance(neuro, type):  # an embedded client passes the class itself
            await trio.lowlevel.checkpoint()
            return neuro
        path, cls_name = _split_spec(neuro)
        if not trusted and _names_a_file(path):
            if not os.path.exists(path):
                raise ManifestError(f"no neuro file at {path!r}; give an existing .py file or package folder")
            loaded = await self.kernel.load(path)
            if cls_name and loaded.cls.__name__ != cls_name:
                raise ManifestError(f"{neuro!r}: the file's neuro class is {loaded.cls.__name__}, not {cls_name}; "
                                    "an untrusted file holds one neuro (or names it in neuro.toml)")
            loaded.cls.__neuro_files__ = loaded.files
            loaded.cls.__neuro_origin__ = loaded.path  # the file it came from, for `neuro info`
            return loaded.cls
        return await trio.to_thread.run_sync(resolve_neuro, neuro)

    async def _stop(self, req: c.Stop) -> None:
        await self.kernel.stop(req.name, drain=req.drain, timeout=req.timeout)

    async def _restart(self, req: c.Restart) -> Any:
        return await self.kernel.restart(req.name)

    async def _hook(self, req: c.Hook) -> Any:
        return await self.kernel.hook(req.name, req.hook, origin=self._origin)

    # -- supervision and drop folders ---------------------------------------------------------

    async def _supervisors(self, req: c.Supervisors) -> list[Any]:
        return self.kernel.supervisors()

    async def _supervise(self, req: c.Supervise) -> Any:
        spec = await self._tree(req.spec, req.trusted)
        return await self.kernel.supervise(spec, parent=req.parent)

    async def _tree(self, wire: c.WireSupervisor, trusted: bool) -> SupervisorSpec:
        """The kernel's spec of a `WireSupervisor`: each child's neuro resolved as `Spawn`'s is
        (a file is loaded in a sandbox unless `trusted`), with the source it was loaded from."""
        children: list[Any] = []
        for child in wire.children:
            if isinstance(child, c.WireSupervisor):
                children.append(await self._tree(child, trusted))
                continue
            cls = await self._resolve(child.neuro, trusted)
            files = getattr(cls, "__neuro_files__", None)
            if files is not None:  # as Kernel.spawn takes a `source=`
                check_source(files)
                await find_artifacts(cls)
                adopt_source(cls, files)
            children.append(Child(cls, name=child.name, restart=child.restart, policy=child.policy,
                                  shutdown=child.shutdown))
        return SupervisorSpec(name=wire.name, children=children, strategy=wire.strategy,
                              max_restarts=wire.max_restarts, period=wire.period, restart=wire.restart)

    async def _drop_folders(self, req: c.DropFolders) -> list[Any]:
        folders = self.kernel.drop_folders()
        if req.wait_idle:
            for folder in folders:
                await folder.wait_idle()
        return [folder.statistics() for folder in folders]

    async def _unpin(self, req: c.Unpin) -> Any:
        return await self.kernel.unpin(req.name)

    # -- messages -----------------------------------------------------------------------------

    async def _send(self, req: c.Send) -> int:
        if req.durable:
            return await self.kernel.send(req.to, req.payload, timeout=req.timeout, durable=True)
        return await self.kernel.send(req.to, req.payload, timeout=req.timeout)

    async def _call(self, req: c.Call) -> Any:
        # A labelled outcome (a reply, or an error whose text may hold the data) leaves the kernel
        # here only through the callee's `labels.egress.clients`.
        kernel = self.kernel
        kernel._check_open()
        return await kernel._router.call(CLIENT, req.to, req.payload, req.timeout, durable=req.durable,
                                         check=self._reply_egress)

    def _check_reply_egress(self, call: Any) -> None:
        client_egress(call.callee, self.kernel._event, "a reply", call.labels)

    async def _publish(self, req: c.Publish) -> int:
        return await self.kernel.publish(req.topic, req.payload)

    # -- the log ------------------------------------------------------------------------------

    async def _messages(self, req: c.Messages) -> list[Any]:
        return await self.kernel.log.messages(**_fields(req))

    async def _events(self, req: c.Events) -> list[Any]:
        return await self.kernel.log.events(**_fields(req))

    async def _trace(self, req: c.Trace) -> Any:
        return await self.kernel.log.trace(req.message)

    async def _vacuum(self, req: c.Vacuum) -> Any:
        return await self.kernel.log.vacuum(keep=req.keep, dry_run=req.dry_run, compact=req.compact,
                                            actor=self._origin)

    # -- versions -----------------------------------------------------------------------------

    async def _swap(self, req: c.Swap) -> Any:
        cls = await self._resolve(req.neuro, req.trusted)
        files = getattr(cls, "__neuro_files__", None)
        return await self.kernel.swap(req.name, cls, replay=req.replay, tolerance=req.tolerance, accept=req.accept,
                                      dry_run=req.dry_run, origin=self._origin, source=files)

    async def _rollback(self, req: c.Rollback) -> Any:
        return await self.kernel.rollback(req.name, req.version)

    async def _versions(self, req: c.Versions) -> list[Any]:
        return self.kernel.versions(req.name)

    async def _source(self, req: c.Source) -> Any:
        return await self.kernel.source(req.name, req.version)

    # -- policies and counters ----------------------------------------------------------------

    async def _policies(self, req: c.Policies) -> dict[str, Any]:
        return self.kernel.policies()

    async def _reload(self, req: c.ReloadPolicies) -> dict[str, Any]:
        return await self.kernel.reload_policies()

    async def _statistics(self, req: c.Statistics) -> Any:
        return self.kernel.statistics()

    # -- streams ------------------------------------------------------------------------------

    @asynccontextmanager
    async def stream(self, req: Any) -> AsyncIterator[AsyncIterator[tuple[str, str, Any]]]:
        """Items of a `Subscribe` or `Tail` stream, until the caller leaves the block."""
        if isinstance(req, c.Subscribe):
            async with self.kernel.subscribe(req.topic) as channel:
                yield channel
        elif isinstance(req, c.Tail):
            yield self._tail(req)
        else:
            raise NeuroError(f"{type(req).__name__} is not a stream")

    async def _tail(self, req: c.Tail) -> AsyncIterator[tuple[str, str, Any]]:
        """Rows as the log's writer commits them (`kernel.log.follow`): no polling, and no
        flush asked of the writer."""
        log = self.kernel.log
        if req.events:
            async for row in log.follow(events=True, neuro=req.neuro, since=req.since, after_seq=req.after_seq):
                yield "log.events", row.actor, row
        else:
            async for row in log.follow(neuro=req.neuro, kind=req.kind, correlation=req.correlation,
                                        outcome=req.outcome, since=req.since, after_id=req.after_id):
                yield "log.messages", row.sender, row


# -- ctx.kernel: the control capability -------------------------------------------------------

# The operation of each request a neuro may make, as `capabilities.control` names it (`ping`:
# granted to all). The names are the kernel's CONTROL_OPERATIONS. A request that reads or acts
# as another already does shares its name: a mailbox's and the drop folders' counters are
# statistics, the supervision tree is part of the process table (ps), and starting a
# supervisor's children or loading a file to start is spawning.
OPERATIONS: dict[type, str] = {
    c.Ping: "ping", c.Status: "statistics", c.Statistics: "statistics", c.Ps: "ps", c.Info: "info",
    c.Spawn: "spawn", c.Stop: "stop", c.Restart: "restart", c.Swap: "swap", c.Rollback: "rollback",
    c.Versions: "versions", c.Source: "versions", c.Hook: "hook", c.Messages: "messages", c.Events: "events",
    c.Trace: "trace", c.Policies: "policies", c.ReloadPolicies: "reload_policies",
    c.MailboxStatistics: "statistics", c.DropFolders: "statistics", c.Supervisors: "ps", c.Supervise: "spawn",
    c.Load: "spawn", c.Describe: "info", c.Usage: "statistics",
    c.Unpin: "swap",  # it loads a file's version in place of the running one, as a swap does
}
_NOT_OFFERED = {
    c.Shutdown: "a neuro cannot shut down the kernel it runs in",
    c.Send: "a neuro sends with ctx.send", c.Call: "a neuro calls with ctx.call (several at once: ctx.gather)",
    c.Publish: "a neuro publishes with ctx.publish",
    c.Subscribe: "a neuro subscribes in its manifest (subscribe = (\"kernel.events\",) for the kernel's events)",
    c.Tail: "a neuro reads the log with ctx.kernel.messages() and ctx.kernel.events()",
    c.Vacuum: "the log's retention is the kernel's (Kernel(log_retention=...)) and a person's (`neuro log vacuum`)",
}
# Operations a neuro cannot aim at itself: the kernel would wait for the handler that asked.
_NOT_ON_ITSELF = frozenset({"stop", "restart", "swap", "rollback"})
_request_decoder = msgspec.msgpack.Decoder(c.Request)
_encoder = msgspec.msgpack.Encoder()


class Granted:
    """The control requests of one neuro's `ctx.kernel`, run through `Ops` once its policy's
    ``capabilities.control`` grants the operation. Untrusted code is granted none."""

    def __init__(self, kernel: Any, proc: Any) -> None:
        self.proc = proc  # the kernel's process-table row of the asking neuro
        self.ops = Ops(kernel, origin=proc.name)

    def check(self, req: Any) -> None:
        """Raise unless the neuro may make `req`: PolicyError naming the key that grants it."""
        proc = self.proc
        op = OPERATIONS.get(type(req))
        if op is None:
            why = _NOT_OFFERED.get(type(req), "it is not a request of the client API")
            raise NeuroError(f"ctx.kernel does not offer {type(req).__name__}: {why}")
        if op == "ping":
            return
        policy = proc.policy
        if "__neuro_described__" in vars(proc.neuro):
            raise PolicyError(f"{proc.name} may not use ctx.kernel ({op}): its code is not trusted, and untrusted "
                              "code is never granted capabilities.control, whatever its policy says")
        granted = policy.capabilities.control
        if op not in granted and "*" not in granted:
            raise PolicyError(f"{proc.name} may not {op} through ctx.kernel: its policy {policy.name!r} does not "
                              f"grant it; grant it in that policy with capabilities.control = [\"{op}\"]")
        if getattr(req, "trusted", False):
            raise PolicyError(f"{proc.name} may not {op} a file as trusted through ctx.kernel: a file a neuro names "
                              "is imported only in a sandbox; a person trusts code, with `neuro spawn --trusted`")
        if op in _NOT_ON_ITSELF and getattr(req, "name", None) == proc.name:
            raise NeuroError(f"{proc.name} cannot {op} itself through ctx.kernel: the kernel would wait for the "
                             "very handler that asked; ask another neuro (or a client) to do it")

    async def request(self, req: Any) -> c.Reply:
        self.check(req)
        value = await self.ops.request(req)
        await trio.lowlevel.checkpoint()  # Ops answers table reads without one (as `Local` does)
        return c.Reply(id=req.id, value=value, type="")

    async def serve(self, raw: bytes) -> bytes:
        """A request from a sandboxed neuro, as bytes: the encoded `Reply`, or the `Error`
        frame of what it raised (the socket's error shape, so the sandbox raises the same)."""
        req: Any = None
        try:
            req = _request_decoder.decode(raw)
            reply = await self.request(req)
            return _encoder.encode(c.Reply(id=reply.id, value=reply.value, type=c.type_path(reply.value)))
        except Exception as e:  # noqa: BLE001 - it goes back to the neuro that asked
            return _encoder.encode(to_frame(getattr(req, "id", None), e, via="kernel"))


def _fields(req: Any) -> dict[str, Any]:
    return {f: getattr(req, f) for f in req.__struct_fields__ if f != "id"}


# -- naming a neuro: "module:Class", "path.py", "path.py:Class" or a package folder -----------

def _split_spec(spec: str) -> tuple[str, str]:
    path, _, cls_name = spec.partition(":") if not _is_windows_drive(spec) else (spec, "", "")
    return path, cls_name


def _names_a_file(path: str) -> bool:
    return path.endswith(".py") or os.sep in path or os.path.exists(path)


def resolve_neuro(spec: str) -> type[Neuro]:
    """The Neuro class `spec` names, imported in this process (trusted code). Blocking;
    raises ManifestError saying why not."""
    path, cls_name = _split_spec(spec)
    if _names_a_file(path):
        return _from_path(path, cls_name or None, spec)
    if not cls_name:
        raise ManifestError(f"cannot tell which neuro {spec!r} names; give `module:Class` "
                            "(for example neuro.neuros.echo:Echo) or the path of a neuro file")
    try:
        module = importlib.import_module(path)
    except ImportError as e:
        raise ManifestError(f"cannot import module {path!r} for {spec!r}: {e}; is it installed, "
                            "or is it a file (give its path)?") from None
    return _pick(module, cls_name, spec)


def _is_windows_drive(spec: str) -> bool:
    return len(spec) > 2 and spec[1] == ":" and spec[2] in "\\/"


def _from_path(path: str, cls_name: str | None, spec: str) -> type[Neuro]:
    if not os.path.exists(path):
        raise ManifestError(f"no neuro file at {path!r}; give an existing .py file or package folder")
    try:
        from neuro._neurofile import load_neuro_path
    except ImportError:  # an older kernel: import the file ourselves
        return _pick(_import_file(path), cls_name, spec)
    loaded = load_neuro_path(path)
    if cls_name and loaded.cls.__name__ != cls_name:
        return _pick(sys.modules[loaded.cls.__module__], cls_name, spec)
    cls = loaded.cls
    cls.__neuro_files__ = loaded.files  # so a swap can store the exact source
    return cls


def _import_file(path: str) -> Any:
    """Import a neuro file under a name made from its content, so a changed file is a new module."""
    if os.path.isdir(path):
        path = os.path.join(path, "__init__.py")
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    stem = os.path.splitext(os.path.basename(path))[0].replace("-", "_").replace(".", "_")
    name = f"neuro_file_{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ManifestError(f"{path!r} is not a Python file Neuro can load")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise ManifestError(f"loading {path} failed: {type(e).__name__}: {e}") from e
    return module


def _pick(module: Any, cls_name: str | None, spec: str) -> type[Neuro]:
    if cls_name:
        cls = getattr(module, cls_name, None)
        if not (inspect.isclass(cls) and issubclass(cls, Neuro) and "__manifest__" in vars(cls)):
            raise ManifestError(f"{spec!r}: {module.__name__} has no neuro class {cls_name!r}")
        return cls
    found = [v for v in vars(module).values() if inspect.isclass(v) and issubclass(v, Neuro)
             and "__manifest__" in vars(v) and v.__module__ == module.__name__]
    if len(found) != 1:
        names = ", ".join(v.__name__ for v in found) or "none"
        raise ManifestError(f"{spec!r} defines {len(found)} neuro classes ({names}); name one as PATH:Class")
    return found[0]

