"""`neuro logs`, `tail` and `trace` without a daemon: a log file two real embedded kernel runs
wrote, read through the real `neuro` command in a subprocess (`--log PATH`, or
$NEURO_HOME/log.db when no daemon runs there)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import time

import pytest
import trio

import neuro
from neuro.testing import Crashy, Echo, Ping

from .conftest import neuro_cmd

FIRST, SECOND = 120, 5  # echo calls in the first run and in the second


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A log of two kernel runs: 120 echo calls and one failing crashy call, then 5 echo
    calls; `mid` is a moment between the first 60 calls and the rest."""
    folder = tmp_path_factory.mktemp("logs")
    path = folder / "run.db"
    marks = {}

    async def first() -> None:
        async with neuro.Kernel(log=str(path)) as k:
            await k.spawn(Echo)
            await k.spawn(Crashy)
            for i in range(FIRST):
                if i == FIRST // 2:
                    await trio.sleep(0.05)
                    marks["mid"] = time.time()
                    await trio.sleep(0.05)
                await k.call("echo", Ping(n=i))
            with pytest.raises(neuro.RemoteError):
                await k.call("crashy", Ping(n=-7))

    async def second() -> None:
        async with neuro.Kernel(log=str(path)) as k:
            await k.spawn(Echo)
            for i in range(SECOND):
                await k.call("echo", Ping(n=1000 + i))

    trio.run(first)
    trio.run(second)
    with neuro.LogReader(str(path)) as log:
        marks["all"] = [m.id for m in log.messages(limit=None)]
        marks["payloads"] = {m.id: m.payload for m in log.messages(limit=None)}
    return path, marks


@pytest.fixture
def empty_home(tmp_path):
    home = tmp_path / "home"  # no daemon and no log here
    home.mkdir()
    return home


def logs(path, *args, home, command="logs", code=0):
    done = neuro_cmd(command, "--log", path, *args, "--json", home=home)
    assert (code, "") == (done.returncode, done.stderr), done.stdout
    return json.loads(done.stdout)


def test_the_default_is_the_newest_100_oldest_of_them_first(written, empty_home):
    """`neuro logs` shows the newest 100 messages, in the order they came; `tail`, the newest 10."""
    path, marks = written
    rows = logs(path, home=empty_home)
    tail = logs(path, home=empty_home, command="tail")
    assert (marks["all"][-100:], marks["all"][-10:]) == ([r["id"] for r in rows], [r["id"] for r in tail])


def test_n_all_and_reverse(written, empty_home):
    """-n 5 shows the newest five, -n all every message, -r newest first."""
    path, marks = written
    five = [r["id"] for r in logs(path, "-n", "5", home=empty_home)]
    every = [r["id"] for r in logs(path, "-n", "all", home=empty_home)]
    backwards = [r["id"] for r in logs(path, "-n", "5", "-r", home=empty_home)]
    assert (marks["all"][-5:], marks["all"], marks["all"][-5:][::-1]) == (five, every, backwards)


