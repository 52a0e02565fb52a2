"""The carrier: how a sandboxed worker's frames travel, and how its end is known.

The worker protocol (`_protocol.py`) decides what the frames mean and when each may come; a
carrier only moves them and watches the worker's life: it sends a frame, hands over the
frames that came, waits for the worker's end, gives the evidence of why it ended, and kills
it. A Unix socket to a child process or a container is one carrier (`SocketCarrier`); a Ray
actor can be another, without a copy of the protocol.

A carrier reads evidence only from what the neuro cannot forge where it has it (a cgroup's
OOM-kill count, its CPU counter, docker's OOMKilled); the protocol decides what the
evidence means (`diagnose`).
"""

from __future__ import annotations

import abc
import socket
from typing import Any

import msgspec
import trio

from neuro._aio import send_locked, send_start
from neuro._aio import send_rest as _send_rest

from ._cgroups import Cgroup
from ._frames import FrameDecoder, encode

__all__ = ["Carrier", "CarrierClosed", "Evidence", "Limits", "SocketCarrier", "OUTPUT_TAIL"]

# Bytes of a worker's stdout and stderr kept (the end of it): enough for a traceback or two.
OUTPUT_TAIL = 64 << 10


class CarrierClosed(Exception):
    """The worker cannot be reached any more: it hung up, or its carrier was closed."""


class Evidence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a carrier saw of a worker's end, for the protocol to name the reason.

    `exit_code`: the worker's own exit status, negative when a signal killed it (N when it
    died of signal N, however its launcher reported that); None where it is not known. It is
    the worker's to choose, so never evidence of a quota by itself. The rest come from the
    host, not the worker, and are None where this carrier has no such counter:
    `oom_kills`, how many of its processes the kernel (or the container runtime) killed for
    memory; `memory_limit_hits`, how often it hit its memory limit (v1 `memory.failcnt`);
    `cpu_seconds`, the CPU time it used."""

    exit_code: int | None = None
    oom_kills: int | None = None
    memory_limit_hits: int | None = None
    cpu_seconds: float | None = None


class Carrier(abc.ABC):
    """One worker's frames and life, as the protocol sees them. See docs/sandbox.md,
    "Writing a backend", for what each method must guarantee."""

    @abc.abstractmethod
    async def send(self, frame: Any) -> None:
        """Send one frame (a `_frames` Struct) whole: never a part of it, even if the sender
        is cancelled part-way. Several tasks may send at once. Raises CarrierClosed once the
        worker cannot be reached, and nothing else for a peer that is gone."""

    def send_nowait(self, frame: Any) -> bytes | memoryview | None:
        """Start sending `frame` now, without waiting, if that can be done: None when none of
        it went (`send` it instead); else what is left of it (mostly nothing), which
        `send_rest` must send before any other frame.

        Default: never; every frame goes through `send`."""
        return None

    async def send_rest(self, rest: bytes | memoryview) -> None:
        """Send the rest of the frame `send_nowait` began. Raises CarrierClosed as `send` does."""
        raise NotImplementedError("send_nowait never starts a frame here")

    @abc.abstractmethod
    async def receive(self) -> list[Any]:
        """The next frames the worker sent, in order, at least one; `[]` once it will send
        no more (it hung up, or the carrier was closed). One task receives. Raises
        `_frames.ProtocolError` for input that is not a frame: the protocol then kills the
        worker."""

    @abc.abstractmethod
    async def wait_exit(self) -> None:
        """Return once the worker (its process, container or actor) has ended."""

    @abc.abstractmethod
    def evidence(self) -> Evidence:
        """What is known of why the worker ended; asked once it has, before `close`."""

    @abc.abstractmethod
    def kill(self) -> None:
        """End the worker now, and all it started. Never waits, never raises; a worker
        already gone is fine."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release what the carrier holds (a socket, a cgroup), once the worker has ended;
        a task waiting in `send` gets CarrierClosed, not a hang."""

    def apply(self, policy: Any) -> None:
        """Hold the running worker to `policy` now, as far as it can be, and set
        `unenforced` to what could not be.

        Default: nothing of the running worker changes (its limits are those it started
        with, and so is `unenforced`); its next start gets the new policy."""

    @property
    def unenforced(self) -> dict[str, str]:
        """Limits this worker could not be held to when it started or at the last `apply`,
        each with why. Default: none."""
        return {}

    @property
    def output_tail(self) -> bytes:
        """The end of what the worker printed, quoted in the reason of an unexplained end.
        Default: nothing kept."""
        return b""


class Limits(abc.ABC):
    """What a `SocketCarrier` needs of the limits around its worker: a cgroup (`Cgroup`, the
    process backend) or a container's (the docker backend)."""

    @abc.abstractmethod
    def apply(self, policy: Any) -> dict[str, str]:
        """Set the memory, CPU and process limits of `policy`; return those it could not."""

    @abc.abstractmethod
    def oom_kills(self) -> int | None:
        """OOM kills counted by the host; None where it keeps no count."""

    @abc.abstractmethod
    def memory_events(self) -> int:
        """How often the memory limit was hit (0 where that is not known)."""

    @abc.abstractmethod
    def cpu_seconds(self) -> float | None:
        """CPU time used; None where no counter can be read."""

    @abc.abstractmethod
    def kill_all(self) -> None:
        """Kill every process still inside."""

    @abc.abstractmethod
    def remove(self) -> None:
        """Remove the limits' own traces (the cgroup's folders)."""


