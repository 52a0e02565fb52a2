"""The event catalogue (kernel/_events.py): its documentation, and the code's emitters agree with it.

The emitters are found by reading the source with `ast`: every call of ``_event(NAME, ...)``,
``append_event(NAME, ...)`` and the control server's ``_note(NAME, ...)``, and every
``KernelEvent(name=NAME, ...)``, in the packages that make up Neuro."""

from __future__ import annotations

import ast
import shutil
import sqlite3
from pathlib import Path

import msgspec
import pytest
import trio

import neuro
from neuro._context import EVENTS_MISSED
from neuro.kernel import _events
from neuro.kernel._events import (CATALOGUE, LEGACY_NAMES, QUOTA_EVENTS, RESERVED, EventDataError, UnknownEvent,
                                  encode, event_data, legacy_rename_statements)
from neuro.kernel._eventdocs import markdown

ROOT = Path(__file__).resolve().parents[2]
CODE = ("kernel", "sandbox", "shell", "neuro", "neuros", "dream", "nets")
EMITTERS = {"_event", "append_event", "_note"}
# Names the source may pass for an event's name, beside string literals.
CONSTANTS = {"EVENTS_MISSED": {EVENTS_MISSED}, "QUOTA_EVENTS": set(QUOTA_EVENTS.values())}


class Emit(msgspec.Struct, frozen=True):
    where: str
    names: frozenset[str]
    keywords: tuple[str, ...] | None  # the data's field names, when given as plain keywords


def _names(node: ast.expr, params: set[str]) -> frozenset[str] | None:
    """The event names `node` can be: empty for a parameter passed on (a forwarder), None when
    the source does not say."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return frozenset({node.value})
    if isinstance(node, ast.IfExp):
        body, orelse = _names(node.body, params), _names(node.orelse, params)
        return None if body is None or orelse is None else body | orelse
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in CONSTANTS:
        return frozenset(CONSTANTS[node.value.id])
    if isinstance(node, ast.Name):
        if node.id in params:
            return frozenset()
        if node.id in CONSTANTS:
            return frozenset(CONSTANTS[node.id])
    return None


def _emits() -> list[Emit]:
    found = []
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            found += _scan(tree, path.relative_to(ROOT).as_posix(), set())
    return found


def _scan(node: ast.AST, file: str, params: set[str]) -> list[Emit]:
    found = []
    for child in ast.iter_child_nodes(node):
        inner = params
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = child.args
            inner = params | {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs}
        if isinstance(child, ast.Call):
            func = child.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            arg = None
            if called in EMITTERS and child.args:
                arg = child.args[0]
            elif called == "KernelEvent":
                arg = next((k.value for k in child.keywords if k.arg == "name"), None)
            if arg is not None:
                where = f"{file}:{child.lineno}"
                names = _names(arg, inner)
                if names is None:
                    raise AssertionError(f"{where}: the event's name is not a literal; write it as a string "
                                         "(or a catalogue mapping such as QUOTA_EVENTS) so this test can check it")
                plain = called in ("_event", "_note") and all(k.arg is not None for k in child.keywords)
                found.append(Emit(where, names, tuple(k.arg for k in child.keywords) if plain else None))
        found += _scan(child, file, inner)
    return found


EMITS = _emits()


def test_the_scan_reads_literals_conditionals_mappings_and_forwarders():
    """The scan finds literal names, both arms of a conditional, a mapping's values, keywords; it skips forwarders."""
    tree = ast.parse(
        "def emit(name, **data):\n"
        "    kernel._event(name, None, 'x', **data)\n"
        "kernel._event('neuro.failed' if failed else 'neuro.stopped', n, 'x', pid=1, reason='r')\n"
        "kernel._event(QUOTA_EVENTS[quota], n, 'x', pid=1)\n"
        "server._note('control.refused', pid=1)\n")
    assert [(frozenset(), None), (frozenset({"neuro.failed", "neuro.stopped"}), ("pid", "reason")),
            (frozenset({"quota.memory", "quota.cpu_time"}), ("pid",)), (frozenset({"control.refused"}), ("pid",))] == [
        (e.names, e.keywords) for e in _scan(tree, "t.py", set())]


def test_the_scan_refuses_a_name_it_cannot_read():
    """A name built at run time (an f-string) fails the scan, naming the place."""
    tree = ast.parse("kernel._event(f'quota.{quota}', n, 'x')\n")
    with pytest.raises(AssertionError, match="t.py:1: the event's name is not a literal"):
        _scan(tree, "t.py", set())


def test_docs_events_md_is_what_the_catalogue_generates():
    """docs/events.md is exactly what `python -m neuro.kernel._eventdocs` writes now."""
    assert markdown() == (ROOT / "docs" / "events.md").read_text()


def test_every_emitted_name_is_in_the_catalogue():
    """Every event name an emitter in the code uses is in the catalogue."""
    assert [] == [(e.where, n) for e in EMITS for n in sorted(e.names) if n not in CATALOGUE]


def test_every_catalogue_entry_is_emitted_or_reserved():
    """Each catalogue entry is emitted somewhere, or reserved for a named later issue (and then not emitted)."""
    emitted = {n for e in EMITS for n in e.names}
    assert [] == sorted(set(CATALOGUE) - emitted - set(RESERVED))
    assert [] == sorted(set(RESERVED) & emitted)


