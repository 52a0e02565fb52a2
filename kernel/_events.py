"""The catalogue of the kernel's events: every name, the type of its data, a line of documentation.

An event is a row of the log's ``events`` table (and a `KernelEvent` to clients and to neuros
that subscribe to ``kernel.events``): a UTC `time`, a dotted `name`, the `neuro` it is about
(or none), the `actor` that caused it, and its `data`. The name says the subject first and
what happened second (``neuro.crashed``, ``swap.failed``, ``quota.rate``), as a reader of
``journalctl`` or ``kubectl get events`` expects; the data of each name is one msgspec Struct
below, whose docstring is the line ``docs/events.md`` shows for it.

An emitter names its event and gives its data as keywords (``kernel._event("neuro.crashed",
name, actor, pid=..., error=...)``); `event_data` checks them against the Struct, so a name
that is not here, a misspelt field, a missing one or one of the wrong type is an error where
it is raised (in a test), never a silent row. Every field is always written (defaults
included), so a query over ``json_extract(data, '$.field')`` sees the same keys in every row
of a name. A new field gets a default; an existing one never changes type.

Names that older logs hold (``crashed``, ``start_failed``, ``swapped``, ...) are in
`LEGACY_NAMES`; `legacy_rename_statements` rewrites them once, in the log's migration.

``python -m neuro.kernel._eventdocs > docs/events.md`` writes the documentation from here;
tests/kernel/test_event_catalogue.py checks that the file is up to date, and that the code's
emitters (found by reading the source) and this catalogue name the same events.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, TypeVar

import msgspec

__all__ = [
    "CATALOGUE", "RESERVED", "GROUPS", "LEGACY_NAMES", "QUOTA_EVENTS", "EventData", "UnknownEvent",
    "EventDataError", "event_data", "as_dict", "encode", "legacy_rename_statements",
]


class UnknownEvent(LookupError):
    """An emitter used a name that is not in the catalogue."""


class EventDataError(TypeError):
    """An emitter's data does not fit its event's Struct."""


class EventData(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The data of one event; each event's own Struct derives from this."""


#: Event name -> the Struct of its data.
CATALOGUE: dict[str, type[EventData]] = {}
#: Names in the catalogue that nothing emits yet -> the issue that will emit them.
RESERVED: dict[str, str] = {}
#: The subjects events are grouped by (a name's first part), each with a line for the docs.
GROUPS: dict[str, str] = {
    "kernel": "The kernel itself: it started, recovered a log, stopped.",
    "neuro": "One neuro's life: spawned, crashed, restarted, stopped; `neuro` names it.",
    "supervisor": "Supervisors: their start, and what they do when a child keeps failing.",
    "message": "A message the kernel refused at the door.",
    "quota": "A resource policy's limit was reached, or cannot be enforced by the sandbox.",
    "sandbox": "A sandbox's worker misbehaved.",
    "policy": "Policy files were read again.",
    "hook": "A neuro's hook was run on request (`neuro sleep`, `neuro selfcheck`, `ctx.kernel.hook`).",
    "swap": "Hot swap: a new version went live, or did not.",
    "version": "The version store.",
    "drop": "Drop folders: what a file that appeared, changed or went away did.",
    "control": "The control socket: clients refused, turned away or disconnected.",
    "keep": "Neuros the daemon starts again at each start (`neuro spawn --keep`, `neuro apply`).",
    "events": "The event feed to neuros that subscribe to `kernel.events` (sent, never logged).",
    "log": "The event log itself.",
    "net": "Neuro-Net runs: one event per run, with the lineage of each node step in it (docs/nets.md).",
    "flow": "Privacy labels: labelled data refused on its way to a neuro or out of the kernel, or declassified (docs/privacy.md).",
    "energy": "Energy budgets: a neuro went over its policy's joules (docs/energy.md).",
    "dream": "The dream daemon: a job distilled a neuro into a student (shipped or rejected by a gate), slept a learner, or saw a cascade drift (docs/dream.md).",
}

_E = TypeVar("_E", bound=type[EventData])