Limits.register(Cgroup)  # it has all of the above; tests/sandbox/test_interface.py checks the signatures


class SocketCarrier(Carrier):
    """A worker process (or container) at the other end of a connected, non-blocking Unix
    socket, inside `limits` (None: no cgroup here).

    `process` has `wait()`, `kill()` and `returncode` (a `_child.Child` or a container
    seen as one). The per-frame path is the socket itself: a send is one `send()` call when
    the socket has room, a receive one `recv()` and the decoder, with no task between."""

    def __init__(self, process: Any, sock: socket.socket, limits: Limits | None,
                 unenforced: dict[str, str] | None = None) -> None:
        self.process = process
        self.sock = sock
        self.limits = limits
        self._unenforced = unenforced or {}
        self._send_lock = trio.Lock()
        self._decoder = FrameDecoder()
        self._drained = False
        self._output = bytearray()  # the last OUTPUT_TAIL bytes of the worker's stdout and stderr

    async def send(self, frame: Any) -> None:
        try:
            await send_locked(self.sock, self._send_lock, encode(frame))
        except (trio.ClosedResourceError, OSError):  # the worker hung up, or close() closed it
            raise CarrierClosed() from None

    def send_nowait(self, frame: Any) -> bytes | memoryview | None:
        data = encode(frame)
        try:
            sent = send_start(self.sock, self._send_lock, data)
        except OSError:  # the worker hung up, or close() closed it: `send` says so
            return None
        if not sent:
            return None
        return b"" if sent == len(data) else memoryview(data)[sent:]

    async def send_rest(self, rest: bytes | memoryview) -> None:
        try:
            await _send_rest(self.sock, self._send_lock, rest)
        except (trio.ClosedResourceError, OSError):
            raise CarrierClosed() from None

    async def receive(self) -> list[Any]:
        sock = self.sock
        while True:
            try:
                if self._drained:  # the last read emptied the socket: wait first, saving a recv bound to fail
                    await trio.lowlevel.wait_readable(sock)
                data = sock.recv(1 << 16)
            except BlockingIOError:
                self._drained = True
                continue
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return []
            if not data:
                return []
            self._drained = len(data) < 1 << 16
            frames = self._decoder.feed(data)
            if frames:
                return frames

    async def wait_exit(self) -> None:
        await self.process.wait()

    def evidence(self) -> Evidence:
        code = self.process.returncode
        if code is not None and 128 < code < 193:
            code = -(code - 128)  # bubblewrap (and tini) exit 128+N when their child dies of signal N
        limits = self.limits
        if limits is None:
            return Evidence(exit_code=code)
        return Evidence(exit_code=code, oom_kills=limits.oom_kills(), memory_limit_hits=limits.memory_events(),
                        cpu_seconds=limits.cpu_seconds())

    def kill(self) -> None:
        try:
            self.process.kill()
        except (ProcessLookupError, OSError):
            pass
        if self.limits is not None:
            self.limits.kill_all()

    def close(self) -> None:
        if self.limits is not None:
            self.limits.kill_all()
            self.limits.remove()
        trio.lowlevel.notify_closing(self.sock)  # a writer waiting for room gets an error, not a hang
        self.sock.close()

    def apply(self, policy: Any) -> None:
        """cgroup limits apply at once; rlimits only to new workers."""
        if self.limits is not None:
            self._unenforced = self.limits.apply(policy)

    @property
    def unenforced(self) -> dict[str, str]:
        return self._unenforced

    @property
    def output_tail(self) -> bytes:
        """The end of what the worker wrote to stdout and stderr (a pipe only the kernel reads)."""
        return bytes(self._output)

    async def read_output(self, fd: int) -> None:
        """Keep the tail of the worker's output pipe `fd` (owned, closed here) until it ends."""
        async with trio.lowlevel.FdStream(fd) as stream:
            while True:
                try:
                    data = await stream.receive_some(1 << 16)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    break
                if not data:
                    break
                self._output += data
                del self._output[:-OUTPUT_TAIL]
