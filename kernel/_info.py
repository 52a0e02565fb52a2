"""What one neuro is and how it is doing: `Kernel.describe` and `Kernel.usage`.

`describe(name)` gathers, for `neuro info`: the manifest, the input and output types as JSON
Schema (msgspec's, so a union carries its tag field and values in ``discriminator``), the
policy in force with every field resolved, the backend, the file it came from, its version
and how that version came about, the last error the log holds (a handler's error reply or an
event such as ``neuro.crashed``), and its use of the policy's quotas where known.

`usage()` reads each neuro's CPU time and memory without asking the neuro: from its
sandbox's cgroup where it has one (v1 or v2; a container's parent cgroup), else from /proc of
its worker's process tree. A neuro in the kernel's own process has no counter of its own
(it shares the kernel's), so its figures are None: nothing is made up.
"""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec
import trio

from neuro._errors import NoSuchNeuro

from ._process import ProcessInfo

__all__ = ["NeuroDetails", "ResourceUsage", "LastError", "QuotaUse", "describe", "usage", "usage_of"]

CGROUP_ROOT = "/sys/fs/cgroup"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ResourceUsage(msgspec.Struct, frozen=True):
    """One neuro's CPU time and memory now. `source` says where they were read: ``cgroup``
    (its sandbox's), ``proc`` (/proc of its worker's processes), or None where it has no
    counter of its own (in the kernel's process, or a worker not started): then `cpu_seconds`
    and `memory` are None too. `memory` is resident bytes (a cgroup's charge, or the RSS sum);
    `pid` the host pid of its worker (its launcher, for a bubblewrapped one)."""

    name: str
    backend: str
    source: str | None = None
    cpu_seconds: float | None = None
    memory: int | None = None
    pid: int | None = None
    time: float = 0.0  # when it was read (epoch seconds): two readings give a CPU share


class LastError(msgspec.Struct, frozen=True):
    """The newest error the log holds for a neuro: `source` is ``message`` for a handler's
    error reply (`message_id` names it) or the name of the event (``neuro.crashed``, ...)."""

    type: str
    message: str
    time: float
    source: str
    message_id: int | None = None


class QuotaUse(msgspec.Struct, frozen=True):
    """One quota: its `limit` under the policy in force (0: unlimited) and what is `used`
    (None where not known); `unit` says what they count; `note` what the figure means."""

    name: str
    limit: float
    used: float | None
    unit: str
    note: str = ""


class NeuroDetails(msgspec.Struct, frozen=True):
    """Everything `neuro info NAME` shows of one running neuro."""

    process: ProcessInfo
    manifest: dict[str, Any]
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    policy: dict[str, Any]  # the policy in force, every field resolved (inheritance and overrides)
    backend: str
    origin: str | None  # the file its code came from (None: unknown, such as a class made in a REPL)
    version: str
    version_origin: str | None  # how the running version came: spawn, file, api, rollback, dream
    started_at: float
    last_error: LastError | None
    usage: ResourceUsage
    quotas: list[QuotaUse]
    unenforced: dict[str, str] = {}  # limits its sandbox could not set, each with why


async def describe(kernel: Any, name: str, *, log: bool = True) -> NeuroDetails:
    """`Kernel.describe`. With `log`, the last error is read from the event log (one query
    each for messages and events); without, it is None (a cheaper answer, for a payload's schema)."""
    if not isinstance(name, str):
        raise TypeError(f"describe takes a neuro's name (a str), got {type(name).__name__}")
    await trio.lowlevel.checkpoint()  # always a checkpoint, whether or not the log is read
    proc = kernel._router.procs.get(name)
    if proc is None:
        raise NoSuchNeuro(f"no neuro named {name!r} is running")
    m = proc.manifest
    manifest = {
        "name": m.name, "neuro": f"{m.module}:{m.qualname}", "policy": m.policy, "sandbox": m.sandbox,
        "policy_overrides": dict(m.policy_overrides), "subscribe": list(m.subscribe), "hooks": list(m.hooks),
        "is_async": m.is_async, "artifacts": list(m.artifacts),
        "replay": getattr(proc.neuro, "replay", 0), "replay_tolerance": getattr(proc.neuro, "replay_tolerance", 0.0),
        "dream": m.dream,  # its checked opt-in to dreaming (docs/dream.md), read by the dream daemon
    }
    history = kernel._store_versions.history(m.name, proc.version)
    live = [v for v in history if v.version == proc.version]
    last = await _last_error(kernel, name) if log and kernel._eventlog is not None else None
    used = usage_of(proc)
    worker = proc.worker
    unenforced = dict(worker.unenforced) if worker is not None else {}
    return NeuroDetails(
        process=proc.info(), manifest=manifest, input_schema=schema_of(m.input),
        output_schema=schema_of(m.output) if m.output is not None else None,
        policy=msgspec.to_builtins(proc.policy), backend=proc.backend, origin=_origin(kernel, proc),
        version=proc.version, version_origin=live[-1].origin if live else None, started_at=proc.started_at,
        last_error=last, usage=used, quotas=_quotas(proc, used), unenforced=unenforced)