def _entry(name: str, *, reserved: str | None = None) -> Callable[[_E], _E]:
    """Register a Struct as the data of event `name` (and, with `reserved`, the issue that
    will emit it)."""

    def register(cls: _E) -> _E:
        group = name.split(".", 1)[0]
        if name in CATALOGUE or group not in GROUPS or "." not in name or not cls.__doc__:
            raise RuntimeError(f"kernel/_events.py: event {name!r} is there twice, is not `group.what` "
                               "with a group of GROUPS, or its Struct has no docstring")
        CATALOGUE[name] = cls
        if reserved is not None:
            RESERVED[name] = reserved
        return cls

    return register


# -- kernel -----------------------------------------------------------------------------------


@_entry("kernel.started")
class KernelStarted(EventData):
    """The kernel is running; `log` is its event log file (none: it keeps no log)."""

    log: str | None


@_entry("kernel.recovered")
class KernelRecovered(EventData):
    """A crashed kernel's log was recovered: messages left without an outcome were dead-lettered, durable
    ones kept for redelivery (per neuro)."""

    dead_lettered: int
    durable: dict[str, int]


@_entry("kernel.stopped")
class KernelStopped(EventData):
    """The kernel shut down, having accepted `accepted` messages and given each one outcome."""

    accepted: int
    handled: int
    error: int
    dead: int


# -- neuro ------------------------------------------------------------------------------------


@_entry("neuro.spawned")
class NeuroSpawned(EventData):
    """A neuro started: its instance `pid` runs `version` under `policy` in the `sandbox` backend."""

    pid: int
    version: str
    policy: str
    sandbox: str


@_entry("neuro.start_failed")
class NeuroStartFailed(EventData):
    """A neuro could not be spawned: its sandbox did not start it (the spawn raised)."""

    error: str


@_entry("neuro.crashed")
class NeuroCrashed(EventData):
    """A neuro's instance crashed (a handler raised, or its worker died); its supervisor decides what
    next."""

    pid: int
    error: str


@_entry("neuro.restarted")
class NeuroRestarted(EventData):
    """Its supervisor restarted a neuro: instance `old_pid` is now `pid`, with `queued` messages waiting."""

    old_pid: int
    pid: int
    reason: str
    queued: int


@_entry("neuro.restart_failed")
class NeuroRestartFailed(EventData):
    """A restart did not start a new instance; it counts as another crash."""

    error: str


@_entry("neuro.stopped")
class NeuroStopped(EventData):
    """A neuro's instance stopped on request (stop, removal, shutdown); its queue got outcomes."""

    pid: int
    reason: str


@_entry("neuro.failed")
class NeuroFailed(EventData):
    """A neuro's instance stopped for good because its supervision failed or gave up."""

    pid: int
    reason: str


@_entry("neuro.reparented")
class NeuroReparented(EventData):
    """A restart asked of a neuro whose supervisor is not running moved it under the root supervisor."""

    old_supervisor: str
    reason: str


@_entry("neuro.redelivered")
class NeuroRedelivered(EventData):
    """`count` durable messages a crash of the kernel left without an outcome went to the neuro's new
    instance."""

    count: int


# -- supervisor -------------------------------------------------------------------------------


@_entry("supervisor.started")
class SupervisorStarted(EventData):
    """A supervisor started with its `strategy` and its `children`, left to right."""

    supervisor: str
    strategy: str
    children: list[str]


@_entry("supervisor.gave_up")
class SupervisorGaveUp(EventData):
    """The root supervisor stopped restarting the neuro past its restart intensity (`limit`); the neuro is
    failed."""

    reason: str
    limit: str


@_entry("supervisor.escalated")
class SupervisorEscalated(EventData):
    """A supervisor passed its restart intensity (`limit`) for `child`: it stopped its children and failed
    upward."""

    child: str
    reason: str
    limit: str


@_entry("supervisor.error")
class SupervisorError(EventData):
    """A supervision step raised; the neuro is failed and its messages got outcomes."""

    error: str
    traceback: str


