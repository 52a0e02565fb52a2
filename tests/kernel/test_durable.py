"""Durable messages and crash recovery: after a SIGKILL every accepted message gets an outcome."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
import trio

import neuro
from neuro.testing import Echo, Ping, Pong


SCRIPT = textwrap.dedent("""
    import sys, trio, neuro
    from neuro.testing import Slow, Ping

    async def main(path, mode):
        async with neuro.Kernel(log=path) as k:
            await k.spawn(Slow)
            if mode == "load":
                for i in range(100):
                    await k.send("slow", Ping(n=5), durable=(i % 2 == 0))
                print("sent", flush=True)
                await trio.sleep(60)
            else:
                while k.info("slow").mailbox or k.info("slow").in_flight:
                    await trio.sleep(0.01)

    trio.run(main, sys.argv[1], sys.argv[2])
""")


def test_a_durable_send_is_on_disk_when_it_returns(log_path):
    """A durable send returns after its row is committed, and the message is then served."""

    async def main():
        async with neuro.Kernel(log=log_path, flush_interval=5.0) as k:
            await k.spawn(Echo)
            mid = await k.send("echo", Ping(n=1), durable=True)
            on_disk = neuro.LogReader(log_path).message(mid)
            reply = await k.call("echo", Ping(n=2), durable=True)
            return on_disk, reply

    on_disk, reply = trio.run(main)
    assert {"n": 1} == on_disk.payload
    assert Pong(n=2) == reply


def test_durable_messages_need_the_log():
    """Without an event log, a durable send is refused with what to do."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            with pytest.raises(neuro.NeuroError, match="durable messages need the event log"):
                await k.send("echo", Ping(n=1), durable=True)

    trio.run(main)


def test_after_sigkill_durable_messages_are_redelivered_and_the_rest_dead_lettered(tmp_path):
    """Killing the kernel mid-load, then starting it again, leaves no message without an outcome."""
    path = tmp_path / "crash.db"
    script = tmp_path / "kernel.py"
    script.write_text(SCRIPT)
    child = subprocess.Popen([sys.executable, str(script), str(path), "load"], stdout=subprocess.PIPE, text=True)
    assert "sent" == child.stdout.readline().strip()
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    before = neuro.LogReader(path).outcome_counts()["slow"]
    subprocess.run([sys.executable, str(script), str(path), "again"], check=True, timeout=60)
    reader = neuro.LogReader(path)
    after = reader.outcome_counts()["slow"]
    reasons = {r.reason for r in reader.messages(neuro="slow", outcome="dead", limit=None)}
    assert before.get("none", 0) > 0
    assert {1} == set(reader.outcomes_per_message().values())
    assert "none" not in after
    assert {"kernel restarted"} == reasons
    assert ("ok",) == reader.db.execute("PRAGMA integrity_check").fetchone()


def test_a_failed_log_writer_fails_durable_senders_instead_of_leaving_them_waiting(log_path, monkeypatch):
    """Disk full (say) stops the writer: the durable send waiting for its commit, and every one
    after it, gets LogError at once; none hangs, and nothing uncommitted is delivered."""
    from neuro.kernel._eventlog import EventLog

    def disk_full(self, conn, durable):
        raise sqlite3.OperationalError("database or disk is full")

    seen: dict = {}

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            monkeypatch.setattr(EventLog, "_commit_durable", disk_full)
            monkeypatch.setattr(EventLog, "commit_durable_now", lambda *_: False)  # the writer's path
            errors = []
            with trio.fail_after(5):
                for _ in range(2):
                    try:
                        await k.send("echo", Ping(n=1), durable=True)
                    except neuro.LogError as e:
                        errors.append(str(e))
                await trio.sleep(0.05)
            seen.update(errors=errors, handled=k.info("echo").handled)

    with pytest.raises(neuro.LogError, match="disk is full"):  # closing says the writer failed too
        trio.run(main)
    assert 2 == len(seen["errors"])
    assert "not committed" in seen["errors"][0] and "disk is full" in seen["errors"][0]
    assert 0 == seen["handled"]


def _durable_statistics(k) -> tuple[int, int]:
    stats = k._eventlog.statistics()
    return stats["durable_commits_on_loop"], stats["durable_group_commits"]


@pytest.fixture
def any_disk_is_fast(monkeypatch):
    """A loaded CI machine can make one fsync take past the slow-disk guard's threshold, which
    would hand the next commits to the writer; tests of the loop's own path turn the guard off
    (the guard has its own test, with a disk made slow on purpose)."""
    from neuro.kernel import _eventlog

    monkeypatch.setattr(_eventlog, "_SLOW_COMMIT_S", 3600.0)


