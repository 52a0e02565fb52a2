"""`neuro call` draws the callee's progress events (ctx.progress) as a bar on stderr when
stderr is a terminal (a real pseudo-terminal here), and prints nothing extra on a pipe or
with --json."""

from __future__ import annotations

import json

import pytest

from .conftest import WORKER, in_pty, neuro_cmd


@pytest.fixture
def worker(daemon):
    done = neuro_cmd("spawn", WORKER, "--trusted", home=daemon.home)
    assert 0 == done.returncode, done.stderr
    return daemon.home


def test_a_terminal_sees_a_progress_bar_then_the_reply(worker):
    """On a terminal: a bar for each step (job, done/total, percent, note), erased; the reply on stdout.
    (The last step's event and the reply travel apart: the bar may end before it, so it is not asserted.)"""
    code, terminal, stdout = in_pty("call", "worker", "steps=3", "ms=60", home=worker, stream="stderr")
    assert (0, {"steps": 3}) == (code, json.loads(stdout)), terminal
    assert [] == [part for part in ("work [##########----------", "1/3  33% step 1", "2/3  67% step 2", "\r\x1b[K")
                  if part not in terminal]


def test_a_pipe_gets_no_bar(worker):
    """With stderr on a pipe, stderr stays empty and stdout holds only the reply."""
    done = neuro_cmd("call", "worker", "steps=2", "ms=30", home=worker)
    assert (0, "", {"steps": 2}) == (done.returncode, done.stderr, json.loads(done.stdout))


def test_json_gets_no_bar_even_on_a_terminal(worker):
    """--json on a terminal: nothing on stderr, one JSON document on stdout."""
    code, terminal, stdout = in_pty("call", "worker", "steps=2", "ms=30", "--json", home=worker, stream="stderr")
    assert (0, "", {"reply": {"steps": 2}}) == (code, terminal, json.loads(stdout))


def test_an_error_under_the_bar_is_the_calls_own(worker):
    """On a terminal, a call that fails still exits as it would on a pipe (a bad payload: 2;
    a neuro not running: 5), with its message."""
    bad, terminal, _ = in_pty("call", "worker", "steps=x", home=worker, stream="stderr")
    missing, terminal2, _ = in_pty("call", "nobody", "n=1", home=worker, stream="stderr")
    assert (2, True, 5, True) == (bad, "`steps`" in terminal, missing, "nobody" in terminal2)
