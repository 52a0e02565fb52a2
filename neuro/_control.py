"""The control protocol: how a client talks to the daemon over its Unix socket.

It sits below both of its ends, so neither imports the other: the client (`neuro.client`),
the control server and its requests' meaning (`neuro.kernel._control_server`, `_control_ops`),
and a neuro's `ctx.kernel` in a sandbox all import these Structs from here.

Each frame is a 4-byte big-endian length, then the msgpack encoding of one of the tagged
Structs below (``forbid_unknown_fields``: a field the protocol does not know is an error).
The set is closed: a client sends `ClientFrame`s, the daemon sends `ServerFrame`s.

    client                                 daemon
    Hello{protocol, client}        ->
                                   <-      Welcome{protocol, server, pid}   (or Error, then close)
    Call{id, to, payload, ...}     ->
                                   <-      Reply{id, value, type} | Error{id, type, message, ...}
    Subscribe{id, topic}           ->
                                   <-      Event{id, ...} ... End{id}
    Cancel{id}                     ->      (stops stream `id`)

Every frame is validated. A frame that fails (malformed msgpack, unknown tag, a field of the
wrong type) gets an `Error` naming what was wrong, and the connection goes on; one whose
length is over `MAX_FRAME`, or that never completes, closes the connection. Either way the
daemon goes on serving everyone else.

Schema evolution follows msgspec's rules: a new field gets a default, an existing field never
changes type; a change that breaks that bumps `PROTOCOL`.
"""

from __future__ import annotations

import sys
from typing import Any, Union

import msgspec

from neuro._control_version import MAX_FRAME, PROTOCOL
from neuro._errorinfo import ErrorInfo
from neuro._framing import HEADER, FrameSplitter

__all__ = [
    "PROTOCOL", "MAX_FRAME", "ProtocolError", "Malformed", "FrameDecoder", "encode", "type_path",
    "Hello", "Welcome", "Ping", "Status", "Shutdown", "Ps", "Info", "Spawn", "Stop", "Restart",
    "Send", "Call", "Publish", "Subscribe", "Tail", "Cancel", "Messages", "Events", "Trace",
    "Swap", "Rollback", "Versions", "Policies", "ReloadPolicies", "Statistics", "Hook", "Vacuum", "Source",
    "MailboxStatistics", "Supervisors", "Supervise", "WireChild", "WireSupervisor", "DropFolders", "Load", "Loaded", "Unpin",
    "Describe", "Usage",
    "Reply", "Error", "Event", "End", "ClientFrame", "ServerFrame", "Request", "STREAMS", "revive",
]


class ProtocolError(Exception):
    """The other side broke the framing (a length over the limit): the connection must close."""


def _frame(tag: str) -> dict[str, Any]:
    return {"tag": tag, "tag_field": "frame", "forbid_unknown_fields": True}


# -- the handshake --------------------------------------------------------------------------

class Hello(msgspec.Struct, **_frame("hello")):
    """client -> daemon, first: the protocol it speaks and who it is (for the log)."""

    protocol: int
    client: str = ""


class Welcome(msgspec.Struct, **_frame("welcome")):
    """daemon -> client: the handshake succeeded."""

    protocol: int
    server: str
    pid: int


# -- requests: client -> daemon, each with an id the reply carries ---------------------------

class Ping(msgspec.Struct, **_frame("ping")):
    id: int


class Status(msgspec.Struct, **_frame("status")):
    id: int


class Shutdown(msgspec.Struct, **_frame("shutdown")):
    """Stop the daemon gracefully: drain, dead-letter the rest, flush the log, exit."""

    id: int


class Ps(msgspec.Struct, **_frame("ps")):
    id: int


class Info(msgspec.Struct, **_frame("info")):
    id: int
    name: str


class Describe(msgspec.Struct, **_frame("describe")):
    """Everything about running neuro `name` (`neuro info`); the reply is a NeuroDetails. Without
    `log` its last error is not looked up (a cheaper answer: a payload's schema)."""

    id: int
    name: str
    log: bool = True


