"""`neuro learn` against a real daemon in a subprocess, driving the numpy toy learner
(tests/learning/cli_toy.py): describe, train (waiting, detached, with a progress bar on a
real pseudo-terminal), status, cancel, resume, evaluate, snapshot and restore, exit codes."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import time
from pathlib import Path

import pytest

from tests.daemon.conftest import NEURO, daemon, home, neuro_cmd, wait_until  # noqa: F401 - fixtures

TOY = Path(__file__).with_name("cli_toy.py")


@pytest.fixture
def toy(daemon, home):  # noqa: F811 - the fixtures imported above
    spawned = neuro_cmd("spawn", TOY, "--trusted", "--policy", "default", home=home)
    assert 0 == spawned.returncode, spawned.stderr
    return home


def _json(*args, home):
    out = neuro_cmd(*args, "--json", home=home)
    return out.returncode, (json.loads(out.stdout) if out.stdout.strip() else None), out.stderr


def test_train_wait_ends_with_the_job_done_and_its_lineage(toy):
    """train --wait prints the finished job (state done, the data set's hash); exit 0."""
    from neuro.neuros.learning.datasets.registry import load

    code, status, _ = _json("learn", "train", "toy", "--dataset", "iris", "--epochs", "5", "--wait", "--job", "w",
                            home=toy)
    assert (0, "w", "done", 5.0) == (code, status["job"], status["state"], status["done"])
    assert load("iris").hash == status["dataset_hash"]


def test_detach_cancel_resume_and_status_all(toy):
    """--detach -q prints the job id at once; cancel stops it; resume --wait finishes it."""
    started = neuro_cmd("learn", "train", "toy", "--dataset", "iris", "--epochs", "40", "-o", "pause=0.1",
                        "--detach", "-q", home=toy)
    job = started.stdout.strip()
    assert (0, True) == (started.returncode, job.startswith("train-"))
    assert wait_until(lambda: _json("learn", "status", "toy", job, home=toy)[1]["done"] >= 2, 30, every=0.1)
    code, cancelled, _ = _json("learn", "cancel", "toy", job, home=toy)
    assert (0, "cancelled") == (code, cancelled["state"])
    code, resumed, _ = _json("learn", "resume", "toy", job, "--wait", home=toy)
    assert (0, "done", 40.0) == (code, resumed["state"], resumed["done"])
    code, listing, _ = _json("learn", "status", "toy", "--all", home=toy)
    assert [(job, "done")] == [(j["job"], j["state"]) for j in listing]


def test_a_failed_job_exits_3_and_an_unknown_job_exits_5(toy):
    """A job that raises ends `train` with exit 3; a job nobody knows is not found (exit 5)."""
    failed = neuro_cmd("learn", "train", "toy", "--dataset", "iris", "--epochs", "4", "-o", "fail_at=2", "--wait",
                       home=toy)
    assert (3, True) == (failed.returncode, "failed" in failed.stdout and "told to fail at epoch 2" in failed.stdout)
    missing = neuro_cmd("learn", "status", "toy", "nope", home=toy)
    assert (5, True) == (missing.returncode, "toy knows no job 'nope'" in missing.stderr)
    assert 5 == neuro_cmd("learn", "resume", "toy", "nope", home=toy).returncode


def test_snapshot_prints_a_hash_that_restore_loads_and_evaluate_prints_metrics(toy):
    """snapshot -q prints the artifact's sha256; restore HASH loads it; evaluate prints metrics."""
    assert 0 == neuro_cmd("learn", "train", "toy", "--dataset", "iris", "--epochs", "20", "--wait", home=toy).returncode
    snap = neuro_cmd("learn", "snapshot", "toy", "-q", home=toy)
    digest = snap.stdout.strip()
    assert (0, True) == (snap.returncode, bool(re.fullmatch(r"[0-9a-f]{64}", digest)))
    code, restored, _ = _json("learn", "restore", "toy", digest, home=toy)
    assert (0, 1, digest) == (code, restored["version"], restored["hash"])
    code, metrics, _ = _json("learn", "evaluate", "toy", "--dataset", "iris", home=toy)
    assert (0, 30) == (code, metrics["n"])
    assert 0.0 <= metrics["accuracy"] <= 1.0


def test_snapshot_out_writes_inline_weights_that_restore_file_loads(toy, tmp_path):
    """snapshot --out FILE writes the Weights; restore --file FILE loads them."""
    assert 0 == neuro_cmd("learn", "train", "toy", "--dataset", "iris", "--wait", home=toy).returncode
    path = tmp_path / "toy.weights"
    assert 0 == neuro_cmd("learn", "snapshot", "toy", "--out", path, home=toy).returncode
    code, restored, _ = _json("learn", "restore", "toy", "--file", path, home=toy)
    assert (0, 1) == (code, restored["version"])


def test_describe_shows_options_with_type_range_and_meaning(toy):
    """describe prints the options as a table: type, default, range, meaning."""
    out = neuro_cmd("learn", "describe", "toy", home=toy)
    line = next(row for row in out.stdout.splitlines() if row.startswith("lr "))
    assert (0, ["lr", "float", "0.1", "[0.0,", "]"]) == (out.returncode, line.split()[:5])
    assert "Step size of gradient descent" in line


def test_list_shows_the_running_learner_with_its_describe(toy):
    """list --no-spawn shows the running toy with its tasks, and installed learners by name."""
    code, rows, _ = _json("learn", "list", "--no-spawn", home=toy)
    by_name = {r["name"]: r for r in rows}
    assert (0, "classify,regress", True) == (code, by_name["toy"]["tasks"], by_name["toy"]["running"])
    assert "eqprop" in by_name  # installed (an entry point), not running: listed from the registry


def test_train_draws_a_progress_bar_on_a_terminal(toy):
    """On a terminal, train follows the job's progress events with a bar, then the result."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command on a real pseudo-terminal
        os.environ["NEURO_HOME"] = str(toy)
        os.execv(str(NEURO), [str(NEURO), "learn", "train", "toy", "--dataset", "iris", "--epochs", "12", "-o",
                              "pause=0.2", "--job", "bar"])
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert 0 == os.waitstatus_to_exitcode(status)
    assert re.search(r"bar \[#+-*\] \d+/12", text), text
    assert re.search(r"job bar (\x1b\[\d+m)?done", text), text  # coloured on a terminal
