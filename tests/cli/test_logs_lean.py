"""The lean path of `neuro logs` / `neuro tail` (shell/_lean_logs.py) prints what the full
command prints, imports none of trio, msgspec, argparse, sqlite-utils or the kernel, and
leaves to the full command what it does not serve."""

from __future__ import annotations

import os
import subprocess

import pytest

from .conftest import NEURO, PYTHON, REPO
from .test_logs_file import written  # noqa: F401  (the fixture: a log of two kernel runs)

LEAN = "import sys; from neuro.shell._lean_logs import main; c = main(sys.argv[1:]); sys.exit(99 if c is None else c)"
FULL = "import sys; from neuro.shell.cli import full_main; sys.exit(full_main(sys.argv[1:]))"
HEAVY = ("trio", "msgspec", "argparse", "sqlite_utils", "neuro.kernel", "neuro.client")


def python(code: str, *args, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "NEURO_HOME": str(home), "COLUMNS": "150"}
    return subprocess.run([str(PYTHON), "-c", code, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.mark.parametrize("args", [
    ["logs", "-n", "7"],
    ["--json", "tail", "--neuro", "echo"],
    ["logs", "--grep", "n.:1", "-i", "-r", "-n", "3", "--csv"],
    ["logs", "--events", "-q", "-n", "all"],
    ["tail", "--boot", "-1", "-n", "4", "--wide"],
    ["logs", "--list-boots", "--jsonl"],
    ["logs", "--since=yesterday", "--outcome", "error", "--json"],
    ["logs", "--kind", "call", "--sender", "client", "-n", "2", "--jsonl"],
])
def test_the_lean_path_prints_what_the_full_command_prints(written, tmp_path, args):  # noqa: F811
    path, _ = written
    lean = python(LEAN, *args, "--log", path, home=tmp_path)
    full = python(FULL, *args, "--log", path, home=tmp_path)
    assert (0, "") == (lean.returncode, lean.stderr)
    assert (full.returncode, full.stdout) == (lean.returncode, lean.stdout)
    assert lean.stdout.strip()


@pytest.mark.parametrize("args", [["logs", "--help"], ["logs", "--bogus"], ["logs", "-n", "0"], ["trace", "1"],
                                  ["logs", "--events", "--kind", "call"], ["logs", "--log", "/nonexistent.db"]])
def test_what_the_lean_path_does_not_serve_is_left_to_the_full_command(tmp_path, args):
    """--help, unknown options, bad values, other commands and failures: main() returns None."""
    assert 99 == python(LEAN, *args, home=tmp_path).returncode


def test_the_lean_path_imports_nothing_heavy(written, tmp_path):  # noqa: F811
    path, _ = written
    code = ("import sys, io; from neuro.shell._lean_logs import main; out = sys.stdout; sys.stdout = io.StringIO(); "
            f"c = main(sys.argv[1:]); sys.stdout = out; print(c, sorted(m for m in sys.modules if m.startswith({HEAVY!r})))")
    done = python(code, "logs", "-n", "100", "--grep", "n", "--log", path, home=tmp_path)
    assert "0 []" == done.stdout.strip(), done.stderr


def test_its_schema_is_the_kernels():
    from neuro.kernel._logschema import SCHEMA_VERSION
    from neuro.shell._logcli_read import SCHEMA

    assert SCHEMA_VERSION == SCHEMA


def test_a_closed_pipe_ends_it_quietly(written, tmp_path):  # noqa: F811
    """`neuro logs -n all | head -1`: exit 0, nothing on stderr."""
    path, _ = written
    proc = subprocess.Popen(f"{NEURO} logs -n all --log {path} | head -1; exit ${{PIPESTATUS[0]}}", shell=True,
                            executable="/bin/bash", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NEURO_HOME": str(tmp_path)})
    out, err = proc.communicate(timeout=60)
    assert (0, "", 1) == (proc.returncode, err, len(out.splitlines()))