class Usage(msgspec.Struct, **_frame("usage")):
    """Each neuro's CPU time and memory now (`neuro ps --watch`); the reply is a list of ResourceUsage."""

    id: int


class Spawn(msgspec.Struct, **_frame("spawn")):
    """`neuro` is ``module:Class`` or the path of a neuro file (``path.py`` or ``path.py:Class``).
    A file is untrusted (imported and run only in a sandbox) unless `trusted`. With `version`,
    `neuro` names a neuro in the version store, and that stored version starts as `name`."""

    id: int
    neuro: str
    name: str | None = None
    policy: str | None = None
    trusted: bool = False
    version: str | None = None
    supervisor: str = "root"  # the supervisor it starts under (`Kernel.supervise` makes others)
    restart: str = "permanent"  # permanent, transient or temporary, as a child spec's


class Stop(msgspec.Struct, **_frame("stop")):
    """Stop neuro `name`: with `drain`, its queued messages are handled first (up to
    `timeout` seconds), else they end as dead letters."""

    id: int
    name: str
    timeout: float = 5.0
    drain: bool = True


class Restart(msgspec.Struct, **_frame("restart")):
    id: int
    name: str


class Send(msgspec.Struct, **_frame("send")):
    id: int
    to: str
    payload: Any
    timeout: float | None = None
    durable: bool = False


class Call(msgspec.Struct, **_frame("call")):
    id: int
    to: str
    payload: Any
    timeout: float | None = 10.0
    durable: bool = False


class Publish(msgspec.Struct, **_frame("publish")):
    id: int
    topic: str
    payload: Any


class Subscribe(msgspec.Struct, **_frame("subscribe")):
    """A stream: one `Event` per event published on `topic` (``kernel.events`` for lifecycle)."""

    id: int
    topic: str


class Tail(msgspec.Struct, **_frame("tail")):
    """A stream: log rows as they are committed (messages, or events with `events`), after
    `after_id` / `after_seq` (else from `since`). The daemon waits for the log writer's
    commits; `interval` is no longer used (kept so older clients' frames still decode)."""

    id: int
    neuro: str | None = None
    kind: str | None = None
    correlation: int | None = None
    since: float | None = None
    events: bool = False
    interval: float = 0.2
    after_id: int | None = None
    after_seq: int | None = None
    outcome: str | None = None


class Cancel(msgspec.Struct, **_frame("cancel")):
    """End stream `id`; the daemon answers with `End`."""

    id: int


class Messages(msgspec.Struct, **_frame("messages")):
    id: int
    neuro: str | None = None
    sender: str | None = None
    kind: str | None = None
    correlation: int | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None
    after_id: int | None = None
    limit: int | None = 100
    newest_first: bool = False


class Events(msgspec.Struct, **_frame("events")):
    id: int
    name: str | None = None
    neuro: str | None = None
    since: float | None = None
    until: float | None = None
    after_seq: int | None = None
    limit: int | None = 100
    newest_first: bool = False


class Trace(msgspec.Struct, **_frame("trace")):
    id: int
    message: int


class Swap(msgspec.Struct, **_frame("swap")):
    id: int
    name: str
    neuro: str
    replay: int | None = None
    trusted: bool = False
    tolerance: float | None = None  # how far numbers may differ at the replay gate (None: the neuro's own)
    accept: bool = False  # take the gate's differences
    dry_run: bool = False  # load, selfcheck and gate; report; nothing goes live


class Rollback(msgspec.Struct, **_frame("rollback")):
    id: int
    name: str
    version: str | None = None


class Versions(msgspec.Struct, **_frame("versions")):
    id: int
    name: str


class Source(msgspec.Struct, **_frame("source")):
    """The code of a stored `version` (or its prefix) of neuro `name`; the reply is a VersionSource."""

    id: int
    name: str
    version: str


class Policies(msgspec.Struct, **_frame("policies")):
    id: int


class ReloadPolicies(msgspec.Struct, **_frame("reload_policies")):
    id: int


class Statistics(msgspec.Struct, **_frame("statistics")):
    id: int