def test_a_lone_durable_sender_is_committed_on_the_event_loop(log_path, any_disk_is_fast):
    """With nothing else to run, the loop commits the row itself (no hand-off to the writer):
    on disk when the send returns, delivered once."""

    async def main():
        async with neuro.Kernel(log=log_path, flush_interval=5.0) as k:
            await k.spawn(Echo)
            ids = [await k.send("echo", Ping(n=i), durable=True) for i in range(3)]
            on_disk = [neuro.LogReader(log_path).message(mid).payload for mid in ids]
            while k.info("echo").handled < 3:
                await trio.sleep(0.01)
            full = k._eventlog._now.execute("PRAGMA synchronous").fetchone()[0]
            return on_disk, _durable_statistics(k), k.info("echo").handled, full

    on_disk, (on_loop, groups), handled, full = trio.run(main)
    assert [{"n": 0}, {"n": 1}, {"n": 2}] == on_disk
    assert (3, 0) == (on_loop, groups)
    assert 3 == handled
    assert 2 == full  # synchronous=FULL: the fsync is what makes it durable


def test_after_a_slow_commit_on_the_loop_the_writer_waits_for_the_disk(log_path, monkeypatch):
    """A commit on the event loop that took too long (a slow or network disk) hands the next
    durable messages to the writer thread for a while: the loop must not stall on the disk."""
    from neuro.kernel import _eventlog

    monkeypatch.setattr(_eventlog, "_SLOW_COMMIT_S", 0.0)  # every commit counts as slow

    async def main():
        async with neuro.Kernel(log=log_path, flush_interval=5.0) as k:
            await k.spawn(Echo)
            for i in range(3):
                await k.send("echo", Ping(n=i), durable=True)
            return _durable_statistics(k)

    assert (1, 2) == trio.run(main)


def test_the_slow_disk_pause_starts_short_doubles_while_slow_and_ends_on_a_fast_commit(log_path, monkeypatch):
    """One slow fsync (often a neighbour's burst) pauses the loop's own commits briefly; each
    slow commit in a row after a pause doubles it, up to the longest; a fast one ends it."""
    from neuro.kernel import _eventlog

    monkeypatch.setattr(_eventlog, "_SLOW_COMMIT_S", 0.0)  # every commit counts as slow

    async def main():
        async with neuro.Kernel(log=log_path, flush_interval=5.0) as k:
            await k.spawn(Echo)
            log = k._eventlog
            pauses = []
            for i in range(8):
                log._inline_after = 0.0  # the pause is over: the next commit tries the disk again
                await trio.sleep(0.01)  # the echo has handled the last one: nothing else to run
                await k.send("echo", Ping(n=i), durable=True)
                pauses.append(log._slow_pause)
            paused_until = log._inline_after
            monkeypatch.setattr(_eventlog, "_SLOW_COMMIT_S", 3600.0)  # the disk is fast again
            log._inline_after = 0.0
            await trio.sleep(0.01)
            await k.send("echo", Ping(n=8), durable=True)
            return pauses, paused_until, log._slow_pause, log._inline_after, _durable_statistics(k)

    pauses, paused_until, after_fast, inline_after, (on_loop, groups) = trio.run(main)
    first = _eventlog._FIRST_SLOW_PAUSE_S
    assert [min(first * 2 ** i, _eventlog._SLOW_PAUSE_S) for i in range(8)] == pauses
    assert paused_until > 0.0
    assert 0.0 == after_fast and 0.0 == inline_after
    assert (9, 0) == (on_loop, groups)


def test_concurrent_durable_senders_share_group_commits(log_path):
    """Senders that arrive together go to the writer, which commits them in groups; every
    message is on disk when its send returns, and handled once."""
    count = 50

    async def main():
        async with neuro.Kernel(log=log_path, flush_interval=5.0) as k:
            await k.spawn(Echo)
            ids: list[int] = []

            async def one(i: int) -> None:
                ids.append(await k.send("echo", Ping(n=i), durable=True))
                assert neuro.LogReader(log_path).message(ids[-1]) is not None

            async with trio.open_nursery() as nursery:
                for i in range(count):
                    nursery.start_soon(one, i)
            while k.info("echo").handled < count:
                await trio.sleep(0.01)
            return ids, _durable_statistics(k), k.info("echo").handled

    ids, (on_loop, groups), handled = trio.run(main)
    assert count == len(set(ids)) == handled
    assert on_loop < count and 0 < groups < (count - on_loop) // 2  # groups of more than one
    reader = neuro.LogReader(log_path)
    assert count == reader.db.execute("SELECT count(*) FROM messages WHERE durable = 1").fetchone()[0]


