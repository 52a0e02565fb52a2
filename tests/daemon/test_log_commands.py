"""`neuro tail -f` following a real daemon's commits, `neuro log vacuum` with and without a
daemon, and `neuro daemon start --log-keep`."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading

import pytest

from neuro.shell import daemon as d

from .conftest import NEURO, neuro_cmd

FOREVER = 30  # seconds: only a hang waits this long


def run_json(*args, home, code=0, env=None):
    done = neuro_cmd(*args, "--json", home=home, env=env)
    assert (code, "") == (done.returncode, done.stderr), done.stdout
    return json.loads(done.stdout)


def forced_flushes(home) -> int:
    """How often readers made the daemon's log writer flush (a statistics request asks for none;
    `daemon status` reads recent errors from the log, which does)."""
    from types import SimpleNamespace

    from neuro.shell._cliutil import Session

    with Session(SimpleNamespace(home=str(home))) as s:
        return s.statistics()["log_forced_flushes"]


class Lines:
    """The stdout lines of a running command, read in a thread, taken with a bound."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)

    def next(self) -> dict:
        return json.loads(self._lines.get(timeout=FOREVER))

    def until(self, text: str) -> list[str]:
        """The lines up to and with the first one that holds `text`."""
        seen = []
        while not seen or text not in seen[-1]:
            seen.append(self._lines.get(timeout=FOREVER))
        return seen

    def left(self) -> list[str]:
        out = []
        while not self._lines.empty():
            out.append(self._lines.get_nowait())
        return out


@pytest.fixture
def tail_f():
    started = []

    def start(*args, home):
        proc = subprocess.Popen([str(NEURO), "tail", "-f", "--json", *args], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "NEURO_HOME": str(home)})
        started.append(proc)
        return Lines(proc)

    yield start
    for proc in started:
        proc.kill()  # only the tails this test started, by their pid
        proc.wait()


def test_tail_f_prints_a_committed_row_without_making_the_writer_flush(daemon, tail_f):
    """`neuro tail -f` prints a new call once the daemon's writer commits it on its own
    schedule: between the first row shown and the next, no reader made the writer flush."""
    home = daemon.home
    run_json("spawn", "neuro.neuros.echo:Echo", home=home)
    run_json("call", "echo", "text=first", home=home)
    lines = tail_f("--neuro", "echo", home=home)
    first = lines.next()
    before = forced_flushes(home)
    run_json("call", "echo", "text=second", home=home)
    second = lines.next()
    after = forced_flushes(home)
    assert ({"text": "first"}, {"text": "second"}) == (first["payload"], second["payload"])
    assert (True, before) == (second["id"] > first["id"], after)


def test_tail_f_of_events_follows_new_events(daemon, tail_f):
    """`neuro tail -f --events` prints an event committed after it started (a spawn)."""
    home = daemon.home
    lines = tail_f("--events", "-n", "1", home=home)
    lines.next()  # the newest event before
    run_json("spawn", "neuro.neuros.counter:Counter", home=home)
    seen = lines.next()
    while seen["name"] != "neuro.spawned":
        seen = lines.next()
    assert ("neuro.spawned", "counter") == (seen["name"], seen["neuro"])


def _some_calls(home, count: int = 5) -> None:
    run_json("spawn", "neuro.neuros.echo:Echo", home=home)
    for i in range(count):
        run_json("call", "echo", f"text=n{i}", home=home)


def test_vacuum_dry_run_through_the_daemon_counts_and_removes_nothing(daemon):
    """With a daemon, `neuro log vacuum --keep 0d --dry-run --json` goes through it, counts the
    calls it would remove, and every one is still in the log after."""
    home = daemon.home
    _some_calls(home)
    before = len(run_json_lines("logs", "--neuro", "echo", home=home))
    report = run_json("log", "vacuum", "--keep", "0d", "--dry-run", home=home)
    after = len(run_json_lines("logs", "--neuro", "echo", home=home))
    assert ("daemon", True, "0d", 5, 5, 5) == (report["via"], report["dry_run"], report["keep"], report["messages"],
                                               before, after)


def test_vacuum_through_the_daemon_prunes_and_says_so_in_an_event(daemon):
    """`neuro log vacuum --keep 0d` removes the handled calls; the log then holds a `log.pruned` event."""
    home = daemon.home
    _some_calls(home)
    report = run_json("log", "vacuum", "--keep", "0d", home=home)
    left = run_json_lines("logs", "--neuro", "echo", home=home)
    events = run_json_lines("logs", "--events", home=home)
    pruned = [e for e in events if e["name"] == "log.pruned"]
    assert ("daemon", 5, []) == (report["via"], report["messages"], left)
    assert [(5, "0d")] == [(e["data"]["messages"], e["data"]["keep"]) for e in pruned]


