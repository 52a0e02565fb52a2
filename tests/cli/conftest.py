"""Fixtures for the CLI tests: tests/daemon's (short state folders, real daemons in real
subprocesses, the `neuro` command), shared rather than written again; and `in_pty`, which
runs the command with a real terminal on one of its streams."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

from ..daemon.conftest import NEURO, PYTHON, REPO, daemon, home, neuro_cmd, wait_until  # noqa: F401

TYPER = Path(__file__).with_name("typer_neuro.py")  # echoes its fields' values and types
WORKER = Path(__file__).with_name("worker_neuro.py")  # reports progress while it works


def in_pty(*args, home, stream: str = "stderr", timeout: float = 60, env=None) -> tuple[int, str, str]:
    """Run `neuro ARGS` with `stream` ("stdout" or "stderr") on a pseudo-terminal and the other
    on a pipe; returns (exit code, what the terminal got, what the pipe got)."""
    master, slave = os.openpty()
    full_env = {**os.environ, "NEURO_HOME": str(home), "COLUMNS": "120"}
    full_env.pop("NO_COLOR", None)  # the test's own env may set it again
    full_env.update(env or {})
    other = "stdout" if stream == "stderr" else "stderr"
    proc = subprocess.Popen([str(NEURO), *map(str, args)], cwd=REPO, env=full_env, stdin=subprocess.DEVNULL,
                            **{stream: slave, other: subprocess.PIPE})
    os.close(slave)
    got = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed its end of the terminal
                    break
                if not data:
                    break
                got += data
            elif proc.poll() is not None:
                break
        piped = getattr(proc, other).read().decode()
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, got.decode(errors="replace"), piped
