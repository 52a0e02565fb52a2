"""Resource policies: the quotas a neuro may not exceed and the capabilities it is granted.

The schema is here; `_policyfiles` loads it from TOML. Where a field is enforced:

| field | enforced by |
|---|---|
| mailbox_size, overflow, send_timeout, on_crash, max_message_bytes, concurrency, rate/burst/on_rate, send_rate, wall_time, priority | the kernel, for every backend |
| cpu_share, cpu_time, memory, processes, open_files | process backends (cgroups, rlimits); not enforceable in-process |
| gpu_memory | inside the sandbox, by torch's per-process memory fraction |
| capabilities (network, read, write, env, disk) | process backends; the in-process backend grants everything |
| capabilities.control | the kernel, for every backend: what a neuro may do through `ctx.kernel` |
| artifact_bytes | the kernel, for every backend, when a version that declares artifacts starts |
| placement (cpus, gpus, labels, resources, placement_group, bundle) | the ray backend: Ray places the actor (docs/ray.md) |
| labels (inputs, outputs, clearance, egress, declassify) | the kernel, for sandboxed neuros; a policy that uses them refuses the in-process backend (docs/privacy.md) |
| energy (per_hour, per_message, per_dream_job, on_breach, mains_only) | the kernel, for every backend (docs/energy.md) |

Every number is checked when a policy is made (from a file, an override or in Python):
NaN, infinities, negatives and values past what the OS takes are refused, naming the field.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, get_args

import msgspec

from neuro._checks import brief
from neuro._errors import PolicyError

from ._governance import EnergyBudget, LabelRules

__all__ = ["Policy", "Capabilities", "Placement", "Overflow", "Priority", "PolicyError", "parse_size", "KERNEL_ENFORCED",
           "CONTROL_OPERATIONS", "UNTRUSTED"]

Overflow = Literal["block", "reject", "drop_oldest", "drop_newest"]
Priority = Literal["interactive", "normal", "background"]
_OnCrash = Literal["redeliver", "dead_letter"]
_OnRate = Literal["reject", "delay"]

# Whole-number fields: they reach rlimits, cgroups and SQLite, which hold 64-bit integers.
_INTEGERS = frozenset({"mailbox_size", "max_message_bytes", "concurrency", "burst", "memory", "processes",
                       "open_files", "capabilities.disk", "artifact_bytes"})
_MAX_INT = (1 << 63) - 1
# Seconds, rates and shares past this mean nothing (10^12 s is 30,000 years) and overflow
# what the OS takes (RLIMIT_CPU, a cgroup's CPU quota in microseconds).
_MAX_FLOAT = 1e12

# The operations `ctx.kernel` offers, each granted by name in `capabilities.control` ("*": all).
# They are the methods of the client API (`neuro.connect()`) that act on the kernel; a neuro
# sends, calls and publishes through its context, and cannot shut the kernel down.
CONTROL_OPERATIONS = (
    "ps", "info", "statistics", "spawn", "stop", "restart", "swap", "rollback", "versions", "hook",
    "messages", "events", "trace", "policies", "reload_policies",
)
# The policy of code nobody vouched for: it is never granted `capabilities.control`.
UNTRUSTED = "untrusted"

# What the kernel enforces whatever the backend; the rest needs a process backend.
KERNEL_ENFORCED = frozenset({
    "mailbox_size", "overflow", "send_timeout", "on_crash", "max_message_bytes", "concurrency", "rate", "burst",
    "on_rate", "send_rate", "wall_time", "priority", "artifact_bytes",
})


class Capabilities(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a sandboxed neuro may reach. Everything is denied unless granted here."""

    # No sockets at all unless true.
    network: bool = False
    # Paths it may read (beyond what Python itself needs) and write.
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    # Environment variables passed through from the kernel's environment.
    env: tuple[str, ...] = ()
    # Bytes it may write into its granted paths (0: no limit beyond the disk).
    disk: int = 0
    # What it may do to the kernel through `ctx.kernel` (see CONTROL_OPERATIONS; "*": all).
    # None by default: acting on other neuros is for system neuros (the dream daemon, a net
    # runner) whose policy says so. The `untrusted` policy never grants it.
    control: tuple[str, ...] = ()


