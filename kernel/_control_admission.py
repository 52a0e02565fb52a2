"""Who may connect to the control server, and how many: the admission of peers.

Only the daemon's own user, from the daemon's own user and pid namespaces, is let in: a peer
of another uid, or one inside a sandbox or container (its namespaces differ, even where its
uid maps to the daemon's), gets a `PeerRefused` error and is closed, and the refusal is an
event. Connections part way through their Hello are few (`max_handshakes`) and the slowest
makes room for a new one, so dripping cannot hold the socket; each uid has `max_per_uid` of
the `max_clients` connections.

`Admission` holds these checks as methods of the control server (kernel/_control_server.py
inherits it), over the server's own counts.
"""

from __future__ import annotations

import os
import signal
import socket as _socket
import struct
from typing import Any, Callable

import trio

from neuro import _control as c

from ._control_conn import _Conn

__all__ = ["Admission"]

_HELLO_MAX = 4096  # a Hello is some 60 bytes: more than this unanswered is not a client
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_SO_PEERPIDFD = getattr(_socket, "SO_PEERPIDFD", 77)  # Linux 6.5+; Python 3.11 lacks the name


class Admission:
    """The control server's admission of peers: SO_PEERCRED and namespace checks, the limits
    on clients (in all, per uid, part way through their Hello), and eviction of the slowest
    Hello. The attributes below are the server's (set in `ControlServer.__init__`)."""

    uid: int
    max_clients: int
    max_per_uid: int
    max_handshakes: int
    hello_timeout: float
    served: int
    refused: int
    turned_away: int
    connections: int
    _namespaces: dict[str, str]
    _conns: set[_Conn]
    _per_uid: dict[int, int]
    _handshaking: dict[_Conn, None]
    _note: Callable[..., None]  # a control event, rate-limited

    def _admit(self, sock: _socket.socket) -> _Conn | None:
        """The new connection, counted, or None when it was refused (one Error frame, sent
        if the socket has room, never waited for; then closed)."""
        self.served += 1
        try:
            pid, uid = _peer_credentials(sock)
        except OSError as e:
            pid, uid, refusal = 0, -1, f"its credentials cannot be read (SO_PEERCRED: {e.strerror})"
        else:
            refusal = self._refusal(sock, pid, uid)
        if refusal is not None:
            self.refused += 1
            self._note("control.refused", pid=pid, uid=uid, reason=refusal)
            _say_and_close(sock, c.Error(id=None, type="PeerRefused", source="protocol", path=["protocol"], message=(
                f"the daemon refuses this connection: {refusal}; connect as uid {self.uid} from the daemon's own "
                "host (not from inside a sandbox or a container)")))
            return None
        if self.connections >= self.max_clients and not self._evict_slowest_hello(None):
            return self._turn_away(sock, pid, uid, f"the daemon serves at most {self.max_clients} clients at once")
        if self._per_uid.get(uid, 0) >= self.max_per_uid and not self._evict_slowest_hello(uid):
            return self._turn_away(sock, pid, uid, f"uid {uid} has {self.max_per_uid} connections open, "
                                                   "the limit for one user")
        if len(self._handshaking) >= self.max_handshakes:
            self._evict_slowest_hello(None)
        conn = _Conn(sock, pid, uid)
        conn.counted = True
        self.connections += 1
        self._per_uid[uid] = self._per_uid.get(uid, 0) + 1
        self._conns.add(conn)
        self._handshaking[conn] = None
        conn.hello_by = trio.current_time() + self.hello_timeout
        return conn

    def _refusal(self, sock: _socket.socket, pid: int, uid: int) -> str | None:
        """Why this peer may not use the socket, or None. The uid alone is not enough: a
        sandboxed worker's uid can map to the daemon's, but its user or pid namespace is its
        own. A pidfd taken first makes sure /proc/PID was still the peer when it was read."""
        if uid != self.uid:
            return f"its uid {uid} is not the daemon's ({self.uid})"
        if pid <= 0:
            return "its process is in another pid namespace (a sandbox or a container)"
        pidfd = _peer_pidfd(sock)
        try:
            for kind, own in self._namespaces.items():
                try:
                    theirs = os.readlink(f"/proc/{pid}/ns/{kind}")
                except OSError as e:
                    return f"its {kind} namespace cannot be checked (/proc/{pid}/ns/{kind}: {e.strerror})"
                if theirs != own:
                    return f"it runs in another {kind} namespace ({theirs}; the daemon's is {own}), as a sandbox does"
            if pidfd is not None:
                try:
                    signal.pidfd_send_signal(pidfd, 0)
                except ProcessLookupError:
                    return "its process ended before it could be checked"
                except OSError:
                    pass  # a signal it may not be sent says nothing about who it is
        finally:
            if pidfd is not None:
                os.close(pidfd)
        return None

    def _turn_away(self, sock: _socket.socket, pid: int, uid: int, why: str) -> None:
        self.turned_away += 1
        self._note("control.turned_away", pid=pid, uid=uid, reason=why)
        _say_and_close(sock, c.Error(id=None, type="TooManyClients", source="protocol", path=["protocol"],
                                     message=f"{why}; close connections you do not need, or retry later"))
        return None

    def _evict_slowest_hello(self, uid: int | None) -> bool:
        """Close the connection (of `uid`, or anyone's) that has waited longest for its Hello,
        to make room for a new one: a client that sends its Hello when it connects is greeted
        at once, so only slow or dripping ones are ever chosen. False when there is none."""
        for conn in self._handshaking:
            if (uid is None or conn.uid == uid) and not _hello_arrived(conn):
                break
        else:
            return False
        self.turned_away += 1
        self._note("control.turned_away", pid=conn.pid, uid=conn.uid,
                   reason="its Hello was the slowest of too many in progress")
        _say_and_close(conn.sock, c.Error(id=None, type="TooManyClients", source="protocol", path=["protocol"], message=(
            f"{len(self._handshaking)} connections were part way through their Hello and this one had waited "
            "longest; send Hello as soon as you connect")), close=False)
        self._forget(conn)
        conn.kill()
        return True

    def _forget(self, conn: _Conn) -> None:
        """Take `conn` out of the counts (once)."""
        if not conn.counted:
            return
        conn.counted = False
        self.connections -= 1
        left = self._per_uid.get(conn.uid, 1) - 1
        if left > 0:
            self._per_uid[conn.uid] = left
        else:
            self._per_uid.pop(conn.uid, None)
        self._conns.discard(conn)
        self._handshaking.pop(conn, None)

