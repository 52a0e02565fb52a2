"""A child process forked from the event loop's own thread and awaited through a pidfd.

Why not `trio.lowlevel.open_process`: it forks in a worker thread, and bubblewrap's
`--die-with-parent` (PR_SET_PDEATHSIG) fires when the *thread* that forked it exits, not the
process (prctl(2)). trio's thread cache ends a thread after 10 idle seconds, so every sandbox
was killed about 10 s after it started. `subprocess.Popen` forks with vfork here, which takes
well under a millisecond, so forking from the loop's thread costs it nothing worth a thread.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import trio

__all__ = ["Child", "start_child"]


class Child:
    """The parts of `trio.Process` the sandbox uses: pid, returncode, kill() and wait()."""

    def __init__(self, popen: subprocess.Popen) -> None:
        self._popen = popen
        self.pid = popen.pid
        try:
            self._pidfd: int | None = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):  # no pidfd (Linux < 5.3): wait() polls instead
            self._pidfd = None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def kill(self) -> None:
        self._popen.kill()  # a no-op once the child has been reaped

    async def wait(self) -> int:
        while self._popen.poll() is None:
            if self._pidfd is None:
                await trio.sleep(0.02)
                continue
            try:
                await trio.lowlevel.wait_readable(self._pidfd)
            except trio.ClosedResourceError:
                break
        self._close_pidfd()
        return self._popen.wait()

    def _close_pidfd(self) -> None:
        fd, self._pidfd = self._pidfd, None
        if fd is not None:
            try:
                trio.lowlevel.notify_closing(fd)
            except Exception:
                pass
            os.close(fd)

    def __del__(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)


def start_child(command: list[str], **options: Any) -> Child:
    """`subprocess.Popen(command, **options)`, started in this (the event loop's) thread."""
    return Child(subprocess.Popen(command, **options))