class Placement(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where on a cluster a neuro may run: what the ray backend asks Ray for (docs/ray.md);
    the other backends ignore it. 0 and empty ask for nothing."""

    # CPUs and GPUs (fractions too) reserved on its node; 0: `cpu_share` and `gpu_memory` decide.
    cpus: float = 0.0
    gpus: float = 0.0
    # Node labels it must run on, each "KEY=VALUE" (Ray's label_selector), e.g. "zone=b".
    labels: tuple[str, ...] = ()
    # Custom Ray resources it needs, each "NAME=AMOUNT", e.g. "accel=1".
    resources: tuple[str, ...] = ()
    # A placement group made beforehand, by name, and the bundle in it (-1: any bundle).
    placement_group: str = ""
    bundle: int = -1

    def __post_init__(self) -> None:
        for field in ("cpus", "gpus"):  # before _check_number exists: Policy's default makes one at import
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1e6:
                raise ValueError(f"`placement.{field}` must be 0 (nothing asked) or more, up to 1,000,000, "
                                 f"got {brief(value)}")
        for entry in self.labels:
            key, sep, value = str(entry).partition("=")
            if not sep or not key.strip() or not value.strip():
                raise PolicyError(f"`placement.labels` entry {entry!r} is not KEY=VALUE (for example \"zone=b\")")
        for entry in self.resources:
            key, sep, amount = str(entry).partition("=")
            try:
                ok = bool(sep and key.strip()) and float(amount) > 0
            except ValueError:
                ok = False
            if not ok:
                raise PolicyError(f"`placement.resources` entry {entry!r} needs a number: NAME=AMOUNT, the amount "
                                  "above 0 (for example \"accel=1\")")
        if isinstance(self.bundle, bool) or not isinstance(self.bundle, int) or self.bundle < -1:
            raise PolicyError(f"`placement.bundle` must be a bundle index, or -1 for any, got {brief(self.bundle)}")


class Policy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Limits for one neuro. Each default says why it is what it is. 0 means unlimited."""

    name: str = "default"
    # The policy this one starts from; its fields override the parent's.
    inherit: str | None = None
    description: str = ""
    # Bounded so a slow neuro pushes back instead of eating memory; 1024 absorbs bursts.
    mailbox_size: int = 1024
    # Backpressure by default: nothing is lost, the sender waits until its deadline.
    overflow: Overflow = "block"
    # Seconds a sender that gave no timeout waits for room in a full `block` mailbox before
    # MailboxFull: a stuck neuro never hangs its senders for ever by accident. 0: no limit
    # (a sender may also pass timeout=math.inf to wait for ever).
    send_timeout: float = 30.0
    # A crash loses the instance's state, not the messages queued behind the one that crashed.
    on_crash: _OnCrash = "redeliver"
    # 1 MiB keeps one message from starving the log writer and the event loop.
    max_message_bytes: int = 1 << 20
    # One handler at a time: actor semantics, no locking inside a neuro.
    concurrency: int = 1
    # Messages per second (token bucket) and the burst it allows; 0: unlimited.
    rate: float = 0.0
    burst: int = 0
    # What a sender over the rate gets: an error now, or a wait for a token (up to its deadline).
    on_rate: _OnRate = "reject"
    # Messages per second this neuro may send (sends, calls, publishes); past it, it waits.
    # Keeps one neuro's flood from taking the kernel's time from everyone else. 0: unlimited.
    send_rate: float = 0.0
    # Seconds one message may take; past it the handler is cancelled and the caller told.
    wall_time: float = 0.0
    # Fraction of one core (cgroup CPU quota) and seconds of CPU per worker (RLIMIT_CPU).
    cpu_share: float = 0.0
    cpu_time: float = 0.0
    # Bytes of memory (cgroup limit and RLIMIT_AS); the worker is killed and restarted past it.
    memory: int = 0
    # Fraction of a GPU's memory (torch's per-process memory fraction).
    gpu_memory: float = 0.0
    # Processes/threads (pids cgroup, RLIMIT_NPROC) and open files (RLIMIT_NOFILE).
    processes: int = 0
    open_files: int = 0
    # Bytes a version's declared artifacts (weights, vocabularies, data) may hold in all; they
    # are stored in the log and exported to disk, so a bound keeps one neuro from filling
    # both. Code has its own limit (1 MiB a file). 0: no limit, for code you trust.
    artifact_bytes: int = 0
    # Background work yields to interactive work.
    priority: Priority = "normal"
    # The backend a neuro runs in unless its manifest names one, and those it may name.
    sandbox: str = "inproc"
    sandboxes: tuple[str, ...] = ("inproc", "process", "docker", "ray")
    capabilities: Capabilities = Capabilities()
    # Where on a cluster it may run (the ray backend); see Placement.
    placement: Placement = Placement()
    # Privacy labels on its data, its clearance and egress (docs/privacy.md); the kernel enforces them.
    labels: LabelRules = LabelRules()
    # Energy budgets (docs/energy.md); the kernel accounts and enforces them.
    energy: EnergyBudget = EnergyBudget()

    def __post_init__(self) -> None:
        for field in ("mailbox_size", "max_message_bytes", "concurrency"):
            _check_number(field, getattr(self, field), 1)
        for field in ("rate", "burst", "send_rate", "send_timeout", "wall_time", "cpu_share", "cpu_time", "memory",
                      "processes", "open_files", "artifact_bytes"):
            _check_number(field, getattr(self, field), 0)
        _check_number("gpu_memory", self.gpu_memory, 0)
        if not 0.0 <= self.gpu_memory <= 1.0:
            raise ValueError(f"`gpu_memory` is a fraction from 0 to 1, got {self.gpu_memory}")
        if not isinstance(self.capabilities, Capabilities):
            raise TypeError(f"`capabilities` must be a Capabilities, got {type(self.capabilities).__name__}")
        _check_number("capabilities.disk", self.capabilities.disk, 0)
        if not isinstance(self.placement, Placement):
            raise TypeError(f"`placement` must be a Placement, got {type(self.placement).__name__}")
        _check_control(self.name, self.capabilities.control)
        for field, kind in (("overflow", Overflow), ("priority", Priority), ("on_crash", _OnCrash),
                            ("on_rate", _OnRate)):
            if getattr(self, field) not in get_args(kind):
                raise ValueError(f"`{field}` must be one of {', '.join(map(repr, get_args(kind)))}, "
                                 f"got {getattr(self, field)!r}")
        if self.sandbox not in self.sandboxes:
            raise ValueError(f"`sandbox` {self.sandbox!r} must be one of `sandboxes` {list(self.sandboxes)}")

    @property
    def burst_size(self) -> float:
        return float(self.burst) if self.burst else max(1.0, self.rate)

    def process_limits(self) -> dict[str, float]:
        """The limits only a process backend can enforce, where set."""
        names = ("cpu_share", "cpu_time", "memory", "processes", "open_files", "gpu_memory")
        return {n: getattr(self, n) for n in names if getattr(self, n)}


def _check_number(field: str, value: Any, least: int) -> None:
    """One policy number: the right type, finite, from `least` up to what the OS takes."""
    whole = field in _INTEGERS
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        raise TypeError(f"`{field}` must be {'a whole number' if whole else 'a number'}, got {brief(value)}")
    if whole and value > _MAX_INT or not whole and not (math.isnan(value) or value <= _MAX_FLOAT):
        raise ValueError(f"`{field}` must be at most {_MAX_INT if whole else int(_MAX_FLOAT):,}, got {brief(value)}")
    if not value >= least:  # NaN too
        floor = "at least 1" if least == 1 else "0 (unlimited) or more"
        raise ValueError(f"`{field}` must be {floor}, got {brief(value)}")


def _check_control(policy: str, control: Any) -> None:
    """`capabilities.control`: known operation names, and none at all for `untrusted`."""
    for op in control:
        if op != "*" and op not in CONTROL_OPERATIONS:
            raise PolicyError(f"`capabilities.control` names an unknown operation {brief(op)}; known: "
                              f"{', '.join(CONTROL_OPERATIONS)}, or \"*\" for all")
    if control and policy == UNTRUSTED:
        raise PolicyError(f"`capabilities.control` cannot be granted by the {UNTRUSTED!r} policy: code nobody "
                          "vouched for never acts on the kernel; remove the key, or run the neuro under a policy "
                          "of its own")


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]i?[bB]?|[bB])?\s*$")
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}


def parse_size(value: int | str) -> int:
    """Bytes from an int or a string like ``"256MiB"``, ``"1.5G"``, ``"4096"``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 268435456 or \"256MiB\", got {brief(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    m = _SIZE.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"expected a size such as 268435456 or \"256MiB\", got {brief(value)}")
    unit = (m.group(2) or "").lower().rstrip("b")
    size = float(m.group(1)) * _UNITS[unit]
    if not size <= _MAX_INT:  # 400 digits make inf, which int() cannot take
        raise ValueError(f"a size must be at most {_MAX_INT:,} bytes, got {brief(value)}")
    return int(size)
