"""Fixtures for the daemon tests: short state folders (a Unix socket path has ~100 bytes),
real daemons in real subprocesses, the `neuro` command, and raw control connections."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from neuro import _control as c
from neuro.shell import daemon as d

REPO = Path(__file__).resolve().parents[2]
NEURO = REPO / ".venv" / "bin" / "neuro"
PYTHON = REPO / ".venv" / "bin" / "python"


@pytest.fixture
def home():
    path = tempfile.mkdtemp(prefix="nd", dir="/tmp")
    yield path
    st = d.State(path)
    pid = d.running_pid(st)
    if pid and pid > 0:  # a test that left its daemon running: end it, by its pid
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: d.running_pid(st) is None, 10)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(home):
    """A running daemon in `home`; stopped at the end."""
    st = d.State(home)
    d.start(st)
    yield st
    if d.running_pid(st) is not None:
        d.stop(st, grace=10)


def wait_until(condition, seconds: float, every: float = 0.01) -> bool:
    """Poll `condition` until it holds or `seconds` pass (a bounded wait, not a sleep)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())


def neuro_cmd(*args, home=None, cwd=None, timeout=60, env=None):
    full_env = {**os.environ, **(env or {})}
    if home is not None:
        full_env["NEURO_HOME"] = str(home)
    return subprocess.run([str(NEURO), *map(str, args)], cwd=cwd or REPO, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


class Raw:
    """A raw blocking connection to a control socket, for sending anything at all."""

    def __init__(self, path, timeout: float = 5.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.decoder = c.FrameDecoder(c.ServerFrame)
        self.ready: list = []

    def hello(self):
        self.send(c.Hello(protocol=c.PROTOCOL, client="test"))
        return self.frame()

    def send(self, frame) -> None:
        self.sock.sendall(c.encode(frame))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frame(self):
        """The next frame, or None at end of stream."""
        while not self.ready:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.ready.extend(self.decoder.feed(data))
        return self.ready.pop(0)

    def drain(self) -> list:
        """Every frame until the daemon closes the connection (after we stop writing)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        frames = []
        try:
            while (f := self.frame()) is not None:
                frames.append(f)
        except (OSError, c.ProtocolError):
            pass
        return frames

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw():
    opened = []

    def open_(path, timeout: float = 5.0) -> Raw:
        conn = Raw(path, timeout)
        opened.append(conn)
        return conn

    yield open_
    for conn in opened:
        conn.close()
