"""`neuro ps --watch`: a refreshing table with each neuro's CPU and memory (from a sandbox's
cgroup or its worker's /proc; "-" for a neuro in the daemon's process), redrawn like `watch`
on a terminal; plain `neuro ps` keeps its columns."""

from __future__ import annotations

import json
import shutil

import pytest

from .conftest import in_pty, neuro_cmd

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@pytest.fixture
def two(daemon):
    """A daemon running echo (in its process) and, where bubblewrap is, boxed-echo (in a process sandbox)."""
    for spec in ("neuro.testing:Echo", "neuro.testing:BoxedEcho")[:2 if shutil.which("bwrap") else 1]:
        done = neuro_cmd("spawn", spec, home=daemon.home)
        assert 0 == done.returncode, done.stderr
    return daemon.home


@needs_bwrap
def test_watch_json_has_cpu_and_memory_of_the_sandboxed_neuro_only(two):
    """--json --count 2: one list a redraw; the second has boxed-echo's CPU % and memory, echo's None."""
    done = neuro_cmd("ps", "--watch", "--count", "2", "--interval", "0.3", "--json", home=two)
    frames = [{row["name"]: row for row in json.loads(line)} for line in done.stdout.splitlines()]
    first, second = frames
    boxed, echo = second["boxed-echo"], second["echo"]
    assert (0, 2, None, True, True, None, None) == (
        done.returncode, len(frames), first["boxed-echo"]["cpu_percent"], isinstance(boxed["cpu_percent"], float),
        boxed["memory"] > 0, echo["cpu_percent"], echo["memory"])


def test_watch_on_a_terminal_clears_and_redraws(two):
    """On a terminal each redraw clears the screen and prints a header and the table."""
    code, terminal, _ = in_pty("ps", "--watch", "--count", "2", "--interval", "0.2", home=two, stream="stdout")
    assert (0, 2, 2, True) == (code, terminal.count("\x1b[H\x1b[2J"), terminal.count("Every 0.2s: neuro ps"),
                               "cpu_percent" in terminal and "memory" in terminal)


def test_watch_on_a_pipe_prints_tables_without_escapes(two):
    """On a pipe: the tables one after another, no terminal codes; an inproc neuro's CPU is "-"."""
    done = neuro_cmd("ps", "--watch", "--count", "2", "--interval", "0.2", home=two)
    echo = [line.split() for line in done.stdout.splitlines() if line.split()[1:2] == ["echo"]]
    assert (0, False, 2, [["-", "-"]] * 2) == (done.returncode, "\x1b[" in done.stdout, len(echo),
                                               [row[4:6] for row in echo])


def test_plain_ps_keeps_its_columns(two):
    """`neuro ps` (the lean path) has no CPU or memory columns: --watch adds them."""
    done = neuro_cmd("ps", home=two)
    header = done.stdout.splitlines()[0].split()
    assert (0, "cpu_percent" in header, header[:3]) == (done.returncode, False, ["pid", "name", "state"])


@pytest.mark.parametrize("interval", ["0", "-1", "soon"])
def test_an_interval_must_be_positive(home, interval):
    """--interval 0, negative or not a number is a usage error."""
    done = neuro_cmd("ps", "--watch", "--interval", interval, home=home)
    assert (2, True) == (done.returncode, "--interval" in done.stderr)


def test_ctrl_c_ends_the_watch_with_130_and_no_traceback(two):
    """SIGINT (Ctrl-C) after the first redraw ends `neuro ps --watch` quietly with exit 130."""
    import os
    import signal
    import subprocess

    from .conftest import NEURO, REPO

    proc = subprocess.Popen([str(NEURO), "ps", "--watch", "--interval", "0.2"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "NEURO_HOME": str(two)})
    first = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert (130, "", True) == (proc.returncode, err, first.startswith("Every 0.2s: neuro ps"))
