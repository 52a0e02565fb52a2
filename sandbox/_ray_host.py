"""The cluster's side of the ray backend: a Ray actor that hosts one sandbox worker.

The actor runs Neuro's own worker (`neuro.sandbox.worker.Worker`, the one the process and
docker backends start) on a thread of its own, over a socket pair inside the actor's
process, and relays bytes between it and the kernel through one actor method, `exchange`.
The kernel's frames go in as its argument; the worker's bytes come back as its result. So
the worker protocol is the one every sandboxed worker speaks (`_protocol.py`); Ray only
carries it, and this module knows nothing of what the frames mean.

The actor is a threaded one (`max_concurrency`): an exchange waiting for the worker's
output holds one of its threads, the next one writes meanwhile. Plain threads, not an
asyncio actor: Ray's sync calls cost less, and here every call is one.

Ordering: Ray does not promise that a threaded actor runs one caller's calls in the order
they were made (an argument put in the object store first is fetched first), so each
exchange carries a number and the host writes the kernel's bytes in that order; the bytes
it hands back carry numbers too, and the kernel's carrier (`_ray_carrier.py`) puts them
back in order.

Latency: the kernel keeps one exchange waiting here at all times (so whatever the worker
sends on its own, a background task's operation, reaches the kernel at once), and every
frame it sends is another exchange. One exchange at a time reads the worker's socket and
returns what it read: the one left waiting takes a call's Result as soon as the worker
writes it (half a Ray round trip after the Call went), and the exchange that carried the
Call stays to wait in its place. Past `MAX_WAITING` waiters an exchange returns at once
with nothing, so a burst of sends does not pile up threads.

Limits Ray does not hold an actor to (ray #5114): a watchdog thread reads the process's
resident memory and CPU time every `WATCH_INTERVAL` seconds and, past the policy's
`memory` or `cpu_time` (counted above what the Ray worker and Neuro's worker held once
imported), ends the worker with a note that says which limit and by how much. The note is
the host's word, read in the same process as the neuro's code: the ray backend runs code
the policy trusts (docs/ray.md).
"""

from __future__ import annotations

import os
import resource
import socket
import sys
import threading
import time
import traceback
from typing import Any

__all__ = ["NeuroHost", "MAX_WAITING", "WATCH_INTERVAL"]

