"""Migration 4, from a log file written by Neuro at schema 3 (`data/log_schema3.db`, made by
`data/make_log_schema3.py` on main before migration 4 existed): in place, every row kept, the
new columns and tables added, once; and what reads a schema-3 file without migrating it."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3

import pytest
import trio

import neuro
from neuro.kernel._events import LEGACY_NAMES
from neuro.kernel._logschema import SCHEMA_VERSION

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "log_schema3.db")
OLD_TABLES = {
    "messages": "id, time, sender, recipient, kind, topic, correlation, parent, deadline, payload, durable",
    "outcomes": "id, time, outcome, reason, neuro, latency, reply, error",
    "events": "seq, time, name, neuro, actor, data",
    "versions": "neuro, version, time, origin, parent, source",
}


@pytest.fixture
def old_log(tmp_path):
    """A copy of the schema-3 fixture (the fixture itself is never written)."""
    path = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, path)
    return str(path)


def sql(path, query, *params):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def columns(path, table):
    return [r[1] for r in sql(path, f"PRAGMA table_info({table})")]


def old_rows(path):
    return {table: sql(path, f"SELECT {cols} FROM {table} ORDER BY 1, 2") for table, cols in OLD_TABLES.items()}


def open_with_kernel(path):
    async def main():
        async with neuro.Kernel(log=path):
            pass

    trio.run(main)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_the_fixture_is_a_schema_3_log_with_calls_a_swap_an_error_and_dead_letters():
    """The fixture holds what the migration must carry: two stored versions with source, and
    every kind of outcome."""
    assert [(3,)] == sql(FIXTURE, "SELECT MAX(version) FROM migrations")
    assert [("dead", 2), ("error", 1), ("handled", 6)] == sql(
        FIXTURE, "SELECT outcome, COUNT(*) FROM outcomes GROUP BY 1 ORDER BY 1")
    assert [("file", 1), ("spawn", 1)] == sql(
        FIXTURE, "SELECT origin, COUNT(source) FROM versions WHERE neuro = 'tutor' GROUP BY 1 ORDER BY 1")


def test_a_schema_3_log_is_upgraded_in_place_and_keeps_every_row(old_log):
    """A kernel opening the old file migrates that same file (same inode) and every row of
    every old table reads back as it was."""
    before, inode = old_rows(old_log), os.stat(old_log).st_ino
    open_with_kernel(old_log)
    after = old_rows(old_log)
    assert inode == os.stat(old_log).st_ino
    assert [(SCHEMA_VERSION,)] == sql(old_log, "SELECT MAX(version) FROM migrations")
    for table in ("messages", "outcomes", "versions"):
        assert before[table] == after[table]
    # Old event names read under their catalogue names; nothing else about an event changes.
    # The kernel that migrated it logged its own start and stop after the old events.
    renamed = [(r[0], r[1], LEGACY_NAMES.get(r[2], r[2]), *r[3:]) for r in before["events"]]
    assert renamed == after["events"][:len(before["events"])]
    assert ["kernel.started", "kernel.stopped"] == [r[2] for r in after["events"][len(before["events"]):]]


def test_the_upgraded_log_gains_the_columns_and_tables_of_schema_4(old_log):
    """Outcomes gain version and service, versions gain lineage and artifacts (NULL for old
    rows), and the artifact tables exist, empty."""
    open_with_kernel(old_log)
    assert ["version", "service"] == columns(old_log, "outcomes")[-2:]
    assert ["lineage", "artifacts"] == columns(old_log, "versions")[-2:]
    assert [(9, 0, 0)] == sql(old_log, "SELECT COUNT(*), COUNT(version), COUNT(service) FROM outcomes")
    assert [(4, 0, 0)] == sql(old_log, "SELECT COUNT(*), COUNT(lineage), COUNT(artifacts) FROM versions")
    for table in ("artifacts", "artifact_chunks", "artifact_uploads"):
        assert [(0,)] == sql(old_log, f"SELECT COUNT(*) FROM {table}")


def test_the_migration_is_recorded_once_and_a_second_open_changes_nothing(old_log):
    """The migrations table gains a row for each migration after 3 (4, then 5); a second kernel on
    the upgraded file applies nothing and leaves those rows as they were."""
    open_with_kernel(old_log)
    first = sql(old_log, "SELECT version, name, applied FROM migrations ORDER BY version")
    assert [1, 2, 3, 4, 5] == [r[0] for r in first]
    assert "handler version and service time, lineage, artifacts" == first[3][1]
    schema = sql(old_log, "SELECT name, sql FROM sqlite_master ORDER BY name")
    open_with_kernel(old_log)
    assert first == sql(old_log, "SELECT version, name, applied FROM migrations ORDER BY version")
    assert schema == sql(old_log, "SELECT name, sql FROM sqlite_master ORDER BY name")


def test_a_migration_that_fails_leaves_the_log_at_schema_3(old_log):
    """The migration runs in one transaction: when one of its statements fails (here a table
    of the same name is in the way), the kernel raises LogError and the file is as it was."""
    with sqlite3.connect(old_log) as conn:
        conn.execute("CREATE TABLE artifact_chunks (x)")  # in the way of migration 4's CREATE
    with pytest.raises(neuro.LogError, match="artifact_chunks already exists"):
        open_with_kernel(old_log)
    assert [(3,)] == sql(old_log, "SELECT MAX(version) FROM migrations")
    assert "version" not in columns(old_log, "outcomes")
    assert "lineage" not in columns(old_log, "versions")
    assert [] == sql(old_log, "SELECT name FROM sqlite_master WHERE name = 'artifacts'")


def test_the_upgraded_log_answers_the_old_queries_as_before(old_log):
    """Messages, outcomes and versions read through LogReader are the same before and after
    the upgrade, but for the new fields."""
    def view(path):
        with neuro.LogReader(path) as reader:
            messages = [(m.id, m.recipient, m.payload, m.outcome, m.reason, m.reply, m.latency)
                        for m in reader.messages(limit=None)]
            versions = [{k: v[k] for k in ("neuro", "version", "time", "origin", "parent")}
                        for v in reader.versions("tutor")]
            return messages, versions, reader.outcome_counts()

    before = view(old_log)
    open_with_kernel(old_log)
    assert before == view(old_log)


def test_a_page_by_neuro_after_an_id_is_a_range_of_the_recipient_index(old_log):
    """On an upgraded log, `messages(neuro=X, after_id=...)` and the newest of a neuro read a
    range of the (recipient, id) index: no scan of the table and no sort."""
    open_with_kernel(old_log)
    for order in ("ASC", "DESC"):
        plan = " | ".join(r[3] for r in sql(
            old_log, "EXPLAIN QUERY PLAN SELECT m.*, o.* FROM messages m LEFT JOIN outcomes o ON o.id = m.id "
                     f"WHERE m.recipient = ? AND m.id > ? ORDER BY m.id {order} LIMIT 1000", "tutor", 0))
        assert "SEARCH m USING INDEX messages_recipient (recipient=? AND rowid>?)" in plan
        assert "TEMP B-TREE" not in plan


# -- reading a schema-3 file without migrating it -------------------------------------------


def test_log_reader_reads_a_schema_3_file_without_changing_it():
    """LogReader opens the fixture read-only: it reads every message, and the file's bytes and
    its schema stay as they were."""
    before = digest(FIXTURE)
    with neuro.LogReader(FIXTURE) as reader:
        messages = reader.messages(limit=None)
        assert 3 == reader.schema
    assert 9 == len(messages)
    assert before == digest(FIXTURE)
    assert [(3,)] == sql(FIXTURE, "SELECT MAX(version) FROM migrations")


def test_log_reader_says_what_a_schema_3_file_lacks_and_reads_it_as_none():
    """On a schema-3 file `missing` names the columns and tables schema 4 added; version and
    service read as None, and so do lineage and artifacts."""
    with neuro.LogReader(FIXTURE) as reader:
        assert ("outcomes.version", "outcomes.service", "versions.lineage", "versions.artifacts",
                "artifacts") == reader.missing
        assert {(None, None)} == {(m.version, m.service) for m in reader.messages(limit=None)}
        assert [(None, None)] * 2 == [(v["lineage"], v["artifacts"]) for v in reader.versions("tutor")]


def test_log_reader_refuses_artifact_reads_on_a_schema_3_file_saying_how_to_upgrade():
    """artifact_info on a schema-3 file is a LogError naming the schema and the upgrade."""
    expected = (f"the event log {FIXTURE!r} has schema version 3, which has no artifacts (they arrived in "
                "schema 4); a kernel opening it with neuro.Kernel(log=...) upgrades it")
    with neuro.LogReader(FIXTURE) as reader, pytest.raises(neuro.LogError) as err:
        reader.artifact_info("0" * 64)
    assert expected == str(err.value)


def test_a_current_log_lacks_nothing(old_log):
    """After the upgrade, LogReader reports the current schema and nothing missing."""
    open_with_kernel(old_log)
    with neuro.LogReader(old_log) as reader:
        assert (SCHEMA_VERSION, ()) == (reader.schema, reader.missing)


def test_log_reader_refuses_a_newer_schema_with_a_clear_error(old_log):
    """A log whose schema is newer than this Neuro's is refused by LogReader, naming both."""
    with sqlite3.connect(old_log) as conn:
        conn.execute("INSERT INTO migrations VALUES (?, 'from the future', 0)", (SCHEMA_VERSION + 1,))
    expected = (f"the event log {old_log!r} has schema version {SCHEMA_VERSION + 1}, newer than this Neuro "
                f"reads ({SCHEMA_VERSION}); upgrade Neuro to read it")
    with pytest.raises(neuro.LogError) as err:
        neuro.LogReader(old_log)
    assert expected == str(err.value)


def test_a_kernel_refuses_a_newer_schema_and_leaves_the_file_as_it_was(old_log):
    """A kernel opening a log from a newer Neuro raises LogError and migrates nothing."""
    with sqlite3.connect(old_log) as conn:
        conn.execute("INSERT INTO migrations VALUES (?, 'from the future', 0)", (SCHEMA_VERSION + 1,))
    with pytest.raises(neuro.LogError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this Neuro knows"):
        open_with_kernel(old_log)
    assert "version" not in columns(old_log, "outcomes")


def test_log_reader_refuses_a_sqlite_file_that_is_not_a_log(tmp_path):
    """A SQLite file without a migrations table is not taken for a log."""
    path = str(tmp_path / "other.db")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(neuro.LogError, match="is a SQLite file but not an event log"):
        neuro.LogReader(path)
