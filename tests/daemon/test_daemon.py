"""`neuro daemon start|stop|status|restart` as real subprocesses, and crash recovery."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess

import pytest

from neuro.shell import daemon as d
from neuro.client import blocking, run_blocking

from .conftest import PYTHON, REPO, neuro_cmd, wait_until


def test_start_then_status_then_stop(home):
    """start exits 0, status says running with the pid, stop exits 0 and leaves no pid file or socket."""
    started = neuro_cmd("daemon", "start", "--json", home=home)
    import json

    pid = json.loads(started.stdout)["pid"]
    status = neuro_cmd("daemon", "status", "--json", home=home)
    stopped = neuro_cmd("daemon", "stop", "--json", home=home)
    st = d.State(home)
    assert (0, 0, pid, 0, "socket", False, False) == (
        started.returncode, status.returncode, json.loads(status.stdout)["pid"], stopped.returncode,
        json.loads(stopped.stdout)["stopped_by"], st.pid_file.exists(), st.socket.exists())


def test_a_second_start_says_one_is_running(daemon):
    """A second `daemon start` exits 1 naming the running pid."""
    pid = d.running_pid(daemon)
    done = neuro_cmd("daemon", "start", home=daemon.home)
    assert (1, f"a daemon is already running (pid {pid}") == (done.returncode, done.stderr.split(", socket")[0].split("error: ")[1])


def test_status_and_stop_without_a_daemon_exit_4(home):
    """With no daemon, `daemon status` and `daemon stop` exit 4 and say how to start one."""
    status = neuro_cmd("daemon", "status", home=home)
    stop = neuro_cmd("daemon", "stop", home=home)
    assert (4, 4, True) == (status.returncode, stop.returncode, "neuro daemon start" in status.stderr)


def test_a_stale_pid_file_does_not_count_as_running(home):
    """A pid file left by a killed daemon (its lock free) is stale: start succeeds."""
    st = d.State(home)
    os.makedirs(home, exist_ok=True)
    st.pid_file.write_text("999999\n")
    st.lock_file.write_text("")
    pid = d.start(st)
    try:
        assert (pid, True) == (int(st.pid_file.read_text()), True)
    finally:
        d.stop(st)


def test_the_state_folder_holds_socket_pid_lock_log_and_output(daemon):
    """The state folder has control.sock (0600), daemon.pid, daemon.lock, log.db and daemon.out."""
    names = sorted(p.name for p in daemon.home.iterdir() if p.name in
                   {"control.sock", "daemon.pid", "daemon.lock", "log.db", "daemon.out"})
    assert (["control.sock", "daemon.lock", "daemon.out", "daemon.pid", "log.db"], 0o600) == (
        names, os.stat(daemon.socket).st_mode & 0o777)


def test_restart_replaces_the_daemon(daemon):
    """`daemon restart` stops the running daemon and starts a new one with another pid."""
    before = d.running_pid(daemon)
    done = neuro_cmd("daemon", "restart", "--json", home=daemon.home)
    import json

    assert (0, True) == (done.returncode, json.loads(done.stdout)["pid"] != before)


def test_stop_falls_back_to_sigkill_when_nothing_else_works(daemon):
    """A daemon that ignores the socket and SIGTERM (stopped with SIGSTOP) is killed with SIGKILL."""
    pid = d.running_pid(daemon)
    os.kill(pid, signal.SIGSTOP)
    try:
        done = d.stop(daemon, grace=0.5, term_wait=0.5)
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert ("SIGKILL", None) == (done["stopped_by"], d.running_pid(daemon))


LOAD = """
import sys, trio
from neuro.client import connect
async def main():
    async with connect(sys.argv[1]) as client:
        i = 0
        while True:
            await client.send("counter", {"type": "add", "key": "k"}, durable=i % 2 == 0)
            i += 1
            if i == 50:
                print("loaded", flush=True)
trio.run(main)
"""


def unfinished(log) -> tuple[int, str]:
    db = sqlite3.connect(log)
    try:
        missing = db.execute("SELECT COUNT(*) FROM messages m LEFT JOIN outcomes o ON o.id = m.id "
                             "WHERE o.id IS NULL").fetchone()[0]
        return missing, db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def durable_without_outcome(log) -> int:
    db = sqlite3.connect(log)
    try:
        return db.execute("SELECT COUNT(*) FROM messages m LEFT JOIN outcomes o ON o.id = m.id "
                          "WHERE o.id IS NULL AND m.durable = 1").fetchone()[0]
    finally:
        db.close()


def test_sigkill_under_load_then_restart_leaves_every_message_an_outcome(daemon):
    """Three times: load, SIGKILL, restart, respawn; then every logged message has an outcome and the log is ok."""
    for cycle in range(3):
        client = blocking(str(daemon.socket), timeout=10)
        run_blocking(client.__aenter__())
        if "counter" not in [p["name"] for p in run_blocking(client.ps())]:
            run_blocking(client.spawn("neuro.neuros.counter:Counter"))
        run_blocking(client.__aexit__(None, None, None))
        load = subprocess.Popen([str(PYTHON), "-c", LOAD, str(daemon.socket)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, cwd=REPO)
        assert "loaded" == load.stdout.readline().strip()
        os.kill(d.running_pid(daemon), signal.SIGKILL)
        load.wait(10)
        assert wait_until(lambda: d.running_pid(daemon) is None, 10)
        d.start(daemon)
    # The last kill left these durable sends without an outcome: the restarted daemon holds
    # them back until counter is spawned again, then hands each to it exactly once.
    pending = durable_without_outcome(daemon.log)
    client = blocking(str(daemon.socket), timeout=10)
    run_blocking(client.__aenter__())
    run_blocking(client.spawn("neuro.neuros.counter:Counter"))  # durable ones are redelivered to it
    total = run_blocking(client.call("counter", {"type": "get", "key": "k"}))["total"]
    run_blocking(client.__aexit__(None, None, None))
    d.stop(daemon)
    assert ((0, "ok"), pending) == (unfinished(daemon.log), total)
