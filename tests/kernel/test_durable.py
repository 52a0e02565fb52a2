"""Durable messages and crash recovery: after a SIGKILL every accepted message gets an outcome."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
import trio

import neuro

from .neuros_for_tests import Echo, Ping, Pong, Slow

SCRIPT = textwrap.dedent("""
    import sys, trio, neuro
    sys.path.insert(0, sys.argv[3])
    from neuros_for_tests import Slow, Ping

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
    tests = str(__import__("pathlib").Path(__file__).parent)
    child = subprocess.Popen([sys.executable, str(script), str(path), "load", tests], stdout=subprocess.PIPE, text=True)
    assert "sent" == child.stdout.readline().strip()
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    before = neuro.LogReader(path).outcome_counts()["slow"]
    subprocess.run([sys.executable, str(script), str(path), "again", tests], check=True, timeout=60)
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
