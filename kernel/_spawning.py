"""The checks a spawn makes before a process exists, and the durable messages a new one inherits."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import msgspec

from neuro._errors import ManifestError, NeuroError
from neuro._manifest import NAME_PATTERN, Manifest, Neuro

from ._envelope import Envelope
from ._eventfeed import TOPIC as EVENTS_TOPIC
from ._eventfeed import takes_events
from ._labels import check_labels, delivery_refused
from ._policy import UNTRUSTED, Policy, PolicyError
from ._process import Letter, Process, State
from ._supervisor import RESTART_KINDS

if TYPE_CHECKING:
    from ._kernel import Kernel

__all__ = ["CLIENT", "RESERVED_NAMES", "check_name", "check_backend", "check_grants", "redeliver"]

CLIENT = "client"
#: The names the kernel sends as (its clients; kernel/_eventfeed.py's events): no neuro may take
#: one, or what the kernel sends would carry that neuro's taint and name.
RESERVED_NAMES = (CLIENT, "kernel")


def check_name(name: str, restart: str) -> None:
    """A process's name and restart kind, as spawn takes them."""
    if not NAME_PATTERN.match(name):
        raise ManifestError(f"{name!r} is not a valid neuro name (lower case, digits, '_', '-', dots)")
    if name in RESERVED_NAMES:
        raise ManifestError(f"{name!r} is reserved: the kernel sends as {' and '.join(map(repr, RESERVED_NAMES))}; "
                            "spawn this neuro with another name=")
    if restart not in RESTART_KINDS:
        raise NeuroError(f"restart must be one of {', '.join(RESTART_KINDS)}, got {restart!r}")


def check_backend(name: str, manifest: Manifest, pol: Policy, backends: dict[str, Any]) -> str:
    """The sandbox `name` runs in: its manifest's, or its policy's, if the policy allows it and this kernel has it."""
    backend = manifest.sandbox or pol.sandbox
    if backend not in pol.sandboxes:
        raise PolicyError(
            f"{name}: policy {pol.name!r} does not allow the {backend!r} sandbox (it allows "
            f"{', '.join(pol.sandboxes)}); in-process code cannot be held to CPU, memory or capability "
            "limits, so set the neuro's sandbox to one the policy allows")
    if backend not in backends:
        raise NeuroError(f"{name}: sandbox backend {backend!r} is not available in this kernel "
                         f"(available: {', '.join(backends)}); see `neuro doctor`")
    return backend


def check_grants(name: str, neuro: type[Neuro], pol: Policy, backend: str, decoder: msgspec.msgpack.Decoder) -> None:
    """What the neuro asks (kernel events, labels, control) against what its code may be given."""
    manifest = neuro.__manifest__
    if EVENTS_TOPIC in manifest.subscribe and not takes_events(decoder):
        raise ManifestError(f"{name} subscribes to {EVENTS_TOPIC!r}, but its input type "
                            f"{getattr(manifest.input, '__name__', manifest.input)!r} takes no KernelEvent; "
                            "make it `input = sdk.KernelEvent` (or a union with it)")
    if backend == "inproc" and "__neuro_described__" in vars(neuro):
        raise PolicyError(f"{name}: its code is not trusted, so it cannot run in the kernel's process; give it a "
                          "policy whose sandbox is process or docker")
    check_labels(name, pol, backend)  # labels hold only where memory is not shared (kernel/_labels.py)
    if pol.capabilities.control and ("__neuro_described__" in vars(neuro) or pol.name == UNTRUSTED):
        raise PolicyError(f"{name}: its code is not trusted, so it cannot run under policy {pol.name!r}, which "
                          f"grants capabilities.control ({', '.join(pol.capabilities.control)}): untrusted code "
                          "never acts on the kernel; give it a policy without `control`")


def redeliver(kernel: Kernel, proc: Process, rows: list[Any]) -> None:
    """Durable messages a crash left without an outcome go to the neuro's new instance."""
    router = kernel._router
    for row in rows:
        env = Envelope(id=row.id, time=row.id / 1e9, sender=row.sender, recipient=proc.name, kind=row.kind,
                       payload=None, correlation=row.correlation, parent=row.parent, labels=row.labels)
        letter = Letter(env, row.payload, None, math.inf)
        try:
            env.payload = proc.decoder.decode(row.payload)
            # Its labels are checked as on first delivery, against the policy it has now.
            why = delivery_refused(proc, row.sender, row.labels, kernel._event, "a redelivered durable message")
        except msgspec.ValidationError as e:
            why = f"redelivery after restart: no longer fits the input type: {e}"
        if why is not None:
            letter.accepted_at = 0.0
            proc.received += 1
            router._dead(proc, letter, why)
            continue
        router._enqueue(proc, letter)
    if proc.queue and proc.state is State.RUNNING and not proc.runners:
        router._start_runner(proc)
    kernel._event("neuro.redelivered", proc.name, "kernel", count=len(rows))