def _origin(kernel: Any, proc: Any) -> str | None:
    """The file a neuro's code came from: its module's (imported here), the file a client
    named (described in a sandbox), or the drop folder's entry it runs from."""
    if proc.manifest.source_path:
        return proc.manifest.source_path
    named = vars(proc.neuro).get("__neuro_origin__")
    if isinstance(named, str):
        return named
    for folder in kernel._drop_folders:
        for entry, running in getattr(folder, "_entries", {}).items():
            if getattr(running, "name", None) == proc.name:
                return os.path.join(folder.path, entry)
    return None


def usage(kernel: Any) -> list[ResourceUsage]:
    """`Kernel.usage`: every neuro's CPU time and memory, in start order."""
    return [usage_of(p) for p in kernel._router.procs.values()]


_schemas: dict[Any, dict[str, Any]] = {}


def schema_of(tp: Any) -> dict[str, Any]:
    """The JSON Schema of a message type (made once per type)."""
    found = _schemas.get(tp)
    if found is None:
        try:
            found = msgspec.json.schema(tp)
        except (TypeError, ValueError) as e:  # a type JSON Schema cannot say: say so, do not fail
            found = {"description": f"no JSON Schema for {tp!r}: {e}"}
        if len(_schemas) > 4096:  # versions come and go; the cache must not grow for ever
            _schemas.clear()
        _schemas[tp] = found
    return found


# -- the last error ------------------------------------------------------------------------------

async def _last_error(kernel: Any, name: str) -> LastError | None:
    """The newer of the last error reply a handler of `name` sent and the last event about
    it that carries an error."""
    found: list[LastError] = []
    rows = await kernel.log.messages(neuro=name, outcome="error", limit=1, newest_first=True)
    for row in rows:
        error = row.error or {}
        found.append(LastError(type=str(error.get("type", "Error")),
                               message=str(error.get("message", row.reason or "")),
                               time=row.outcome_time or row.time, source="message", message_id=row.id))
    events = await kernel.log.events(neuro=name, limit=50, newest_first=True)
    for event in events:
        error = event.data.get("error")
        if error:
            kind, sep, text = str(error).partition(": ")
            typed = sep and kind.isidentifier()
            found.append(LastError(type=kind if typed else event.name, message=text if typed else str(error),
                                   time=event.time, source=event.name))
            break
    return max(found, key=lambda e: e.time) if found else None


# -- quotas --------------------------------------------------------------------------------------