def _peer_credentials(sock: _socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process that connected, in the daemon's namespaces (pid 0: not
    visible from here)."""
    pid, uid, _gid = _PEERCRED.unpack(sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _PEERCRED.size))
    return pid, uid


def _peer_pidfd(sock: _socket.socket) -> int | None:
    """A pidfd of the connecting process, or None where the kernel has no SO_PEERPIDFD."""
    try:
        return sock.getsockopt(_socket.SOL_SOCKET, _SO_PEERPIDFD)
    except OSError:
        return None


def _own_namespaces() -> dict[str, str]:
    try:
        return {kind: os.readlink(f"/proc/self/ns/{kind}") for kind in ("user", "pid")}
    except OSError as e:
        raise OSError(e.errno, f"the control server checks each peer's namespaces against its own, and cannot "
                               f"read {e.filename}: {e.strerror}; run the daemon where /proc is mounted") from None


def _hello_arrived(conn: _Conn) -> bool:
    """Whether `conn`'s whole Hello is here (read, or waiting in the socket) though its reader
    has not greeted it yet: a client whose reader is late is not one of the slow."""
    if conn.frames:
        return True
    try:
        waiting = conn.sock.recv(_HELLO_MAX, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
    except OSError:
        return False
    head = (conn.head + waiting)[:4]
    if len(head) < 4:
        return False
    return conn.decoder.pending + len(waiting) >= 4 + int.from_bytes(head, "big")


def _say_and_close(sock: _socket.socket, frame: Any, close: bool = True) -> None:
    """Send one small frame if the socket has room now (never wait for a peer being sent
    away), then close it unless the caller closes it."""
    try:
        sock.send(c.encode(frame))
    except OSError:
        pass
    if close:
        sock.close()