# -- message ----------------------------------------------------------------------------------


@_entry("message.rejected")
class MessageRejected(EventData):
    """A message to the neuro was refused before it was accepted (wrong type, too large, mailbox full);
    `error` is the exception type."""

    error: str
    reason: str


# -- quota ------------------------------------------------------------------------------------


@_entry("quota.rate")
class QuotaRate(EventData):
    """A message went over the neuro's message rate (`limit` per second, `burst`) and was refused."""

    limit: float
    burst: float
    action: Literal["rejected"] = "rejected"


@_entry("quota.wall_time")
class QuotaWallTime(EventData):
    """A handler ran past the wall time per message (`limit` seconds) and was cancelled; the call got an
    error."""

    limit: float
    message_id: int


@_entry("quota.memory")
class QuotaMemory(EventData):
    """A neuro went over its memory limit (`limit` bytes; 0: a MemoryError with no limit set) and its
    instance was killed or crashed."""

    error: str
    limit: int
    pid: int | None = None


@_entry("quota.cpu_time")
class QuotaCpuTime(EventData):
    """A neuro's worker used up its CPU time (`limit` seconds) and was killed."""

    pid: int
    error: str
    limit: float


@_entry("quota.unenforceable")
class QuotaUnenforceable(EventData):
    """The neuro's sandbox `backend` cannot enforce these parts of its policy (`limits`: each limit -> why,
    or its value where the backend holds it to nothing)."""

    backend: str
    limits: dict[str, str | int | float]  # a limit's value where it is a number, else a sentence


@_entry("energy.used")
class EnergyUsed(EventData):
    """The neuro's handlers used `joules` over the last minute it worked, on `messages` messages (`kind`:
    measured or estimated): the log's aggregate of energy per message, one row a minute, not one a message."""

    joules: float
    messages: int
    kind: str


# -- flow -------------------------------------------------------------------------------------


@_entry("flow.refused")
class FlowRefusedEvent(EventData):
    """Labelled data was refused on its way to the neuro (or out of the kernel through it): `label` is the
    label, `rule` the policy rule (`clearance`, `egress.CHANNEL` or `declassify`); the actor is the sender."""

    label: str
    rule: str
    reason: str


@_entry("flow.declassified")
class FlowDeclassified(EventData):
    """The neuro removed `label` from its taint with `ctx.declassify`, as its policy grants, for `reason`
    (`message_id`: the message it was handling, if any)."""

    label: str
    reason: str
    message_id: int | None = None


# -- energy -----------------------------------------------------------------------------------


@_entry("energy.budget")
class EnergyBudgetEvent(EventData):
    """The neuro went over an energy budget of its policy (`budget`: per_hour, per_message or per_dream_job;
    `limit` and `used` joules, `kind` measured or estimated) and `action` was taken."""

    budget: str
    limit: float
    used: float
    kind: str
    action: str


@_entry("energy.held")
class EnergyHeld(EventData):
    """The background neuro's messages are held: its policy's `mains_only`, and the machine is on `power`
    (battery); the power supply is read again every `every` seconds."""

    power: str
    every: float


@_entry("energy.resumed")
class EnergyResumed(EventData):
    """The machine is on `power` (mains) again: the background neuro's held messages go on, after `seconds`."""

    power: str
    seconds: float


#: The `quota` a sandbox's worker died of -> the event that says so.
QUOTA_EVENTS: dict[str, str] = {"memory": "quota.memory", "cpu_time": "quota.cpu_time"}


# -- sandbox ----------------------------------------------------------------------------------


@_entry("sandbox.protocol_violation")
class SandboxProtocolViolation(EventData):
    """A neuro's worker broke the sandbox protocol (garbage on its socket) and was killed."""

    pid: int
    error: str


# -- policy -----------------------------------------------------------------------------------


@_entry("policy.changed")
class PolicyChanged(EventData):
    """A policy file changed and was read again."""

    policy: str


@_entry("policy.applied")
class PolicyApplied(EventData):
    """A changed policy now governs the running neuro."""

    policy: str