def _quotas(proc: Any, used: ResourceUsage) -> list[QuotaUse]:
    policy = proc.policy
    up = max(time.time() - proc.started_at, 1e-9) if proc.started_at else None
    cpu_note = "seconds of CPU used by this instance" if used.cpu_seconds is not None else (
        "in the kernel's process: no counter of its own" if proc.backend == "inproc" else "no counter here")
    quotas = [
        QuotaUse("cpu_share", policy.cpu_share,
                 (used.cpu_seconds / up) if used.cpu_seconds is not None and up else None, "cores",
                 "average since it started" if used.cpu_seconds is not None else cpu_note),
        QuotaUse("cpu_time", policy.cpu_time, used.cpu_seconds, "s", cpu_note),
        QuotaUse("memory", policy.memory, used.memory, "bytes",
                 "resident now" if used.memory is not None else cpu_note),
        QuotaUse("mailbox_size", policy.mailbox_size, len(proc.queue), "messages", "queued now"),
        QuotaUse("concurrency", policy.concurrency, proc.in_flight, "handlers", "running now"),
    ]
    if policy.rate:
        now = trio.current_time()
        tokens = min(policy.burst_size, proc.tokens + (now - proc.refilled) * policy.rate)
        quotas.append(QuotaUse("rate", policy.rate, policy.burst_size - tokens, "messages",
                               f"of a burst of {policy.burst_size:g} taken now (the bucket refills at the rate)"))
    else:
        quotas.append(QuotaUse("rate", 0.0, (proc.received / up) if up else None, "messages/s",
                               "average since it started (no limit)"))
    return quotas


# -- reading CPU and memory ----------------------------------------------------------------------

def usage_of(proc: Any) -> ResourceUsage:
    """One neuro's CPU time and memory, from its sandbox's cgroup, else its worker's /proc."""
    now = time.time()
    carrier = _carrier(proc.worker)
    if carrier is None:
        return ResourceUsage(name=proc.name, backend=proc.backend, time=now)
    process = getattr(carrier, "process", None)
    pid = getattr(process, "pid", None) or None
    limits = getattr(carrier, "limits", None)
    cpu, memory = _from_cgroup(limits)
    if cpu is not None or memory is not None:
        return ResourceUsage(name=proc.name, backend=proc.backend, source="cgroup", cpu_seconds=cpu, memory=memory,
                             pid=pid, time=now)
    if pid is not None:
        cpu, memory = _from_proc(pid)
        if cpu is not None:
            return ResourceUsage(name=proc.name, backend=proc.backend, source="proc", cpu_seconds=cpu, memory=memory,
                                 pid=pid, time=now)
    return ResourceUsage(name=proc.name, backend=proc.backend, pid=pid, time=now)


def _carrier(worker: Any) -> Any:
    """The carrier of a sandboxed worker (`RemoteWorker.handle.carrier`); None in-process."""
    handle = getattr(worker, "handle", None)
    return getattr(handle, "carrier", None)


def _from_cgroup(limits: Any) -> tuple[float | None, int | None]:
    """CPU seconds and memory of a process backend's `Cgroup` (its folders by controller) or
    a container's (`parent`: Neuro's cgroup above it, relative to each hierarchy's root)."""
    if limits is None:
        return None, None
    try:
        cpu = limits.cpu_seconds()
    except Exception:  # noqa: BLE001 - a counter gone with its cgroup: not known
        cpu = None
    folders: list[str] = []
    paths = getattr(limits, "paths", None)
    if isinstance(paths, dict) and "memory" in paths:
        folders.append(paths["memory"])
    parent = getattr(limits, "parent", None)
    if isinstance(parent, str):
        folders += [f"{CGROUP_ROOT}/memory{parent}", f"{CGROUP_ROOT}{parent}"]
    memory = None
    for folder in folders:
        for filename in ("memory.current", "memory.usage_in_bytes"):  # v2, v1
            value = _read_int(os.path.join(folder, filename))
            if value is not None:
                memory = value
                break
        if memory is not None:
            break
    return cpu, memory


def _from_proc(pid: int) -> tuple[float | None, int | None]:
    """CPU seconds (user + system, of the live processes) and RSS of `pid` and its descendants."""
    cpu, rss, seen = 0.0, 0, 0
    for one in _tree(pid):
        try:
            with open(f"/proc/{one}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        seen += 1
        cpu += (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14, 15)
        rss += int(fields[21]) * _PAGE  # rss in pages (field 24)
    return (cpu, rss) if seen else (None, None)


def _tree(pid: int, limit: int = 256) -> list[int]:
    """`pid` and its descendants (through /proc/PID/task/*/children), at most `limit`."""
    found, todo = [], [pid]
    while todo and len(found) < limit:
        one = todo.pop()
        found.append(one)
        try:
            tasks = os.listdir(f"/proc/{one}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{one}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except (OSError, ValueError):
                continue
    return found


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
