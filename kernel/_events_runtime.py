"""Catalogue entries: the kernel, neuros, supervisors, messages, quotas, labels, energy, sandboxes and policies. Each Struct's docstring is its line in docs/events.md."""

from __future__ import annotations

from typing import Literal

from ._eventschema import EventData, _entry

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