@_entry("policy.invalid")
class PolicyInvalid(EventData):
    """A policy file (or a neuro's overrides of it) did not validate; the policy keeps the value it had."""

    policy: str
    error: str


# -- hook -------------------------------------------------------------------------------------


@_entry("hook.done")
class HookDone(EventData):
    """A neuro's `hook` (sleep or selfcheck) ran for `seconds`: its `result`, or the `error` it raised."""

    hook: str
    seconds: float
    ok: bool
    error: str | None = None
    result: Any = None


# -- swap -------------------------------------------------------------------------------------


@_entry("swap.done")
class SwapDone(EventData):
    """A new version of the neuro went live (`state_moved`: its state went across; `replayed`: calls the
    gate compared)."""

    old_version: str
    new_version: str
    state_moved: bool
    replayed: int


@_entry("swap.failed")
class SwapFailed(EventData):
    """A new version did not go live: it failed at `stage` (load, selfcheck, replay, state); the old one
    keeps serving."""

    old_version: str
    new_version: str
    stage: str
    error: str
    file: str | None = None
    line: int | None = None
    traceback: str | None = None


@_entry("swap.replayed")
class SwapReplayed(EventData):
    """The replay gate ran logged calls through the new version: `agreed` of `compared` answered alike."""

    new_version: str
    compared: int
    agreed: int
    differences: int


# -- version ----------------------------------------------------------------------------------


@_entry("version.recorded")
class VersionRecorded(EventData):
    """A version of the neuro entered the version store (its `parent`: the version it came from)."""

    version: str
    parent: str | None
    module: str | None
    path: str | None


# -- drop -------------------------------------------------------------------------------------


@_entry("drop.spawned")
class DropSpawned(EventData):
    """A neuro file in a drop folder was loaded and spawned."""

    file: str
    folder: str
    version: str
    pid: int


@_entry("drop.swapped")
class DropSwapped(EventData):
    """A changed neuro file in a drop folder went live as a new version."""

    file: str
    folder: str
    old_version: str | None
    version: str


@_entry("drop.removed")
class DropRemoved(EventData):
    """A neuro file left its drop folder and its neuro was stopped."""

    file: str
    folder: str


@_entry("drop.error")
class DropError(EventData):
    """A file in a drop folder was refused (it did not load, spawn, swap or stop); nothing changed."""

    folder: str
    file: str | None
    line: int | None
    error: str
    traceback: str | None


@_entry("drop.fixed")
class DropFixed(EventData):
    """A drop-folder file that did not load loads again (`error` was its last error)."""

    file: str
    folder: str
    version: str
    error: str


@_entry("drop.pinned")
class DropPinned(EventData):
    """A person stopped or rolled back (`how`: stopped, rolled_back, to `version`) a neuro a drop
    folder runs: saves of its file are not applied until `neuro unpin`."""

    file: str
    folder: str
    how: str
    version: str | None


@_entry("drop.unpinned")
class DropUnpinned(EventData):
    """A pinned drop-folder neuro follows its file again (`neuro unpin`); its file is loaded."""

    file: str
    folder: str
    how: str


@_entry("drop.held")
class DropHeld(EventData):
    """A pinned neuro's file loaded (`version`) but was not applied: it stays as pinned (`how`,
    `pinned_version`) until `neuro unpin`."""

    file: str
    folder: str
    how: str
    version: str
    pinned_version: str | None


@_entry("drop.folder_lost")
class DropFolderLost(EventData):
    """The drop folder itself was deleted or moved away (`how`); its `running` neuros keep running."""

    folder: str
    how: str
    running: list[str]


@_entry("drop.folder_back")
class DropFolderBack(EventData):
    """A lost drop folder is back: it is watched again and its files load."""

    folder: str


# -- keep -------------------------------------------------------------------------------------


@_entry("keep.respawned")
class KeepRespawned(EventData):
    """The daemon started a kept neuro again (`spec` as kept; `version` now, `kept_version` when
    kept: they differ when its code changed meanwhile)."""

    spec: str
    version: str
    kept_version: str | None
    applied: str | None


