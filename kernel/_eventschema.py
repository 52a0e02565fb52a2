"""The catalogue's machinery: the base Struct of event data, and the registry entries join.

The entries themselves are kernel/_events_runtime.py (the kernel, neuros, supervisors, quotas,
labels, energy, sandboxes, policies) and kernel/_events_services.py (hooks, swaps, versions,
drop folders, keeps, control, the log, nets, dreams); kernel/_events.py gathers them.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import msgspec

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
            raise RuntimeError(f"kernel/_events*.py: event {name!r} is there twice, is not `group.what` "
                               "with a group of GROUPS, or its Struct has no docstring")
        CATALOGUE[name] = cls
        if reserved is not None:
            RESERVED[name] = reserved
        return cls

    return register