# Exchanges kept waiting for the worker's output; past it the oldest returns empty.
MAX_WAITING = 2
# Seconds between two looks at the actor's memory and CPU time.
WATCH_INTERVAL = 0.05
# Seconds a host whose worker ended (or broke a limit) waits for the kernel's kill before
# it ends its own process: an actor must never outlive the worker it hosts for long.
EXIT_GRACE = 10.0
# Seconds a thread that wants the GIL waits before it asks the holder to let go.
SWITCH_INTERVAL = 0.0002
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    """Resident bytes of this process now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class NeuroHost:
    """One Ray actor, one worker. `memory` and `cpu_time` are the policy's limits (0: none)."""

    def __init__(self, memory: int = 0, cpu_time: float = 0.0) -> None:
        self._memory = memory
        self._cpu_time = cpu_time
        kernel_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock = kernel_end
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._reading = False  # an exchange is reading the socket
        self._eof = False  # the worker's end of the socket is closed
        self._waiting = 0
        self._end: dict[str, Any] | None = None  # why the worker ended, once it has
        self._out = bytearray()
        self._out_seq = 0
        self._in_next = 1
        self._in_early: dict[int, bytes] = {}
        # The worker's thread and Ray's event loop hand the GIL to each other twice a call;
        # Python's default 5 ms switch interval would make each hand-over wait for it.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._base_rss = self._base_cpu = 0.0  # set once the worker's own modules are imported
        self._worker: Any = None  # the sandbox worker, once its thread made it (for `graph_call`)
        threading.Thread(target=self._serve, args=(worker_end,), name="neuro-worker", daemon=True).start()

    # -- the worker, on its own thread --------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        """Run the sandbox worker until Stop or end of input; note how it ended."""
        import trio

        from .worker import Worker

        # The limits count from here: the Ray worker and Neuro's worker are not the neuro's.
        self._base_rss, self._base_cpu = _rss(), _cpu()
        if self._memory or self._cpu_time:
            threading.Thread(target=self._watch, name="neuro-limits", daemon=True).start()
        code, tail = 0, ""
        try:
            self._worker = Worker(sock)
            trio.run(self._worker.run)
        except MemoryError:
            code = 3  # as `python -m neuro.sandbox.worker` exits on a MemoryError
        except BaseException:  # noqa: BLE001 - reported to the kernel as the worker's last output
            code, tail = 1, traceback.format_exc()
        finally:
            sock.close()
        self._record_end({"code": code, "detail": tail})

    def _watch(self) -> None:
        """Hold the worker to the policy's memory and CPU time (see the module's docstring)."""
        while self._end is None:
            time.sleep(WATCH_INTERVAL)
            used = _rss() - self._base_rss
            if self._memory and used > self._memory:
                self._record_end({"code": -9, "quota": "memory", "used": used,
                            "detail": f"its resident memory grew by {used:,} bytes, past its limit of "
                                      f"{self._memory:,} bytes"})
                break
            cpu = _cpu() - self._base_cpu
            if self._cpu_time and cpu > self._cpu_time:
                self._record_end({"code": -24, "quota": "cpu_time", "used": cpu,
                            "detail": f"it used {cpu:.2f} s of CPU, past its limit of {self._cpu_time:g} s"})
                break

    def _record_end(self, end: dict[str, Any]) -> None:
        """From any thread: the worker has ended (or must); the first reason counts."""
        with self._cond:
            if self._end is None:
                self._end = end
            if end.get("quota"):
                self._out.clear()  # a limit broke: what it still wrote is not worth the wait
            self._cond.notify_all()
        try:
            self._sock.shutdown(socket.SHUT_RD)  # wakes the exchange reading
        except OSError:
            pass
        threading.Timer(EXIT_GRACE, os._exit, args=(1,)).start()  # the kernel's kill should come first

    # -- the actor's methods, each on one of Ray's threads for this actor -------------------

    def exchange(self, seq: int, data: bytes) -> tuple[int, bytes, dict[str, Any] | None]:
        """Write `data` (the kernel's bytes number `seq`; 0: none) to the worker, then wait
        for the worker's next bytes: (their number, the bytes, None), or (0, b"", None)
        when let go empty, or (0, b"", the end note) once the worker has ended.

        One exchange at a time reads the socket (the others wait on the condition); it
        takes what it read for itself, so whichever exchange is waiting carries it."""
        if seq:
            self._write(seq, data)
        cond = self._cond
        with cond:
            while True:
                if self._out:
                    return self._take()
                if self._end is not None and (self._eof or self._end.get("quota")):
                    return 0, b"", self._final()
                if not self._reading:
                    break
                if self._waiting >= MAX_WAITING:
                    return 0, b"", None
                self._waiting += 1
                cond.wait()
                self._waiting -= 1
            self._reading = True
        try:
            chunk = self._sock.recv(1 << 16)
        except OSError:
            chunk = b""
        with cond:
            self._reading = False
            if chunk:
                self._out += chunk
            else:
                self._eof = True
                while self._end is None:  # the worker's thread notes how it ended as it closes
                    cond.wait()
            cond.notify_all()
            if self._out:
                return self._take()
            return 0, b"", self._final()

    def graph_call(self, data: bytes) -> bytes:
        """One node of a compiled graph (`_ray_graph.py`): the neuro's handler on `data` (its
        input, msgpack), here on Ray's graph thread; its reply, msgpack. See `graph_node`."""
        from ._ray_graph import graph_node

        return graph_node(self._worker, data)

    def watch(self) -> None:
        """Never returns: its ObjectRef fails when the actor dies, which is how the kernel
        learns it did, and why (Ray's own account: node died, killed, out of memory)."""
        threading.Event().wait()

    def _write(self, seq: int, data: bytes) -> None:
        """Write the kernel's bytes in their numbers' order, whatever order they came in."""
        with self._write_lock:
            self._in_early[seq] = data
            while self._in_next in self._in_early:
                chunk = self._in_early.pop(self._in_next)
                self._in_next += 1
                try:
                    self._sock.sendall(chunk)
                except OSError:
                    return  # the worker's end is closed: the reader reports its end

    def _take(self) -> tuple[int, bytes, None]:
        self._out_seq += 1
        data = bytes(self._out)
        self._out.clear()
        return self._out_seq, data, None

    def _final(self) -> dict[str, Any]:
        assert self._end is not None
        return {**self._end, "last": self._out_seq}  # the kernel waits for every chunk up to it