def test_vacuum_dry_run_without_a_daemon_reads_the_file(daemon):
    """After `neuro daemon stop`, `neuro log vacuum --dry-run --json` works on the log file itself."""
    home = daemon.home
    _some_calls(home)
    d.stop(daemon, grace=10)
    report = run_json("log", "vacuum", "--keep", "0d", "--dry-run", home=home)
    again = run_json("log", "vacuum", "--keep", "0d", "--dry-run", home=home)
    assert ("file", str(daemon.log), True, 5) == (report["via"], report["log"], report["dry_run"], report["messages"])
    assert ({**report, "cutoff": None}) == {**again, "cutoff": None}  # a dry run changed nothing


def test_vacuum_without_a_daemon_prunes_the_file(daemon):
    """Without a daemon, `neuro log vacuum --keep 0d` prunes the file and records `log.pruned` by `cli`."""
    import neuro

    home = daemon.home
    _some_calls(home)
    d.stop(daemon, grace=10)
    report = run_json("log", "vacuum", "--keep", "0d", home=home)
    reader = neuro.LogReader(daemon.log)
    events = reader.events(name="log.pruned")
    assert ("file", 5, [], ["cli"]) == (report["via"], report["messages"], reader.messages(neuro="echo"),
                                        [e.actor for e in events])


def test_vacuum_without_a_policy_keeps_everything_by_default(daemon):
    """With no --keep and no policy, vacuum removes nothing and says that everything is kept."""
    home = daemon.home
    _some_calls(home, 2)
    plain = neuro_cmd("log", "vacuum", home=home)
    report = run_json("log", "vacuum", home=home)
    assert (0, True) == (plain.returncode, "the log keeps everything (the default policy)" in plain.stdout)
    assert ("all", 0) == (report["keep"], report["messages"])


def test_vacuum_of_a_missing_log_says_what_to_give(home):
    """No daemon and no log file: exit 5 (not found), saying to give --log or start the daemon once."""
    done = neuro_cmd("log", "vacuum", "--json", home=home)
    error = json.loads(done.stdout)["error"]
    assert (5, "NotFound", True) == (done.returncode, error["type"], error["message"].startswith("no event log at"))


def test_a_bad_keep_is_a_usage_error(home):
    """`--keep 3x` exits 2 with the forms it takes, for vacuum and for daemon start."""
    vacuum = neuro_cmd("log", "vacuum", "--keep", "3x", home=home)
    start = neuro_cmd("daemon", "start", "--log-keep", "3x", home=home)
    assert (2, 2) == (vacuum.returncode, start.returncode)
    assert "argument --keep: cannot read '3x'; give an age ('30d'" in vacuum.stderr
    assert "argument --log-keep: cannot read '3x'" in start.stderr
    assert d.running_pid(d.State(home)) is None


def test_daemon_start_with_log_keep_applies_that_policy(home):
    """`neuro daemon start --log-keep 30d` runs a daemon whose status names the policy, and
    vacuum without --keep applies it."""
    st = d.State(home)
    try:
        run_json("daemon", "start", "--log-keep", "30d", home=home)
        status = run_json("daemon", "status", home=home)
        report = run_json("log", "vacuum", "--dry-run", home=home)
    finally:
        if d.running_pid(st) is not None:
            d.stop(st, grace=10)
    assert ("30d", "30d", 0) == (status["log_keep"], report["keep"], report["messages"])


def test_the_environment_variable_sets_the_policy_and_a_bad_one_is_refused(home):
    """NEURO_LOG_KEEP=10GB is the daemon's policy; NEURO_LOG_KEEP=lots stops `daemon start`
    with a SettingError naming the variable."""
    st = d.State(home)
    bad = neuro_cmd("daemon", "start", "--json", home=home, env={"NEURO_LOG_KEEP": "lots"})
    try:
        run_json("daemon", "start", home=home, env={"NEURO_LOG_KEEP": "10GB"})
        status = run_json("daemon", "status", home=home)
    finally:
        if d.running_pid(st) is not None:
            d.stop(st, grace=10)
    error = json.loads(bad.stdout)["error"]
    assert (3, "SettingError", True) == (bad.returncode, error["type"],
                                         error["message"].startswith("NEURO_LOG_KEEP: cannot read 'lots'"))
    assert "10GB" == status["log_keep"]


def run_json_lines(*args, home):
    done = neuro_cmd(*args, "--jsonl", "-n", "all", home=home)
    assert (0, "") == (done.returncode, done.stderr), done.stdout
    return [json.loads(line) for line in done.stdout.splitlines()]


