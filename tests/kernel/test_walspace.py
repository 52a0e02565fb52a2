"""The WAL written ahead of SQLite: the writer fills it to its checkpoint size, and a log whose
WAL ends in that filling reads back whole, after a clean close and after a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import trio

import neuro
from neuro.kernel._logschema import CHECKPOINT_PAGES, open_database
from neuro.kernel._walspace import WalSpace
from neuro.testing import Echo, Ping


CHILD = textwrap.dedent("""
    import json, os, sys, time, trio, neuro
    from neuro.testing import Echo, Ping

    async def main(path, target):
        async with neuro.Kernel(log=path, flush_interval=0.005) as k:
            await k.spawn(Echo)
            before = [await k.send("echo", Ping(n=i), durable=True) for i in range(50)]
            with trio.fail_after(30):  # the filling is stuck: fail, and the parent reads no ids
                while os.path.getsize(path + "-wal") < target:
                    await trio.sleep(0.01)
            after = [await k.send("echo", Ping(n=i), durable=True) for i in range(50)]
            print(json.dumps(before + after), flush=True)
            await trio.sleep(60)

    trio.run(main, sys.argv[1], int(sys.argv[2]))
""")


def _target(path) -> int:
    conn = open_database(str(path))
    try:
        return WalSpace(str(path), conn, CHECKPOINT_PAGES).target
    finally:
        conn.close()


def test_fill_writes_zeros_past_the_last_frame_until_the_target(tmp_path):
    path = str(tmp_path / "log.db")
    conn = open_database(path)
    space = WalSpace(path, conn, 100)
    conn.execute("CREATE TABLE t (x)")
    frames_end = os.path.getsize(path + "-wal")
    while not space.done:
        space.fill(conn)
    with open(path + "-wal", "rb") as f:
        f.seek(frames_end)
        tail = f.read()
    assert len(tail) + frames_end >= space.target
    assert tail.count(0) == len(tail)  # zeros only, past SQLite's frames
    with conn:
        conn.execute("INSERT INTO t VALUES (1)")
    space.close()
    other = sqlite3.connect(path)  # reads the WAL from the start, up to its last frame
    assert [(1,)] == other.execute("SELECT x FROM t").fetchall()
    other.close()
    conn.close()


def test_a_killed_kernel_with_a_filled_wal_loses_no_committed_message(tmp_path):
    path = str(tmp_path / "log.db")
    target = _target(tmp_path / "size.db")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), path, str(target)], stdout=subprocess.PIPE,
                             text=True)
    try:
        ids = json.loads(child.stdout.readline())
        assert os.path.getsize(path + "-wal") >= target
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    reader = neuro.LogReader(path)
    assert ("ok",) == reader.db.execute("PRAGMA integrity_check").fetchone()
    assert all(reader.message(mid) is not None for mid in ids)  # acknowledged, so on disk

    async def restart():
        async with neuro.Kernel(log=path) as k:  # recovery redelivers what had no outcome
            await k.spawn(Echo)
            await k.call("echo", Ping(n=0))

    trio.run(restart)
    assert {1} == set(neuro.LogReader(path).outcomes_per_message().values())


def test_sync_flushes_the_wal_and_a_missing_wal_is_no_error(tmp_path):
    path = str(tmp_path / "log.db")
    conn = open_database(path)
    space = WalSpace(path, conn, 10)
    with conn:
        conn.execute("CREATE TABLE t (x)")
    space.sync()
    conn.close()  # the last connection: SQLite checkpoints and deletes the WAL
    space.close()
    gone = WalSpace(path, open_database(str(tmp_path / "other.db")), 10)
    gone.wal_path = str(tmp_path / "missing-wal")
    gone.sync()  # nothing to flush: the next FULL commit does it, as without this
    gone.fill(open_database(str(tmp_path / "third.db")))
    assert gone.done  # no WAL file to write ahead: the log works as before