def test_since_and_until_take_dates_words_and_ages(written, empty_home):
    """--until and --since with an ISO local time split the log where it was written;
    `yesterday` and `1h` ages include everything, `--until yesterday` nothing; journalctl's
    `2 hours ago` and `10 min ago` read as ages too."""
    path, marks = written
    iso = dt.datetime.fromtimestamp(marks["mid"]).isoformat()
    before = logs(path, "--until", iso, "-n", "all", "--neuro", "echo", home=empty_home)
    after = logs(path, "--since", iso, "-n", "all", "--neuro", "echo", home=empty_home)
    assert (list(range(FIRST // 2)), [*range(FIRST // 2, FIRST), *range(1000, 1000 + SECOND)]) == (
        [r["payload"]["n"] for r in before], [r["payload"]["n"] for r in after])
    everything = len(marks["all"])
    counts = [len(logs(path, *when, "-n", "all", home=empty_home))
              for when in (("--since", "yesterday"), ("--since", "1h"), ("--until", "yesterday"),
                           ("--since", "1h ago", "--until", "tomorrow"), ("--since", "2 hours ago"),
                           ("--until", "10 min ago"))]
    assert [everything, everything, 0, everything, everything, 0] == counts


def test_a_bad_date_is_a_usage_error_saying_the_forms(empty_home, written):
    done = neuro_cmd("logs", "--log", written[0], "--since", "last tuesday", home=empty_home)
    assert (2, True) == (done.returncode, "give an age (30s, 5m, 2h, 1d), today, yesterday" in done.stderr)


def test_grep_searches_payloads_and_errors(written, empty_home):
    """--grep is a regex over the payload (as JSON) and the error; -i ignores case."""
    path, _ = written
    second = logs(path, "--grep", r'"n":100[0-4]\b', "-n", "all", home=empty_home)
    error = logs(path, "--grep", "negative: -7", home=empty_home)
    upper = logs(path, "--grep", "VALUEERROR", home=empty_home)
    ignoring = logs(path, "--grep", "VALUEERROR", "-i", home=empty_home)
    assert list(range(1000, 1000 + SECOND)) == [r["payload"]["n"] for r in second]
    assert ([("crashy", "ValueError")], [], ["crashy"]) == (
        [(r["recipient"], r["error"]["type"]) for r in error], upper, [r["recipient"] for r in ignoring])


def test_a_bad_regex_is_a_usage_error(written, empty_home):
    done = neuro_cmd("logs", "--log", written[0], "--grep", "(", "--json", home=empty_home)
    error = json.loads(done.stdout)["error"]
    assert (2, "UsageError", True) == (done.returncode, error["type"], "is not a regular expression" in error["message"])


def test_boots_list_and_select_the_kernel_runs(written, empty_home):
    """--list-boots shows both runs (stopped cleanly, with their message counts); --boot -1 and
    --boot 1 are the first run, --boot alone the last; --boot -2 does not exist (exit 5)."""
    path, marks = written
    boots = logs(path, "--list-boots", home=empty_home)
    previous = [r["id"] for r in logs(path, "--boot", "-1", "-n", "all", home=empty_home)]
    first = [r["id"] for r in logs(path, "--boot", "1", "-n", "all", home=empty_home)]
    last = [r["id"] for r in logs(path, "--boot", "-n", "all", home=empty_home)]
    missing = neuro_cmd("logs", "--log", path, "--boot", "-2", "--json", home=empty_home)
    assert ([-1, 0], ["stopped", "stopped"], [FIRST + 1, SECOND]) == (
        [b["boot"] for b in boots], [b["state"] for b in boots], [b["messages"] for b in boots])
    assert (marks["all"][:FIRST + 1], marks["all"][:FIRST + 1], marks["all"][FIRST + 1:]) == (previous, first, last)
    assert (5, "NotFound") == (missing.returncode, json.loads(missing.stdout)["error"]["type"])


def test_filters_apply_to_events_or_say_they_do_not(written, empty_home):
    """--neuro, --name and --boot filter events; --kind (a message filter) with --events, and
    --name without it, are usage errors that say why."""
    path, _ = written
    crashy = logs(path, "--events", "--neuro", "crashy", "-n", "all", home=empty_home)
    kernel = logs(path, "--events", "--name", "kernel.*", "-n", "all", home=empty_home)
    last_run = logs(path, "--events", "--boot", "--name", "kernel.*", "-n", "all", home=empty_home)
    kind = neuro_cmd("logs", "--log", path, "--events", "--kind", "call", home=empty_home)
    name = neuro_cmd("logs", "--log", path, "--name", "kernel.*", home=empty_home)
    assert ({"crashy"}, True) == ({e["neuro"] for e in crashy}, "neuro.spawned" in {e["name"] for e in crashy})
    assert ["kernel.started", "kernel.stopped"] * 2 == [e["name"] for e in kernel]
    assert ["kernel.started", "kernel.stopped"] == [e["name"] for e in last_run]
    assert (2, True) == (kind.returncode, "--kind filters messages; events have no kind" in kind.stderr)
    assert (2, True) == (name.returncode, "--name filters events by name" in name.stderr)


def test_without_log_it_reads_the_homes_file_when_no_daemon_runs(written, empty_home):
    """No --log and no daemon: $NEURO_HOME/log.db is read, as it was left (after a crash too)."""
    path, marks = written
    shutil.copy(path, empty_home / "log.db")
    done = neuro_cmd("tail", "-n", "3", "--json", home=empty_home)
    assert (0, marks["all"][-3:]) == (done.returncode, [r["id"] for r in json.loads(done.stdout)])


def test_a_missing_or_foreign_file_says_what_to_give(tmp_path, empty_home):
    """No file: exit 5 (NotFound); a SQLite file that is no log: exit 3, saying so."""
    missing = neuro_cmd("logs", "--log", tmp_path / "nope.db", "--json", home=empty_home)
    foreign = tmp_path / "other.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    other = neuro_cmd("logs", "--log", foreign, "--json", home=empty_home)
    errors = [json.loads(d.stdout)["error"] for d in (missing, other)]
    assert ([5, 3], ["NotFound", "LogError"]) == ([missing.returncode, other.returncode], [e["type"] for e in errors])
    assert (True, True) == (errors[0]["message"].startswith("no event log at"),
                            "is a SQLite file but not an event log" in errors[1]["message"])


def test_csv_quiet_and_table_show_the_same_rows(written, empty_home):
    """-q prints the ids, --csv a header and a row each, the table the JSON's key names."""
    path, marks = written
    quiet = neuro_cmd("logs", "--log", path, "-n", "4", "-q", home=empty_home).stdout.split()
    csv = neuro_cmd("logs", "--log", path, "-n", "4", "--csv", home=empty_home).stdout.splitlines()
    table = neuro_cmd("logs", "--log", path, "-n", "4", home=empty_home).stdout.splitlines()
    assert [str(i) for i in marks["all"][-4:]] == quiet
    assert ("id,time,kind,sender,recipient,outcome,reason,payload", [q for q in quiet]) == (
        csv[0], [line.split(",")[0] for line in csv[1:]])
    assert (["id", "time", "kind", "sender", "recipient", "outcome", "reason", "payload"], 6) == (
        table[0].split(), len(table))


def test_trace_reads_the_file_without_a_daemon(written, empty_home):
    """`neuro trace ID --log PATH` shows the message and its outcome from the file."""
    path, marks = written
    node = logs(path, str(marks["all"][0]), home=empty_home, command="trace")
    assert (marks["all"][0], "handled", {"n": 0}) == (node["message"]["id"], node["message"]["outcome"],
                                                     node["message"]["payload"])


def test_trace_of_an_id_not_in_the_log_is_not_found(written, empty_home):
    done = neuro_cmd("trace", "--log", written[0], "12345", "--json", home=empty_home)
    assert (5, "NotFound") == (done.returncode, json.loads(done.stdout)["error"]["type"])


def test_a_schema_3_log_is_read_as_it_is_and_boots_say_what_it_lacks(tmp_path, empty_home):
    """A log Neuro wrote at schema 3 (tests/kernel/data) lists, and is left byte for byte as it
    was; --boot and --list-boots exit 3 saying it has no runs table and how to get one."""
    from pathlib import Path

    fixture = Path(__file__).parents[1] / "kernel" / "data" / "log_schema3.db"
    path = tmp_path / "old.db"
    shutil.copy(fixture, path)
    rows = logs(path, "-n", "all", home=empty_home)
    boots = neuro_cmd("logs", "--log", path, "--list-boots", "--json", home=empty_home)
    error = json.loads(boots.stdout)["error"]
    with neuro.LogReader(str(fixture)) as log:
        expected = [m.id for m in log.messages(limit=None)]
    assert (expected, [None] * len(rows)) == ([r["id"] for r in rows], [r["version"] for r in rows])
    assert (3, True, path.read_bytes()) == (boots.returncode, "has no runs table" in error["message"],
                                            fixture.read_bytes())


def test_log_reader_runs_are_the_boots_the_cli_lists(written, empty_home):
    """`LogReader.runs()` (the Python API) and `neuro logs --list-boots` show the same runs."""
    path, _ = written
    boots = logs(path, "--list-boots", home=empty_home)
    with neuro.LogReader(str(path)) as log:
        runs = log.runs()
    assert [(r["id"], r["pid"], r["started"], r["closed"]) for r in runs] == [
        (b["id"], b["pid"], b["started"], b["stopped"]) for b in boots]
    assert 2 == len(runs)


def test_a_narrow_table_cuts_reasons_and_payloads_never_ids(written, empty_home):
    """With COLUMNS=100 every line fits and each row keeps its whole id and time; the error's
    reason is what is cut."""
    path, marks = written
    done = neuro_cmd("logs", "--log", path, "--grep", "negative", "-n", "1", home=empty_home, env={"COLUMNS": "100"})
    lines = done.stdout.splitlines()
    assert ([True] * 3, str(marks["all"][FIRST]), True) == (
        [len(line) <= 100 for line in lines], lines[2].split()[0], "…" in lines[2])