@_entry("keep.failed")
class KeepFailed(EventData):
    """A kept neuro (or the keep file itself, `spec` None) could not be started again at the
    daemon's start; `error` says why."""

    spec: str | None
    error: str
    file: str


# -- control ----------------------------------------------------------------------------------


@_entry("control.refused")
class ControlRefused(EventData):
    """A client of the control socket was refused at accept (`reason`); `suppressed`: like events left out
    just before."""

    pid: int
    uid: int
    reason: str
    suppressed: int = 0


@_entry("control.turned_away")
class ControlTurnedAway(EventData):
    """A client was turned away for too many connections (`reason`); `suppressed`: like events left out just
    before."""

    pid: int
    uid: int
    reason: str
    suppressed: int = 0


@_entry("control.slow_client")
class ControlSlowClient(EventData):
    """A client that did not read its replies was disconnected (`reason`); `suppressed`: like events left
    out just before."""

    pid: int
    uid: int
    reason: str
    suppressed: int = 0


# -- events -----------------------------------------------------------------------------------


@_entry("events.missed")
class EventsMissed(EventData):
    """A subscriber of `kernel.events` missed `missed` events while its mailbox was full (sent to it, not
    logged)."""

    missed: int


# -- log --------------------------------------------------------------------------------------


@_entry("log.pruned")
class LogPruned(EventData):
    """Retention removed old rows from the log: messages (with outcomes), events and unreferenced artifacts,
    and the bytes freed."""

    messages: int  # removed, each with its outcome
    events: int
    artifacts: int  # that no version referenced
    bytes: int  # the log's logical size freed: pages in use x page size
    cutoff: float | None = None  # rows from before this time went: the age limit, or as far as the size limit needed
    keep: str = ""  # the policy applied: 30d, 10GB, 30d,10GB
    bytes_after: int = 0  # the log's logical size afterwards
    compacted: bool = False  # VACUUM rewrote the file


@_entry("log.prune_failed")
class LogPruneFailed(EventData):
    """A background pass of retention failed (the disk, or another process holding the log's lock); the next
    pass tries again."""

    error: str
    keep: str  # the policy it was applying


# -- net --------------------------------------------------------------------------------------