def test_every_emitter_gives_the_fields_of_its_struct():
    """An emitter's keywords are its event's fields: none unknown, none required left out."""
    wrong = []
    for e in EMITS:
        if e.keywords is None or not e.names:
            continue
        for name in e.names:
            fields = msgspec.structs.fields(CATALOGUE[name])
            unknown = set(e.keywords) - {f.name for f in fields}
            missing = {f.name for f in fields if f.required} - set(e.keywords)
            if unknown or missing:
                wrong.append((e.where, name, sorted(unknown), sorted(missing)))
    assert [] == wrong


def test_names_are_dotted_lowercase_subject_first():
    """Every name is `subject.what`, lower case, its subject one of the documented groups."""
    odd = [n for n in CATALOGUE
           if not all(part.isidentifier() and part.islower() for part in n.split(".")) or n.count(".") != 1
           or n.split(".")[0] not in _events.GROUPS]
    assert [] == odd


def test_every_struct_forbids_unknown_fields_and_has_one_line_of_documentation():
    """Each event's Struct refuses unknown fields and has a docstring of one sentence."""
    assert [] == [n for n, cls in CATALOGUE.items() if not cls.__struct_config__.forbid_unknown_fields]
    assert [] == [n for n, cls in CATALOGUE.items() if not (cls.__doc__ or "").strip().endswith(".")]


def test_legacy_names_lead_to_catalogue_entries():
    """Every old name maps to a name in the catalogue, and no old name is still a name."""
    assert [] == [new for new in LEGACY_NAMES.values() if new not in CATALOGUE]
    assert [] == [old for old in LEGACY_NAMES if old in CATALOGUE]


def test_event_data_fills_defaults_and_encodes_every_field():
    """Checked data holds every field of the Struct, defaults included, in the JSON the log keeps."""
    assert {"limit": 5.0, "burst": 5.0, "action": "rejected"} == msgspec.json.decode(
        encode("quota.rate", {"limit": 5, "burst": 5.0}))


def test_a_misspelt_field_names_the_event_the_field_and_the_fix():
    """Data with an unknown field is an EventDataError naming the event, the field and the Struct's fields."""
    with pytest.raises(EventDataError) as caught:
        event_data("neuro.crashed", {"pid": 1, "eror": "boom"})
    assert ("the data of event 'neuro.crashed' does not fit NeuroCrashed (kernel/_events_*.py): Object contains "
            "unknown field `eror` (its fields: pid, error); fix the emitter, or add the field there with a "
            "default") == str(caught.value)


def test_a_field_of_the_wrong_type_is_an_error():
    """Data whose field has the wrong type is an EventDataError with the path of the field."""
    with pytest.raises(EventDataError, match=r"Expected `int`, got `str` - at `\$.pid`"):
        event_data("neuro.crashed", {"pid": "1", "error": "boom"})


def test_an_old_name_is_refused_with_the_name_it_has_now():
    """Emitting under a name from before the catalogue says what the event is called now."""
    with pytest.raises(UnknownEvent) as caught:
        event_data("crashed", {"pid": 1, "error": "boom"})
    assert "event 'crashed' is not in the catalogue (kernel/_events.py): it is called 'neuro.crashed' now" == str(
        caught.value)


def test_the_kernel_refuses_an_event_that_is_not_in_the_catalogue():
    """The kernel's `_event` raises for a name outside the catalogue and logs nothing."""

    async def body():
        async with neuro.Kernel() as k:
            with pytest.raises(UnknownEvent):
                k._event("neuro.exploded", None, "kernel")

    trio.run(body)


def test_the_log_and_subscribers_get_every_field_of_an_event(log_path):
    """A logged event's data and a client's KernelEvent hold the Struct's fields, defaults included."""

    async def body():
        async with neuro.Kernel(log=log_path) as k:
            async with k.subscribe("kernel.events") as events:
                k._event("quota.rate", "echo", "test", limit=2, burst=3)
                _topic, _sender, seen = await events.receive()
            await k.log.flush()
            logged = await k.log.events(name="quota.rate")
        return seen.name, seen.data, [e.data for e in logged]

    expected = {"limit": 2.0, "burst": 3.0, "action": "rejected"}
    assert ("quota.rate", expected, [expected]) == trio.run(body)


def test_the_rename_statement_gives_old_rows_their_names_now(tmp_path):
    """The SQL for the migration renames every old name's rows and leaves the others as they are."""
    db = sqlite3.connect(tmp_path / "log.db")
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    db.executemany("INSERT INTO events (name) VALUES (?)", [(n,) for n in [*LEGACY_NAMES, "quota.rate", "custom"]])
    for sql in legacy_rename_statements():
        db.execute(sql)
    assert [*LEGACY_NAMES.values(), "quota.rate", "custom"] == [r[0] for r in db.execute(
        "SELECT name FROM events ORDER BY seq")]


def test_a_log_written_before_the_catalogue_is_read_under_the_new_names(tmp_path):
    """Once opened by today's kernel, an old log's `crashed`, `spawned`, `swapped` rows are found by their new names."""
    path = tmp_path / "old.db"
    shutil.copy(ROOT / "tests" / "kernel" / "data" / "log_schema3.db", path)
    from neuro.kernel._logschema import open_database

    open_database(str(path)).close()
    reader = neuro.LogReader(str(path))
    try:
        counts = {n: len(reader.events(name=n, limit=None))
                  for n in ("neuro.crashed", "neuro.spawned", "neuro.restarted", "swap.done", "version.recorded")}
        old = [e.name for e in reader.events(limit=None) if e.name in LEGACY_NAMES]
    finally:
        reader.close()
    assert ({"neuro.crashed": 1, "neuro.spawned": 3, "neuro.restarted": 1, "swap.done": 1, "version.recorded": 4},
            []) == (counts, old)