def test_a_failed_commit_on_the_loop_fails_that_send_and_loses_nothing_else(log_path, any_disk_is_fast):
    """SQLite says the disk is full (a page limit makes it so): that sender gets LogError,
    its message is not delivered, the kernel goes on, and durable sends work again after."""

    from neuro.neuros.echo import Echo as TextEcho

    async def main():
        async with neuro.Kernel(log=log_path, flush_interval=5.0) as k:
            await k.spawn(TextEcho)
            await k.send("echo", {"text": "first"}, durable=True)  # opens the loop's connection
            now = k._eventlog._now
            pages = now.execute("PRAGMA page_count").fetchone()[0]
            now.execute(f"PRAGMA max_page_count={pages}")
            with pytest.raises(neuro.LogError, match="was not committed .*full"):
                await k.send("echo", {"text": "x" * 200_000}, durable=True)
            now.execute("PRAGMA max_page_count=1073741823")
            mid = await k.send("echo", {"text": "after"}, durable=True)
            while k.info("echo").handled < 2:
                await trio.sleep(0.01)
            await trio.sleep(0.05)
            return mid, k.info("echo").handled

    mid, handled = trio.run(main)
    assert handled == 2  # "first" and "after"; the refused one never reached it
    reader = neuro.LogReader(log_path)
    assert {"text": "after"} == reader.message(mid).payload
    assert reader.db.execute("SELECT count(*) FROM messages WHERE durable = 1").fetchone()[0] == 2


def test_while_another_process_writes_the_log_durable_sends_wait_for_the_writer(log_path):
    """Another connection holds the log's write lock: the loop does not wait on it (it would
    stall every neuro); the send goes to the writer thread, which waits for the lock."""

    async def main():
        async with neuro.Kernel(log=log_path, flush_interval=5.0) as k:
            await k.spawn(Echo)
            other = sqlite3.connect(log_path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            done = trio.Event()

            async def send() -> None:
                await k.send("echo", Ping(n=1), durable=True)
                done.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                await trio.sleep(0.3)
                waited = not done.is_set()
                other.execute("ROLLBACK")
                other.close()
            return waited, _durable_statistics(k)

    waited, (on_loop, groups) = trio.run(main)
    assert waited
    assert (0, 1) == (on_loop, groups)


@pytest.mark.parametrize("durable_recently", [True, False])
def test_while_durable_senders_are_about_the_writer_works_in_small_pieces(log_path, monkeypatch, durable_recently):
    """After a durable commit the writer inserts 64 rows a statement and lets the CPU go
    between statements; otherwise a batch of 500 goes in one."""
    import time as _time

    from neuro.kernel import _eventlog, _logschema
    from neuro.kernel._envelope import Envelope

    log = _eventlog.EventLog(log_path)
    conn = log._conn = _logschema.open_database(log_path)
    if durable_recently:
        log._last_durable = _time.monotonic()
    for i in range(500):
        log.append_message(Envelope(id=i + 1, time=1.0, sender="s", recipient="r", kind="send", payload=None,
                                    correlation=i + 1), b"{}")
    yields = []
    monkeypatch.setattr(_eventlog, "_yield_cpu", lambda: yields.append(1))
    assert log._write_pass(conn, True)
    assert (500 // 64 if durable_recently else 0) == len(yields)
    assert 500 == conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    conn.close()


def test_a_start_after_a_clean_close_reads_only_the_durable_messages_index(log_path):
    """Each kernel's run is recorded with its close; the next start then finds unfinished
    messages through the durable index (not a scan of every message), and still finds them."""
    from neuro.kernel._logschema import open_database
    from neuro.kernel._recovery import recover

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            await k.call("echo", Ping(n=1))
            await k.stop("echo")

    trio.run(main)
    conn = open_database(str(log_path))
    try:
        runs = conn.execute("SELECT pid, closed IS NOT NULL FROM runs").fetchall()
        plan = " ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT m.id FROM messages m LEFT JOIN outcomes o ON o.id = m.id "
            "WHERE m.durable = 1 AND o.id IS NULL ORDER BY m.id"))
        # A durable message left without an outcome (as a neuro never spawned again leaves it).
        conn.execute("INSERT INTO messages (id, time, sender, recipient, kind, correlation, payload, durable) "
                     "VALUES (7, 0, 'client', 'gone', 'send', 7, x'80', 1)")
        conn.commit()
        dead, durable = recover(conn)
    finally:
        conn.close()
    assert ([(os.getpid(), 1)], True, 0, [7]) == (
        runs, "USING INDEX messages_durable" in plan, dead, [u.id for u in durable["gone"]])


def test_after_a_kernel_that_did_not_close_every_unfinished_message_gets_its_outcome(log_path):
    """A run with no close time (it crashed) makes the next start look at every message."""
    from neuro.kernel._logschema import open_database
    from neuro.kernel._recovery import recover, start_run

    conn = open_database(str(log_path))
    try:
        start_run(conn)  # and never end_run: a crash
        conn.execute("INSERT INTO messages (id, time, sender, recipient, kind, correlation, payload, durable) "
                     "VALUES (5, 0, 'client', 'echo', 'call', 5, x'80', 0)")
        conn.commit()
        dead, durable = recover(conn)
        outcome = conn.execute("SELECT outcome, reason FROM outcomes WHERE id = 5").fetchone()
    finally:
        conn.close()
    assert (1, {}, ("dead", "kernel restarted")) == (dead, durable, outcome)