class Vacuum(msgspec.Struct, **_frame("vacuum")):
    """Prune the log now by `keep` (``30d``, ``10GB``, ``30d,10GB``; None: the daemon's
    policy); `dry_run` removes nothing; `compact` then rewrites the file (VACUUM). The reply
    is a PruneReport."""

    id: int
    keep: str | None = None
    dry_run: bool = False
    compact: bool = False


class Hook(msgspec.Struct, **_frame("hook")):
    """Run a neuro's `sleep` or `selfcheck` hook; the reply is what it returned."""

    id: int
    name: str
    hook: str


class MailboxStatistics(msgspec.Struct, **_frame("mailbox_statistics")):
    """The mailbox of neuro `name`; the reply is a MailboxStatistics."""

    id: int
    name: str


class Supervisors(msgspec.Struct, **_frame("supervisors")):
    """Every supervisor, the root first; the reply is a list of SupervisorInfo."""

    id: int


class WireChild(msgspec.Struct, tag="child", tag_field="kind", forbid_unknown_fields=True):
    """A `Child` spec as it travels: its neuro by name (``module:Class`` or a file's path,
    as `Spawn` names one); the other fields are the kernel's own, checked there."""

    neuro: str  # an embedded client, which encodes nothing, passes the class itself
    name: str | None = None
    restart: str = "permanent"
    policy: str | None = None
    shutdown: Union[float, str] = 5.0


class WireSupervisor(msgspec.Struct, tag="supervisor", tag_field="kind", forbid_unknown_fields=True):
    """A `SupervisorSpec` as it travels: its children are `WireChild`s and `WireSupervisor`s."""

    name: str
    children: list[Union[WireChild, WireSupervisor]]
    strategy: str = "one_for_one"
    max_restarts: int = 3
    period: float = 5.0
    restart: str = "permanent"


class Supervise(msgspec.Struct, **_frame("supervise")):
    """Start supervisor `spec` and its children (left to right) under `parent`. Its files are
    untrusted (imported only in a sandbox) unless `trusted`. The reply is a SupervisorInfo."""

    id: int
    spec: WireSupervisor
    parent: str = "root"
    trusted: bool = False


class DropFolders(msgspec.Struct, **_frame("drop_folders")):
    """The drop folders' counters (a list of DropFolderStatistics); with `wait_idle`, only
    once every change made to them before the request has been handled."""

    id: int
    wait_idle: bool = False


class Unpin(msgspec.Struct, **_frame("unpin")):
    """Let drop-folder neuro `name`, pinned by a stop or a rollback, follow its file again: the
    file's current version is loaded. The reply is an Unpinned (kernel/_dropstate.py)."""

    id: int
    name: str


class Load(msgspec.Struct, **_frame("load")):
    """Load the neuro file or package folder at `path` without starting it: untrusted code
    (the default) is imported only in a sandbox of `policy`. The reply is a Loaded."""

    id: int
    path: str
    trusted: bool = False
    policy: str = "untrusted"


