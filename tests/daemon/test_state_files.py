"""The state folder is its user's only: NEURO_HOME 0700, and the log (with its -wal and -shm
files), daemon.out, the pid and lock files and the socket 0600, whatever the umask; a looser
folder or file is tightened, and daemon.out says so; a shared folder is refused."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio

import neuro
from neuro.shell import daemon as d
from neuro.client import blocking, run_blocking

from .conftest import wait_until

FILES = ["control.sock", "daemon.lock", "daemon.out", "daemon.pid", "log.db", "log.db-shm", "log.db-wal"]


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def modes(home) -> dict[str, int]:
    return {name: mode(Path(home) / name) for name in FILES if (Path(home) / name).exists()}


def busy(st: d.State) -> None:
    """Spawn an echo and call it, so the log has written to its WAL."""
    client = blocking(str(st.socket), timeout=10)
    run_blocking(client.__aenter__())
    try:
        run_blocking(client.spawn("neuro.neuros.echo:Echo"))
        run_blocking(client.call("echo", {"text": "hi"}))
        run_blocking(client.messages())
    finally:
        run_blocking(client.__aexit__(None, None, None))


def test_every_state_file_is_0600_in_a_0700_folder_even_under_umask_0(home):
    """Started under umask 000, the folder is 0700 and every state file (the log's -wal and -shm too) 0600."""
    st = d.State(Path(home) / "state")
    with umask(0):
        d.start(st)
    try:
        busy(st)
        assert wait_until(lambda: {"log.db-wal", "log.db-shm"} <= set(modes(st.home)), 10)
        assert ({name: 0o600 for name in FILES}, 0o700, 0o700) == (
            modes(st.home), mode(st.home), mode(st.policies))
    finally:
        d.stop(st, grace=10)


def test_a_loose_folder_and_loose_files_are_tightened_and_daemon_out_says_so(home):
    """A state folder left 0755 with a 0644 log.db and daemon.out becomes 0700 / 0600, with a note in daemon.out."""
    st = d.State(home)
    os.chmod(home, 0o755)
    trio.run(_make_log, st.log)
    os.chmod(st.log, 0o644)
    st.out.write_text("from before\n")
    os.chmod(st.out, 0o644)
    d.start(st)
    try:
        out = st.out.read_text()
        assert (0o700, 0o600, 0o600, True, True) == (
            mode(st.home), mode(st.log), mode(st.out), "was mode 0755" in out, f"{st.log} was mode 0644" in out)
    finally:
        d.stop(st, grace=10)


async def _make_log(path) -> None:
    async with neuro.Kernel(log=path):
        pass


def test_a_shared_sticky_folder_is_refused_with_the_fix(home):
    """A NEURO_HOME with the sticky bit (like /tmp) is not taken over: start fails naming a folder of its own."""
    st = d.State(home)
    os.chmod(home, 0o1777)
    try:
        with pytest.raises(d.DaemonError, match="use a folder of its own"):
            d.start(st)
        assert 0o1777 == stat.S_IMODE(os.stat(home).st_mode)
    finally:
        os.chmod(home, 0o700)


def test_an_embedded_kernels_new_log_is_0600_with_its_wal(tmp_path):
    """Kernel(log=...) under umask 000 creates the log file, and its -wal and -shm files, 0600."""
    log = tmp_path / "run.db"

    async def main() -> dict[str, int]:
        async with neuro.Kernel(log=log) as kernel:
            await kernel.log.flush()
            return {p.name: mode(p) for p in tmp_path.iterdir()}

    with umask(0):
        seen = trio.run(main)
    assert {"run.db": 0o600, "run.db-shm": 0o600, "run.db-wal": 0o600} == seen
