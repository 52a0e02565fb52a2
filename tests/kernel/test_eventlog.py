"""The event log: SQLite in WAL mode, schema migrations, batched writes, the query API."""

from __future__ import annotations

import sqlite3
import time

import pytest
import trio
import trio.testing

import neuro
from neuro.kernel._logschema import SCHEMA_VERSION
from neuro.testing import Crashy, Echo, Ping, Pong, Relay, Slow

from .neuros_for_tests import Outer


def run(fn):
    return trio.run(fn)


async def idle_kernel(path, **kwargs):
    async with neuro.Kernel(log=path, **kwargs):
        pass


def sql(path, query, *params):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def read(path, method, **kwargs):
    reader = neuro.LogReader(path)
    try:
        return getattr(reader, method)(**kwargs)
    finally:
        reader.close()


# -- the file -----------------------------------------------------------------------------


def test_the_log_is_in_wal_mode(log_path):
    """A kernel's log file is a SQLite database in WAL journal mode."""
    trio.run(idle_kernel, log_path)
    assert [("wal",)] == sql(log_path, "PRAGMA journal_mode")


def test_the_schema_version_is_recorded_in_the_migrations_table(log_path):
    """A new log records each applied migration, up to the current schema version."""
    trio.run(idle_kernel, log_path)
    assert [(1, "initial schema"), (2, "durable messages"), (3, "partial indexes on correlation and parent"),
            (4, "handler version and service time, lineage, artifacts"),
            (5, "privacy labels of durable messages and artifacts")] == sql(
        log_path, "SELECT version, name FROM migrations")
    assert SCHEMA_VERSION == read(log_path, "schema_version")


def test_reopening_a_log_does_not_apply_migrations_again(log_path):
    """A second kernel on the same file keeps the migration rows as they were and the old rows."""
    trio.run(idle_kernel, log_path)
    first = sql(log_path, "SELECT * FROM migrations")
    trio.run(idle_kernel, log_path)
    assert first == sql(log_path, "SELECT * FROM migrations")
    assert ["kernel.started", "kernel.stopped"] * 2 == [e.name for e in read(log_path, "events")]