# -- issue 19: logs like journalctl, with the daemon and across its runs ----------------------

def test_logs_right_after_a_call_shows_it(daemon):
    """The daemon is asked to commit what it queued first: a call that just returned is the
    newest row of `neuro logs -n 1`, outcome and all."""
    home = daemon.home
    run_json("spawn", "neuro.testing:Echo", home=home)
    for n in range(3):
        reply = run_json("call", "echo", f"n={n}", home=home)
        rows = run_json("logs", "-n", "1", home=home)
        assert ([{"n": n}], ["handled"], [reply["reply"]]) == ([r["payload"] for r in rows],
                                                             [r["outcome"] for r in rows], [r["reply"] for r in rows])


def test_boots_over_two_daemon_runs(daemon):
    """After `neuro daemon restart`, --list-boots shows the first run stopped and the second
    running; --boot -1 is the first run's call, --boot the second's."""
    home = daemon.home
    run_json("spawn", "neuro.testing:Echo", home=home)
    run_json("call", "echo", "n=1", home=home)
    assert 0 == neuro_cmd("daemon", "restart", home=home).returncode
    run_json("spawn", "neuro.testing:Echo", home=home)
    run_json("call", "echo", "n=2", home=home)
    boots = run_json("logs", "--list-boots", home=home)
    before = run_json("logs", "--boot", "-1", home=home)
    now = run_json("logs", "--boot", home=home)
    events = run_json("logs", "--boot", "-1", "--events", "--name", "kernel.*", home=home)
    assert ([-1, 0], ["stopped", "running"], [1, 1]) == (
        [b["boot"] for b in boots], [b["state"] for b in boots], [b["messages"] for b in boots])
    assert ([{"n": 1}], [{"n": 2}]) == ([r["payload"] for r in before], [r["payload"] for r in now])
    assert ["kernel.started", "kernel.stopped"] == [e["name"] for e in events]


@pytest.fixture
def follower():
    started = []

    def start(*args, home):
        proc = subprocess.Popen([str(NEURO), "tail", "-f", *args], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "NEURO_HOME": str(home), "COLUMNS": "200"})
        started.append(proc)
        return Lines(proc)

    yield start
    for proc in started:
        proc.kill()  # only the followers this test started, by their pid
        proc.wait()


def test_follow_says_what_it_follows_and_goes_on_after_a_restart(daemon, follower):
    """`neuro tail -f --neuro echo` (a table) prints a header naming what it follows and the
    daemon's pid, a new call, a line when the daemon stops (kernel.stopped), one when it is back
    after `neuro daemon restart`, and the calls made after it."""
    home = daemon.home
    run_json("spawn", "neuro.testing:Echo", home=home)
    run_json("call", "echo", "n=1", home=home)
    pid = d.running_pid(daemon)
    lines = follower("--neuro", "echo", home=home)
    header = lines.until("-- following")[-1]
    run_json("call", "echo", "n=2", home=home)
    second = lines.until('{"n":2}')
    assert 0 == neuro_cmd("daemon", "restart", home=home).returncode
    stopped = lines.until("kernel.stopped")[-1]
    back = lines.until("a kernel started on the log again")[-1]
    run_json("spawn", "neuro.testing:Echo", home=home)
    run_json("call", "echo", "n=3", home=home)
    third = lines.until('{"n":3}')[-1]
    assert (True, True) == (f"following messages to echo in {daemon.log}" in header, f"pid {pid}," in header)
    assert ("handled", True) == (second[-1].split()[6], "the kernel stopped at" in stopped)
    assert (f"pid {d.running_pid(daemon)}," in back, "handled") == (True, third.split()[6])


def test_follow_says_when_the_daemon_crashed_and_the_log_still_reads(daemon, follower):
    """SIGKILL the daemon while a follower runs: it says the kernel is gone without
    kernel.stopped; then, with no daemon, `neuro logs` reads the file and --list-boots
    shows the run as crashed."""
    import signal

    home = daemon.home
    run_json("spawn", "neuro.testing:Echo", home=home)
    run_json("call", "echo", "n=1", home=home)
    lines = follower("--events", home=home)
    lines.until("-- following")
    os.kill(d.running_pid(daemon), signal.SIGKILL)
    gone = lines.until("gone without kernel.stopped")[-1]
    rows = run_json("logs", home=home)
    boots = run_json("logs", "--list-boots", home=home)
    assert (True, [{"n": 1}], ["crashed"]) == ("it crashed" in gone, [r["payload"] for r in rows],
                                               [b["state"] for b in boots])
