"""docs/events.md, written from the event catalogue (kernel/_events.py).

    python -m neuro.kernel._eventdocs > docs/events.md

A test checks that the file is exactly what `markdown` writes now, so the documentation of an
event changes with its Struct, in the same commit. (A module of its own: the kernel imports the
catalogue at start-up, and never needs this.)
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Any, Literal

import msgspec

from ._events import CATALOGUE, GROUPS, LEGACY_NAMES, RESERVED

__all__ = ["markdown"]


def _type_name(tp: Any) -> str:
    """A field's type as a reader writes it: ``str | None``, ``list[str]``, ``dict[str, int]``."""
    if tp is Any:
        return "any"
    if tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    return tp.__name__


def _cell(text: str) -> str:
    """Text for a Markdown table's cell: a `|` (even inside backticks) would end the cell."""
    return text.replace("|", "\\|")


def _notes(cls: type) -> dict[str, str]:
    """Each field's trailing comment in the catalogue's source (``keep: str  # the policy``)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # no source (a frozen build): the table has no notes
        return {}
    return {m[1]: m[2].strip() for m in re.finditer(r"^\s+(\w+):[^#\n]*#(.+)$", source, re.M)}


def _default(field: msgspec.structs.FieldInfo) -> str:
    if field.required:
        return "required"
    return f"`{field.default!r}`" if field.default is not msgspec.NODEFAULT else "empty"


def _line(cls: type) -> str:
    return " ".join((cls.__doc__ or "").split())


def markdown() -> str:
    """docs/events.md: every event, grouped by subject, with its line of documentation and fields."""
    out = [
        "# Events",
        "",
        "<!-- Generated from kernel/_events.py by `python -m neuro.kernel._eventdocs > docs/events.md`;",
        "     edit the catalogue there, not this file (a test checks that the two agree). -->",
        "",
        "Every event is a row of the log's `events` table: `seq`, a UTC `time`, its `name`, the `neuro`",
        "it is about (empty for the kernel's own), the `actor` that caused it (`kernel`, a supervisor, a",
        "neuro, `drop`, `control`, the `origin` of a swap or hook) and its `data`, a JSON object with",
        "every field below (defaults included). Clients and neuros that subscribe to `kernel.events` get",
        "the same as a `KernelEvent`. Read them with `neuro logs --events`, `LogReader.events(name=...)`",
        "(a name, or a pattern such as `neuro.*`), or SQL:",
        "",
        "```sql",
        "SELECT time, neuro, json_extract(data, '$.error') FROM events WHERE name = 'neuro.crashed';",
        "```",
        "",
        "A field added later gets a default; a field never changes type.",
        "",
        "| event | what it says |",
        "|---|---|",
    ]
    out += [f"| [`{name}`](#{name.replace('.', '')}) | {_cell(_line(cls))} |" for name, cls in CATALOGUE.items()]
    out.append("")
    for group, line in GROUPS.items():
        names = [n for n in CATALOGUE if n.split(".", 1)[0] == group]
        if not names:
            continue
        out += [f"## {group}", "", line, ""]
        for name in names:
            cls = CATALOGUE[name]
            out += [f"### `{name}`", "", _line(cls), ""]
            if name in RESERVED:
                out += [f"Reserved: nothing emits it yet; {RESERVED[name]} will.", ""]
            fields = msgspec.structs.fields(cls)
            if fields:
                notes = _notes(cls)
                rows = [[f"`{f.name}`", f"`{_cell(_type_name(f.type))}`", _default(f)]
                        + ([_cell(notes.get(f.name, ""))] if notes else []) for f in fields]
                head = ["field", "type", "default"] + (["note"] if notes else [])
                out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                out += ["| " + " | ".join(row) + " |" for row in rows]
                out.append("")
    out += [
        "## Renamed events",
        "",
        "Logs written before the catalogue used these names; opening such a log migrates its rows to",
        "the names on the right (schema migration 4), so a filter by the new name finds old rows too.",
        "",
        "| old name | name now |",
        "|---|---|",
    ]
    out += [f"| `{old}` | `{new}` |" for old, new in LEGACY_NAMES.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