def test_a_log_with_a_newer_schema_is_refused_with_a_clear_error(log_path):
    """Opening a log written by a newer Neuro raises LogError saying which versions and what to do."""
    conn = sqlite3.connect(log_path)
    conn.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL NOT NULL)")
    conn.execute("INSERT INTO migrations VALUES (?, 'from the future', 0)", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    expected = (f"the event log has schema version {SCHEMA_VERSION + 1}, newer than this Neuro knows "
                f"({SCHEMA_VERSION}); upgrade Neuro or use another log file")
    with pytest.raises(neuro.LogError) as err:
        trio.run(idle_kernel, log_path)
    assert expected == str(err.value)


def test_an_unwritable_log_path_raises_log_error_naming_the_path(tmp_path):
    """A log in a folder that does not exist raises LogError naming the path and the fix."""
    path = tmp_path / "missing" / "run.db"
    with pytest.raises(neuro.LogError) as err:
        trio.run(idle_kernel, path)
    assert f"cannot open the event log {str(path)!r}" in str(err.value)
    assert "check the path exists and is writable" in str(err.value)


def test_reading_a_log_that_does_not_exist_raises_log_error_and_creates_nothing(tmp_path):
    """LogReader on a path with no log raises LogError naming the path, and leaves no file behind."""
    path = tmp_path / "nothing.db"
    with pytest.raises(neuro.LogError, match="nothing.db"):
        read(path, "messages")
    assert not path.exists()


def test_a_kernel_without_a_log_says_how_to_get_one():
    """k.log queries on a kernel started without a log raise NeuroError showing Kernel(log=...)."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NeuroError, match=r"start it with Kernel\(log='run.db'\)"):
                await k.log.messages()

    run(main)


# -- writing ------------------------------------------------------------------------------


def test_rows_are_written_in_batches_not_one_by_one(log_path):
    """With a long flush interval, an accepted message reaches the file only when the log is flushed."""

    async def main():
        async with neuro.Kernel(log=log_path, flush_interval=60.0) as k:
            await k.spawn(Echo)
            await k.call("echo", Ping(n=1))
            before = sql(log_path, "SELECT COUNT(*) FROM messages")
            await k.log.flush()
            after = sql(log_path, "SELECT COUNT(*) FROM messages")
            return before, after

    assert ([(0,)], [(1,)]) == run(main)


def test_shutdown_flushes_every_row(log_path):
    """Everything accepted before shutdown is in the file, with its outcome, once the kernel exits."""

    async def main():
        async with neuro.Kernel(log=log_path, flush_interval=60.0) as k:
            await k.spawn(Echo)
            await k.spawn(Crashy)
            for n in range(200):
                await k.send("echo", Ping(n=n))
            with pytest.raises(neuro.RemoteError):
                await k.call("crashy", Ping(n=-1))

    run(main)
    assert {"echo": {"handled": 200}, "crashy": {"error": 1}} == read(log_path, "outcome_counts")
    stopped = read(log_path, "events", name="kernel.stopped")
    assert [(201, 200, 1, 0)] == [(e.data["accepted"], e.data["handled"], e.data["error"], e.data["dead"])
                                  for e in stopped]


def test_a_message_row_holds_the_envelope_and_its_outcome(log_path):
    """A logged call has its sender, recipient, kind, correlation, deadline, payload, reply and latency."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            await k.call("echo", Ping(n=4), timeout=2.0)
            return (await k.log.messages())[0]

    r = run(main)
    assert ("client", "echo", "call", r.id, None) == (r.sender, r.recipient, r.kind, r.correlation, r.parent)
    assert ({"n": 4}, "handled", {"n": 4}) == (r.payload, r.outcome, r.reply)
    assert 2.0 == pytest.approx(r.deadline - r.time, abs=0.01)
    assert 0 <= r.latency < 1.0
    assert r.time <= r.outcome_time


def test_an_error_outcome_carries_the_typed_error(log_path):
    """A handler's exception is logged with its type, message, traceback and the neuro's name."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Crashy)
            with pytest.raises(neuro.RemoteError):
                await k.call("crashy", Ping(n=-3))
            return (await k.log.messages())[0]

    r = run(main)
    assert ("error", "crashed") == (r.outcome, r.reason)
    assert ("ValueError", "negative: -3", "crashy", ["crashy"]) == (
        r.error["type"], r.error["message"], r.error["neuro"], r.error["path"])
    assert "Traceback" in r.error["traceback"]


def test_lifecycle_events_are_logged_with_who_caused_them(log_path):
    """Spawn, crash, restart and stop are events naming the neuro and the actor."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Crashy)
            with pytest.raises(neuro.RemoteError):
                await k.call("crashy", Ping(n=-1))
            await trio.testing.wait_all_tasks_blocked()
            await k.stop("crashy")

    run(main)
    events = [(e.name, e.neuro, e.actor) for e in read(log_path, "events", neuro="crashy")
              if e.name != "version.recorded"]
    assert [("neuro.spawned", "crashy", "root"), ("neuro.crashed", "crashy", "crashy"),
            ("neuro.restarted", "crashy", "root"), ("neuro.stopped", "crashy", "root")] == events


# -- the query API ------------------------------------------------------------------------


async def _traffic(k):
    """A small known history: echo gets a call and a send, crashy an error, relay a nested call."""
    await k.spawn(Echo)
    await k.spawn(Crashy)
    await k.spawn(Relay)
    gap = 0.002  # real time between the steps, so time filters have clear edges
    await k.call("echo", Ping(n=1))
    await trio.sleep(gap)
    await k.send("echo", Ping(n=2))
    await trio.sleep(gap)
    with pytest.raises(neuro.RemoteError):
        await k.call("crashy", Ping(n=-1))
    await trio.sleep(gap)
    await k.call("relay", Ping(n=10))
    await trio.testing.wait_all_tasks_blocked()


def _query(log_path, method, make_filters=lambda everything: {}):
    """Run the known history, then one query with filters made from the full message list."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await _traffic(k)
            everything = await k.log.messages(limit=None)
            return await getattr(k.log, method)(**make_filters(everything))

    return run(main)


def payloads(rows):
    return [(r.recipient, r.payload["n"]) for r in rows]


def test_messages_are_oldest_first_by_default(log_path):
    """messages() with no filter lists every message in the order it was accepted."""
    rows = _query(log_path, "messages")
    assert [("echo", 1), ("echo", 2), ("crashy", -1), ("relay", 10), ("echo", 11)] == payloads(rows)


def test_messages_filter_by_neuro(log_path):
    """messages(neuro=...) keeps the messages sent to that neuro."""
    rows = _query(log_path, "messages", lambda _: {"neuro": "echo"})
    assert [("echo", 1), ("echo", 2), ("echo", 11)] == payloads(rows)


def test_messages_filter_by_sender(log_path):
    """messages(sender=...) keeps the messages a neuro sent."""
    rows = _query(log_path, "messages", lambda _: {"sender": "relay"})
    assert [("echo", 11)] == payloads(rows)


def test_messages_filter_by_kind(log_path):
    """messages(kind="send") keeps one-way messages only."""
    rows = _query(log_path, "messages", lambda _: {"kind": "send"})
    assert [("echo", 2)] == payloads(rows)


def test_messages_filter_by_outcome(log_path):
    """messages(outcome="error") keeps the messages whose handler raised."""
    rows = _query(log_path, "messages", lambda _: {"outcome": "error"})
    assert [("crashy", -1)] == payloads(rows)


def test_messages_filter_by_correlation(log_path):
    """messages(correlation=...) keeps one conversation: a call and what was sent while handling it."""
    def conversation(everything):
        return {"correlation": next(r.id for r in everything if r.recipient == "relay")}

    rows = _query(log_path, "messages", conversation)
    assert [("relay", 10), ("echo", 11)] == payloads(rows)


def test_a_correlation_query_uses_the_partial_index_and_finds_the_first_message_by_id(log_path):
    """Messages that start a conversation are left out of the correlation index (most are),
    and the query still finds them, by their id; the rest come from the index."""
    rows = _query(log_path, "messages", lambda _: {})
    indexed = sql(log_path, "SELECT id FROM messages INDEXED BY messages_correlation WHERE correlation != id")
    assert [r.id for r in rows if r.correlation != r.id] == [i for (i,) in indexed] != []
    plan = " ".join(str(r) for r in sql(
        log_path, "EXPLAIN QUERY PLAN SELECT id FROM messages m WHERE (m.correlation = ? AND m.correlation != m.id) "
                  "OR (m.id = ? AND m.correlation = m.id)", 1, 1))
    assert "messages_correlation" in plan


def test_a_version_2_log_is_migrated_and_keeps_answering_queries(log_path):
    """A log made before the partial indexes (schema 2) gets them on open, in one step, and
    queries by correlation and trace return what they did."""
    before = _query(log_path, "messages", lambda everything: {
        "correlation": next(r.id for r in everything if r.recipient == "relay")})
    conn = sqlite3.connect(log_path)
    with conn:  # back to schema 2's full indexes
        conn.execute("DROP INDEX messages_correlation")
        conn.execute("CREATE INDEX messages_correlation ON messages (correlation)")
        conn.execute("DROP INDEX messages_parent")
        conn.execute("CREATE INDEX messages_parent ON messages (parent)")
        conn.execute("DELETE FROM migrations WHERE version = 3")
    conn.close()
    trio.run(idle_kernel, log_path)
    assert (SCHEMA_VERSION,) == sql(log_path, "SELECT MAX(version) FROM migrations")[0]
    assert "WHERE correlation != id" in sql(
        log_path, "SELECT sql FROM sqlite_master WHERE name = 'messages_correlation'")[0][0]
    after = read(log_path, "messages", correlation=before[0].id)
    assert payloads(before) == payloads(after)


def test_null_and_blob_columns_keep_their_types(log_path):
    """The writer's identity adapters for None and bytes store NULL and BLOB, as without them."""
    trio.run(idle_kernel, log_path)  # a log exists; write through a kernel
    _query(log_path, "messages", lambda _: {})
    kinds = sql(log_path, "SELECT typeof(topic), typeof(parent), typeof(payload) FROM messages WHERE parent IS NULL LIMIT 1")
    assert [("null", "null", "blob")] == kinds


def test_messages_with_no_outcome_yet_are_found_with_outcome_none(log_path):
    """messages(outcome="none") finds a message still being handled."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Slow)
            await k.spawn(Echo)
            await k.call("echo", Ping(n=1))
            await k.send("slow", Ping(n=60_000))
            await trio.testing.wait_all_tasks_blocked()
            rows = await k.log.messages(outcome="none")
            await k.shutdown(drain=False)
            return rows

    assert [("slow", 60_000)] == payloads(run(main))


def test_messages_filter_by_time_range(log_path):
    """since is inclusive and until exclusive, on the time a message was accepted."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await _traffic(k)
            rows = await k.log.messages()
            middle = rows[2].time
            return (await k.log.messages(since=middle), await k.log.messages(until=middle),
                    await k.log.messages(since=rows[1].time, until=rows[3].time))

    since, until, between = run(main)
    assert [("crashy", -1), ("relay", 10), ("echo", 11)] == payloads(since)
    assert [("echo", 1), ("echo", 2)] == payloads(until)
    assert [("echo", 2), ("crashy", -1)] == payloads(between)


def test_messages_limit_and_newest_first(log_path):
    """limit caps the rows; newest_first returns the latest ones first."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await _traffic(k)
            return await k.log.messages(limit=2), await k.log.messages(limit=2, newest_first=True)

    oldest, newest = run(main)
    assert [("echo", 1), ("echo", 2)] == payloads(oldest)
    assert [("echo", 11), ("relay", 10)] == payloads(newest)


def test_messages_after_id_pages_forward(log_path):
    """after_id returns the messages accepted after the one given."""
    rows = _query(log_path, "messages", lambda everything: {"after_id": everything[2].id})
    assert [("relay", 10), ("echo", 11)] == payloads(rows)


def test_trace_shows_everything_sent_while_handling_a_message(log_path):
    """trace() nests the messages a handler sent, and those their handlers sent, under it."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            for cls in (Echo, Relay, Outer):
                await k.spawn(cls)
            reply = await k.call("outer", Ping(n=1))
            await trio.testing.wait_all_tasks_blocked()
            root = (await k.log.messages(neuro="outer"))[0]
            return reply, await k.log.trace(root.id)

    def shape(node):
        return (node.message.recipient, node.message.kind, [shape(c) for c in node.children])

    reply, trace = run(main)
    assert Pong(n=3) == reply
    assert ("outer", "call", [("echo", "send", []), ("relay", "call", [("echo", "call", [])])]) == shape(trace)
    assert {trace.message.id} == {trace.children[1].children[0].message.correlation}


def test_trace_of_an_unknown_id_is_none(log_path):
    """trace() of an id the log never saw returns None."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            return await k.log.trace(12345)

    assert None is run(main)


def test_events_name_globs_with_a_star(log_path):
    """events(name="kernel.*") matches every kernel event; a name without * matches exactly."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            return await k.log.events(name="kernel.*"), await k.log.events(name="kernel")

    glob, exact = run(main)
    assert ["kernel.started"] == [e.name for e in glob]
    assert [] == exact


def test_events_filter_by_neuro_limit_and_order(log_path):
    """events() filters by neuro and caps and orders like messages()."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            await k.spawn(Echo, name="other")
            return (await k.log.events(neuro="other"), await k.log.events(limit=1),
                    await k.log.events(limit=1, newest_first=True))

    other, first, last = run(main)
    assert {"other"} == {e.neuro for e in other}
    assert ["kernel.started"] == [e.name for e in first]
    assert [("neuro.spawned", "other")] == [(e.name, e.neuro) for e in last]


def test_events_filter_by_time_and_sequence(log_path):
    """events(since=...) keeps what happened from then on, until=... what happened before, after_seq pages."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            await trio.sleep(0.01)
            pivot = time.time()
            await k.spawn(Echo, name="other")
            everything = await k.log.events()
            return (everything, await k.log.events(since=pivot), await k.log.events(until=pivot),
                    await k.log.events(after_seq=everything[0].seq))

    everything, since, until, after = run(main)
    assert {"other"} == {e.neuro for e in since}
    assert everything == until + since
    assert everything[1:] == after


def test_a_refused_message_is_an_event_not_a_message(log_path):
    """A payload refused at the boundary leaves a `message.rejected` event naming the error, and no message row."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            with pytest.raises(neuro.InvalidPayload):
                await k.send("echo", {"n": "one"})

    run(main)
    rejected = read(log_path, "events", name="message.rejected")
    assert [("echo", "client", "InvalidPayload")] == [(e.neuro, e.actor, e.data["error"]) for e in rejected]
    assert [] == read(log_path, "messages")