class NetStepRecord(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One node's step in a net's run: the lineage of one edge crossing (or of several, joined)."""

    node: str  # its id; a node of a net inside the net is `outer/inner`
    calls: str | None  # the neuro it calls, or the net it runs (None: a lambda)
    kind: str  # neuro, net, lambda, map, loop
    version: str  # the node's version: with the input hash, the key of its memo entry
    edges: list[str]  # the edges that fired into it (src -> dst)
    input_hash: str
    output_hash: str
    reason: str  # called, or cached: no message was sent, so no outcome is owed
    seconds: float


@_entry("net.run")
class NetRun(EventData):
    """A net's run ended: `run` is the id of the message that asked for it (the parent of every call it made),
    `steps` the lineage of every node that ran or came from the memo, in order; `error` names a failed node."""

    run: int
    net: str
    version: str  # the net's version: the hash of its graph and its nodes' versions
    input_hash: str
    output_hash: str | None
    ok: bool
    error: str | None
    called: int  # node calls made (messages sent)
    cached: int  # node results taken from the memo
    seconds: float
    steps: list[NetStepRecord]


# -- dream ------------------------------------------------------------------------------------


@_entry("dream.started")
class DreamStarted(EventData):
    """A dream job began for the neuro: `kind` distil (a student from its traces) or sleep (a learner's
    consolidation); `teacher` is the version it learns from; `trigger`: run, schedule, traces, idle, drift."""

    job: str
    kind: str
    teacher: str | None
    trigger: str


@_entry("dream.shipped")
class DreamShipped(EventData):
    """A distilled student passed every gate and went live as `version` of the neuro (a `cascade` in front of
    its `teacher`, or alone), learnt from the `traces` window (first and last message id) of data set
    `dataset` (its hash); `figures` are the gates' (agreement, speedup, replay, ...)."""

    job: str
    teacher: str
    version: str
    student: str  # linear or mlp
    cascade: bool
    dataset: str
    traces: list[int]
    figures: dict[str, float]


@_entry("dream.rejected")
class DreamRejected(EventData):
    """A gate refused the student (`gate`: traces, types, agreement, speedup, selfcheck, replay, load, ...),
    `reason` says why, with the `figures` measured so far; nothing changed."""

    job: str
    gate: str
    reason: str
    figures: dict[str, float]


@_entry("dream.failed")
class DreamFailed(EventData):
    """A dream job raised at `stage` (`error`); nothing changed."""

    job: str
    stage: str
    error: str


@_entry("dream.cancelled")
class DreamCancelled(EventData):
    """A dream job was cancelled at `stage` (`neuro dream cancel`, or its daemon stopped); nothing changed."""

    job: str
    stage: str


@_entry("dream.slept")
class DreamSlept(EventData):
    """A learner's `sleep` hook (consolidation) ran for `seconds` as its dream, and returned `result`."""

    job: str
    seconds: float
    result: Any = None


@_entry("dream.drift")
class DreamDrift(EventData):
    """A cascade's student deferred `rate` of its last `calls` calls to its teacher (`deferred`), well over
    the `expected` share it deferred on held-out traces: its inputs shifted; the deferred calls are dreamt of."""

    student: str
    calls: int
    deferred: int
    rate: float
    expected: float


#: Names older logs hold -> the name each has now. The log's migration rewrites them.
LEGACY_NAMES: dict[str, str] = {
    "spawned": "neuro.spawned",
    "start_failed": "neuro.start_failed",
    "crashed": "neuro.crashed",
    "restarted": "neuro.restarted",
    "restart_failed": "neuro.restart_failed",
    "stopped": "neuro.stopped",
    "failed": "neuro.failed",
    "reparented": "neuro.reparented",
    "redelivered": "neuro.redelivered",
    "gave_up": "supervisor.gave_up",
    "escalated": "supervisor.escalated",
    "rejected": "message.rejected",
    "quota.protocol": "sandbox.protocol_violation",
    "swapped": "swap.done",
    "version": "version.recorded",
}


# -- checking and encoding ----------------------------------------------------------------------


def _unknown(name: str) -> UnknownEvent:
    old = LEGACY_NAMES.get(name)
    hint = f"it is called {old!r} now" if old else "add it there, with a Struct for its data and a docstring"
    return UnknownEvent(f"event {name!r} is not in the catalogue (kernel/_events.py): {hint}")


def event_data(name: str, data: dict[str, Any]) -> EventData:
    """`data` as the Struct of event `name`, checked: every field known, present and of its type."""
    cls = CATALOGUE.get(name)
    if cls is None:
        raise _unknown(name)
    try:
        return msgspec.convert(data, cls)
    except msgspec.ValidationError as e:
        fields = ", ".join(f.name for f in msgspec.structs.fields(cls))
        raise EventDataError(f"the data of event {name!r} does not fit {cls.__name__} in kernel/_events.py: "
                             f"{e} (its fields: {fields}); fix the emitter, or add the field there with a "
                             "default") from None


as_dict: Callable[[EventData], dict[str, Any]] = msgspec.structs.asdict
"""An event's data as a dict (for a `KernelEvent`)."""

_json = msgspec.json.Encoder()


def encode(name: str, data: dict[str, Any]) -> bytes:
    """Event `name`'s data, checked, as the JSON the log's ``events.data`` column holds."""
    return _json.encode(event_data(name, data))


def legacy_rename_statements() -> list[str]:
    """SQL that gives every event row written under an old name its name now: one statement,
    for the log's migration (it runs in the migration's transaction, over the name index)."""
    cases = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in LEGACY_NAMES.items())
    names = ", ".join(f"'{old}'" for old in LEGACY_NAMES)
    return [f"UPDATE events SET name = CASE name {cases} END WHERE name IN ({names})"]
