"""One client connection of the control server (kernel/_control_server.py): its socket, and
what the server keeps about it while it is admitted, greeted, read and written."""

from __future__ import annotations

import math
import socket as _socket
from collections import deque
from typing import Any

import outcome
import trio

from neuro import _control as c

__all__: list[str] = []


class _Conn:
    """One client connection. Its socket is a plain non-blocking one: the server reads and
    writes it with raw `recv`/`send` and waits with `wait_readable`/`wait_writable` only when
    the kernel says it would block."""

    __slots__ = ("sock", "lock", "frames", "decoder", "greeted", "hello_by", "in_flight", "streams",
                 "closed", "dropped", "spare", "drained", "pid", "uid", "counted", "out_bytes", "room",
                 "queries", "head", "frame_by")

    def __init__(self, sock: _socket.socket, pid: int = 0, uid: int = -1) -> None:
        self.sock = sock
        self.pid = pid  # the peer, as SO_PEERCRED gave it at accept
        self.uid = uid
        self.counted = False  # in the server's connection counts (until `_forget`)
        self.out_bytes = 0  # bytes of frames waiting for room on this socket
        self.room: trio.Event | None = None  # set when out_bytes drops to 0: the reader goes on
        self.queries: trio.Semaphore | None = None  # log queries: one at a time
        self.head = b""  # the first 4 bytes read (the Hello's length), until greeted
        self.frame_by = math.inf  # when the frame part way in must be complete
        self.lock = trio.Lock()  # one frame at a time on the socket
        self.frames: deque[Any] = deque()  # decoded, not yet dispatched
        self.decoder = c.FrameDecoder(c.ClientFrame)
        self.greeted = False
        self.hello_by = math.inf
        self.in_flight = 0
        self.streams: dict[int, trio.CancelScope] = {}
        self.closed = False
        self.dropped = 0
        self.spare: Any = None  # a parked task, ready to take over reading
        self.drained = False

    def kill(self) -> None:
        """Close the socket now; whichever task reads it sees that and ends the connection."""
        if self.closed:
            return
        self.closed = True
        spare, self.spare = self.spare, None
        if spare is not None:
            trio.lowlevel.reschedule(spare, outcome.Value(False))
        for scope in self.streams.values():
            scope.cancel()
        if self.room is not None:
            self.room.set()
        try:
            trio.lowlevel.notify_closing(self.sock)
        except Exception:
            pass
        self.sock.close()