class Loaded(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What `Load` found: the neuro's manifest `name`, its `version` (content hash), the
    class that holds it, the file or folder it came from and the files (relative paths, the
    entry module first) its version is made of."""

    name: str
    version: str
    neuro: str
    path: str
    files: list[str]


# -- daemon -> client ---------------------------------------------------------------------

class Reply(msgspec.Struct, **_frame("reply")):
    """The result of request `id`; `type` is ``module:qualname`` of a Struct value, if any."""

    id: int
    value: Any = None
    type: str = ""


class Error(msgspec.Struct, **_frame("error")):
    """Request `id` failed (`id` is None when the frame had none). `source` says who raised
    (``daemon``, ``protocol``, or a neuro's name), `path` the way the request travelled
    (``daemon`` first, then the neuros), `data` the error's own fields (``path`` of an
    InvalidPayload, ``reason`` of a DeadLetter). A neuro's error (`type` ``RemoteError``)
    carries its root `cause` as every wire does: type, message, traceback, neuro and path."""

    id: int | None
    type: str
    message: str
    source: str = "daemon"
    path: list[str] = []
    traceback: str = ""
    data: dict[str, Any] = {}
    cause: ErrorInfo | None = None


class Event(msgspec.Struct, **_frame("event")):
    """One item of stream `id`."""

    id: int
    topic: str
    sender: str
    payload: Any = None
    type: str = ""


class End(msgspec.Struct, **_frame("end")):
    """Stream `id` is over (cancelled, or the daemon is stopping)."""

    id: int
    reason: str = ""


Request = Union[
    Ping, Status, Shutdown, Ps, Info, Spawn, Stop, Restart, Send, Call, Publish, Subscribe, Tail,
    Cancel, Messages, Events, Trace, Swap, Rollback, Versions, Policies, ReloadPolicies, Statistics, Hook,
    Vacuum, Source, MailboxStatistics, Supervisors, Supervise, DropFolders, Load, Describe, Usage, Unpin,
]
ClientFrame = Union[Hello, Request]
ServerFrame = Union[Welcome, Reply, Error, Event, End]
STREAMS = (Subscribe, Tail)


class Malformed(msgspec.Struct, frozen=True):
    """A whole frame that failed validation; `id` is its request id when one could be read."""

    reason: str
    id: int | None = None


_encoder = msgspec.msgpack.Encoder()


def encode(frame: Any) -> bytes:
    """One frame, length prefix included. Raises TypeError/ValueError for unencodable values."""
    body = _encoder.encode(frame)
    if len(body) > MAX_FRAME:
        raise ValueError(f"a frame of {len(body):,} bytes is over the {MAX_FRAME:,} byte limit")
    return HEADER.pack(len(body)) + body


def type_path(value: Any) -> str:
    """``module:qualname`` of a Struct value (so the other side can decode it as its type)."""
    if isinstance(value, msgspec.Struct):
        t = type(value)
        return f"{t.__module__}:{t.__qualname__}"
    return ""


class FrameDecoder(FrameSplitter):
    """Sans-io: feed bytes in, get frames (or `Malformed`) out.

    `kinds` is the union this side accepts. Raises `ProtocolError` when a length prefix is over
    `max_frame`: after that the stream cannot be re-synchronised.
    """

    too_large = ProtocolError

    def __init__(self, kinds: Any, max_frame: int = MAX_FRAME) -> None:
        super().__init__(kinds, max_frame)

    def _decode(self, body: bytes | memoryview) -> Any:
        try:
            return self._decoder.decode(body)
        except (msgspec.DecodeError, RecursionError, OverflowError, ValueError) as e:
            return Malformed(reason=_reason(e), id=_guess_id(body))


def _reason(e: BaseException) -> str:
    if isinstance(e, msgspec.ValidationError):
        return f"invalid frame: {e}"
    if isinstance(e, msgspec.DecodeError):
        return f"malformed frame: {e}"
    return f"malformed frame: {type(e).__name__}: {e}"


def _guess_id(body: bytes | memoryview) -> int | None:
    try:
        raw = msgspec.msgpack.decode(body)
    except Exception:
        return None
    if isinstance(raw, dict):
        value = raw.get("id")
        if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**64:
            return value
    return None


def revive(value: Any, path: str) -> Any:
    """`value` decoded as the Struct `path` (a `type_path`) names, when its module is already
    imported here (or is one of Neuro's own); otherwise `value` as it came, plain data."""
    if not path or value is None:
        return value
    module_name, _, qualname = path.partition(":")
    tp: Any = sys.modules.get(module_name)
    if tp is None and module_name.startswith("neuro."):  # Neuro's own types: always importable
        try:
            import importlib

            tp = importlib.import_module(module_name)
        except ImportError:
            return value
    if tp is None:
        return value
    for part in qualname.split("."):
        tp = getattr(tp, part, None)
    if not (isinstance(tp, type) and issubclass(tp, msgspec.Struct)):
        return value
    try:
        return msgspec.convert(value, tp, from_attributes=True)
    except (msgspec.ValidationError, TypeError):
        return value
