"""Processes: one running instance of one neuro version, with its mailbox and counters.

A process has no task while it is idle: a runner task starts when a message arrives and
parks (costing nothing but a parked task) when the mailbox empties. So ten thousand idle
neuros cost ten thousand small objects, not ten thousand tasks.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from ._envelope import Envelope
from ._labels import lineage_labels, policy_labels
from ._policy import Policy

if TYPE_CHECKING:
    from neuro.sandbox._base import Worker

    from ._supervisor import Supervisor

__all__ = ["State", "Process", "ProcessInfo", "Letter", "MailboxStatistics"]


class State(str, enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    CRASHED = "crashed"      # its instance died; the supervisor decides what next
    RESTARTING = "restarting"  # being replaced by a fresh instance; messages queue meanwhile
    SWAPPING = "swapping"    # a new version is taking over; messages queue meanwhile
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"        # its supervisor gave up on it


class ProcessInfo(msgspec.Struct, frozen=True):
    """A snapshot of one process-table row."""

    pid: int
    name: str
    neuro: str
    version: str
    state: str
    policy: str
    sandbox: str
    supervisor: str
    mailbox: int
    mailbox_capacity: int
    received: int
    handled: int
    errors: int
    dead_letters: int
    restarts: int
    in_flight: int
    busy_time: float
    error: str = ""  # a drop folder's: why the file this neuro runs from does not load (file:line: ...)
    labels: tuple[str, ...] = ()  # the privacy labels what it sends now carries (docs/privacy.md)
    energy: float = 0.0  # joules its handlers used since it started (docs/energy.md)
    energy_kind: str = ""  # "measured" or "estimated": how `energy` was found
    energy_hour: float = 0.0  # joules over the last hour, against `energy_budget`
    energy_budget: float = 0.0  # its policy's energy.per_hour (0: none)


class MailboxStatistics(msgspec.Struct, frozen=True):
    """A mailbox's state: queued messages, its bound and rule, and senders waiting for room."""

    depth: int
    capacity: int
    overflow: str
    blocked_senders: int
    idle_runners: int


class Letter:
    """A message in the kernel's hands: the envelope plus what delivery needs."""

    __slots__ = ("env", "raw", "call", "deadline", "accepted_at", "done", "started", "version")

    def __init__(self, env: Envelope, raw: bytes, call: Any, deadline: float) -> None:
        self.env = env
        self.raw = raw
        self.call = call
        self.deadline = deadline  # trio clock; inf when none
        self.accepted_at = 0.0
        self.done = False
        self.started: float | None = None  # perf_counter() when its handler started; None: none did
        self.version: str | None = None  # the version of the neuro whose handler took it


class Process:
    """One process-table row: identity, state, mailbox, counters, and its worker."""

    __slots__ = (
        "pid", "name", "neuro", "manifest", "version", "policy", "backend", "worker", "state",
        "queue", "blocked", "idle", "runners", "in_flight", "scopes", "draining", "stop_reason",
        "exited", "supervisor", "restart", "tokens", "refilled", "send_tokens", "send_refilled",
        "decoder", "output_types", "received", "handled", "errors", "dead_letters",
        "restarts", "busy_time", "started_at", "direct", "sandboxed", "shutdown", "labels", "energy", "__weakref__",
    )

    def __init__(self, pid: int, name: str, neuro: type, policy: Policy, supervisor: Supervisor,
                 restart: str, decoder: msgspec.msgpack.Decoder, output_types: tuple[type, ...] | None) -> None:
        self.pid = pid
        self.name = name
        self.neuro = neuro
        self.manifest = neuro.__manifest__
        self.version = neuro.version()
        self.policy = policy
        self.backend = self.manifest.sandbox
        self.worker: Worker | None = None
        self.state = State.STARTING
        self.queue: deque[Letter] = deque()
        self.blocked: deque[Any] | None = None  # senders waiting for room (rule `block`)
        self.idle: list[trio.lowlevel.Task] = []  # parked runner tasks
        self.runners = 0
        self.in_flight = 0
        self.scopes: list[trio.CancelScope] = []
        self.draining = False
        self.stop_reason: str | None = None
        self.exited: trio.Event | None = None  # set when the last runner exits while stopping
        self.tokens = policy.burst_size  # the message-rate token bucket
        self.refilled = 0.0
        self.send_tokens = 0.0  # the send-rate bucket (policy.send_rate)
        self.send_refilled = -1.0
        self.supervisor = supervisor
        self.restart = restart
        self.decoder = decoder
        self.output_types = output_types
        self.received = 0
        self.handled = 0
        self.errors = 0
        self.dead_letters = 0
        self.restarts = 0
        self.busy_time = 0.0
        self.started_at = 0.0
        self.direct: Any = None  # the router's cache for handling calls in the caller's task
        self.sandboxed: Any = None  # ... and for sending them from it (kernel/_sandboxcall.py)
        self.shutdown: float | str = 5.0  # its child spec's `shutdown`: how it stops (see Child)
        # Its taint: the labels everything it sends carries (kernel/_labels.py), from its policy
        # and from every labelled message it was given; sticky, so its state cannot launder them.
        self.labels: frozenset[str] = policy_labels(policy) | lineage_labels(neuro)
        self.energy: Any = None  # its energy account (kernel/_energy.py), when accounting is on

    @property
    def accepting(self) -> bool:
        return self.state in (State.RUNNING, State.STARTING, State.CRASHED, State.RESTARTING, State.SWAPPING)

    def has_room(self) -> bool:
        return len(self.queue) < self.policy.mailbox_size

    def info(self) -> ProcessInfo:
        return ProcessInfo(
            pid=self.pid, name=self.name, neuro=self.manifest.qualname, version=self.version,
            state=self.state.value, policy=self.policy.name, sandbox=self.backend,
            supervisor=self.supervisor.name, mailbox=len(self.queue),
            mailbox_capacity=self.policy.mailbox_size, received=self.received,
            handled=self.handled, errors=self.errors, dead_letters=self.dead_letters,
            restarts=self.restarts, in_flight=self.in_flight, busy_time=self.busy_time,
            labels=tuple(sorted(self.labels)), **(self.energy.info() if self.energy is not None else {}),
        )

    def mailbox_statistics(self) -> MailboxStatistics:
        return MailboxStatistics(
            depth=len(self.queue), capacity=self.policy.mailbox_size, overflow=self.policy.overflow,
            blocked_senders=len(self.blocked or ()), idle_runners=len(self.idle),
        )

    def __repr__(self) -> str:
        return f"<Process {self.name} pid={self.pid} {self.state.value}>"
