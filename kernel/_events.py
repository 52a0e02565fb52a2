"""The catalogue of the kernel's events: every name, the type of its data, a line of documentation.

An event is a row of the log's ``events`` table (and a `KernelEvent` to clients and to neuros
that subscribe to ``kernel.events``): a UTC `time`, a dotted `name`, the `neuro` it is about
(or none), the `actor` that caused it, and its `data`. The name says the subject first and
what happened second (``neuro.crashed``, ``swap.failed``, ``quota.rate``), as a reader of
``journalctl`` or ``kubectl get events`` expects; the data of each name is one msgspec Struct
(in kernel/_events_runtime.py or kernel/_events_services.py), whose docstring is the line ``docs/events.md`` shows for it.

An emitter names its event and gives its data as keywords (``kernel._event("neuro.crashed",
name, actor, pid=..., error=...)``); `event_data` checks them against the Struct, so a name
that is not in the catalogue, a misspelt field, a missing one or one of the wrong type is an error where
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

from typing import Any, Callable

import msgspec

from . import _events_runtime, _events_services  # noqa: F401 - importing them fills CATALOGUE
from ._events_runtime import QUOTA_EVENTS
from ._eventschema import CATALOGUE, GROUPS, RESERVED, EventData, EventDataError, UnknownEvent

__all__ = [
    "CATALOGUE", "RESERVED", "GROUPS", "LEGACY_NAMES", "QUOTA_EVENTS", "EventData", "UnknownEvent",
    "EventDataError", "event_data", "as_dict", "encode", "legacy_rename_statements",
]

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
    hint = f"it is called {old!r} now" if old else "add it to kernel/_events_runtime.py or kernel/_events_services.py, with a Struct for its data and a docstring"
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
        raise EventDataError(f"the data of event {name!r} does not fit {cls.__name__} (kernel/_events_*.py): "
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
