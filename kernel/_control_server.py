"""The daemon's control server: many clients on one Unix socket.

Who may connect, and how many, is kernel/_control_admission.py: only the daemon's own user
from its own namespaces, within per-uid and handshake limits. One connection's trouble stays
its own: a frame that fails validation gets an `Error` and the connection goes on; a length
over the limit, a handshake not done in `hello_timeout` (one deadline for the whole Hello,
however it is dripped), or a frame not completed within `frame_timeout` of its first byte
closes that connection only.

Calls run in the server's nursery, not the connection's, so a client that disconnects
mid-call does not cancel it: the message still reaches its outcome, and the reply is dropped.
What a client has not read is bounded: while a reply waits for room its requests are not read
(the client is paused), past `max_out` bytes waiting, or `write_timeout` without reading, it is
disconnected with an event; log queries run one at a time per connection. docs/daemon.md
states the numbers.
"""

from __future__ import annotations

import errno
import math
import os
import socket as _socket
import sys
import time
import traceback
from typing import Any, Callable

import outcome
import trio

from neuro import _control as c
from neuro._aio import carry_on, keep_hot
from neuro._busy_poll import busy_poll_window
from neuro._wire_errors import to_frame

from ._control_admission import _HELLO_MAX, Admission, _own_namespaces
from ._control_conn import _Conn
from ._control_ops import Ops

__all__ = ["ControlServer"]

MAX_OUT = 32 << 20  # bytes of replies one connection may leave unread (a reply is at most 16 MiB)
MAX_OUT_TOTAL = 256 << 20  # the same, over every connection
_LOG_QUERIES = (c.Messages, c.Events, c.Trace)
_NOTE_MAX, _NOTE_WINDOW = 20, 10.0  # control events of one name logged per window (seconds)


class ControlServer(Admission):
    """Serves `kernel` on the Unix socket at `path` (created 0600) until `shutdown()`.

    Per request, the fast path costs no task and no extra scheduler pass: the task that reads
    a connection decodes the frame and runs its handler inline. A handler that finishes without
    waiting (ping, ps, status, ...) writes its reply straight to the socket. One that has to
    wait (a call waits for the neuro) goes on in the same task, and a fresh task takes over
    reading the connection; the reply is written by the task that finished the call, with a
    non-blocking `send` under a lock that costs nothing when nobody else is writing.
    """

    def __init__(self, kernel: Any, path: str, *, max_clients: int = 128, max_per_uid: int = 64,
                 max_handshakes: int = 32, max_in_flight: int = 256, hello_timeout: float = 2.0,
                 frame_timeout: float = 30.0, write_timeout: float = 10.0, max_out: int = MAX_OUT,
                 max_out_total: int = MAX_OUT_TOTAL, out_queue: int = 256,
                 facts: Callable[[], dict[str, Any]] | None = None, busy_poll: float | None = None) -> None:
        self.path = str(path)
        # After a reply the client's next request tends to follow within microseconds: poll
        # for it this long rather than sleep (see neuro._busy_poll).
        self.busy_poll = busy_poll_window() if busy_poll is None else busy_poll
        self.max_clients = max_clients
        self.max_per_uid = max_per_uid
        self.max_handshakes = max_handshakes
        self.max_in_flight = max_in_flight
        self.hello_timeout = hello_timeout
        self.frame_timeout = frame_timeout
        self.write_timeout = write_timeout
        self.max_out = max_out
        self.max_out_total = max_out_total
        self.uid = os.geteuid()
        self._namespaces: dict[str, str] = {}  # read at serve(): "user" and "pid" -> the daemon's own
        self.out_queue = out_queue  # kept for compatibility: replies no longer queue
        self._facts = facts
        self.ops = Ops(kernel, status=self.facts, shutdown=self._shutdown_requested)
        self.started = time.time()
        self.connections = 0
        self.served = 0
        self.requests = 0
        self.in_flight = 0
        self.protocol_errors = 0
        self.internal_errors = 0
        self.refused = 0  # peers refused: another uid, or a sandbox's namespaces
        self.turned_away = 0  # connections closed for the limits (too many, or the slowest Hello)
        self.slow_clients = 0  # disconnected for leaving replies unread
        self.out_bytes = 0  # bytes waiting for room, over every connection
        self._stop = trio.Event()
        self._stopping = False
        self._nursery: trio.Nursery | None = None
        self._conns: set[_Conn] = set()
        self._per_uid: dict[int, int] = {}
        self._handshaking: dict[_Conn, None] = {}  # not yet greeted, oldest first
        self._noted: dict[str, list[Any]] = {}  # event name -> [window start, logged, suppressed]

    def facts(self) -> dict[str, Any]:
        out = {"pid": os.getpid(), "socket": self.path, "started": self.started,
               "uptime": time.time() - self.started, "connections": self.connections,
               "clients_served": self.served, "requests": self.requests, "requests_in_flight": self.in_flight,
               "protocol_errors": self.protocol_errors, "internal_errors": self.internal_errors,
               "peers_refused": self.refused, "turned_away": self.turned_away, "slow_clients": self.slow_clients,
               "reply_bytes_waiting": self.out_bytes,
               "paused_clients": sum(1 for conn in self._conns if conn.room is not None)}
        if self._facts is not None:
            out.update(self._facts())
        return out

    def shutdown(self) -> None:
        """Stop serving: every connection closes, then `serve()` returns."""
        self._stop.set()

    def _shutdown_requested(self) -> None:
        self._stopping = True  # `_request` stops once the reply to Shutdown is on its way

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self._namespaces = _own_namespaces()
        listener = _bind(self.path)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._accept, listener)
                task_status.started(self)
                await self._stop.wait()
                nursery.cancel_scope.cancel()
        finally:
            for conn in list(self._conns):
                conn.kill()
            try:
                trio.lowlevel.notify_closing(listener)
            except Exception:
                pass
            listener.close()
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    async def _accept(self, listener: _socket.socket) -> None:
        assert self._nursery is not None
        while True:
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                await trio.lowlevel.wait_readable(listener)
                continue
            except OSError as e:
                if e.errno in _ACCEPT_RETRY:
                    await trio.sleep(0.1)  # out of descriptors or memory: let some go first
                    continue
                if e.errno in _ACCEPT_SKIP:
                    continue
                raise
            sock.setblocking(False)
            conn = self._admit(sock)
            if conn is not None:
                self._nursery.start_soon(self._reader, conn)
            # Let the new reader take its Hello before the next accept: in a burst of
            # connections, a client that sent its Hello is greeted before it could be counted
            # among the slow ones.
            await trio.lowlevel.checkpoint()

    def _note(self, name: str, **data: Any) -> None:
        """Log a control event, at most `_NOTE_MAX` of one name per `_NOTE_WINDOW` seconds (a
        client that reconnects in a loop must not fill the log); the first one after a quiet
        spell says how many were left out."""
        emit = getattr(self.ops.kernel, "_event", None)
        if emit is None:
            return
        now = time.monotonic()
        window = self._noted.get(name)
        if window is None or now - window[0] >= _NOTE_WINDOW:
            if window is not None and window[2]:
                data["suppressed"] = window[2]
            window = self._noted[name] = [now, 0, 0]
        if window[1] >= _NOTE_MAX:
            window[2] += 1
            return
        window[1] += 1
        emit(name, None, "control", **data)

    # -- one connection -----------------------------------------------------------------------

    def _end(self, conn: _Conn) -> None:
        """The connection is over (its reader left): close it, end its streams."""
        self._forget(conn)
        conn.kill()

    async def _reader(self, conn: _Conn) -> None:
        """Read and serve `conn` until it ends. A request that has to wait takes this task (what
        it waits for will wake this task), and the connection's spare task reads on; once the
        request is answered, this task becomes the spare. So a call costs no task spawn."""
        while True:
            waiting = None
            try:
                waiting = await self._read_loop(conn)
            except Exception:  # a bug in serving one client never takes the daemon down
                self.internal_errors += 1
                traceback.print_exc(file=sys.stderr)
            finally:
                if waiting is None:
                    self._end(conn)
            if waiting is None:
                return
            try:
                await carry_on(*waiting)
            except Exception:
                self.internal_errors += 1
                traceback.print_exc(file=sys.stderr)
            if conn.closed or conn.spare is not None or not await self._park_spare(conn):
                return

    def _hand_on(self, conn: _Conn) -> None:
        """Another task reads `conn` from now on: the parked spare, or a new one."""
        spare = conn.spare
        if spare is not None:
            conn.spare = None
            trio.lowlevel.reschedule(spare, outcome.Value(True))
        else:
            assert self._nursery is not None
            self._nursery.start_soon(self._reader, conn)

    @staticmethod
    async def _park_spare(conn: _Conn) -> bool:
        """Wait as `conn`'s spare reader; True when asked to read, False when it ended."""
        task = trio.lowlevel.current_task()
        conn.spare = task

        def abort(_: Any) -> trio.lowlevel.Abort:
            if conn.spare is task:
                conn.spare = None
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    async def _send(self, conn: _Conn, frame: Any) -> None:
        """Write one frame from this task: straight to the socket when it has room."""
        if conn.closed:
            return
        await self._write(conn, _encode(frame))

    async def _write(self, conn: _Conn, data: bytes) -> None:
        """Write `data` whole. While it waits (behind another frame, or for room) its bytes
        count against `max_out`, and the connection's requests are not read."""
        lock = conn.lock
        held = 0
        try:
            if lock.locked():  # another task is part way through a frame: queue behind it, bounded
                held = len(data)
                if not self._hold(conn, held):
                    return
                with trio.move_on_after(self.write_timeout) as timer:
                    await lock.acquire()
                if timer.cancelled_caught:
                    self._slow(conn, f"it read nothing for {self.write_timeout:g} s while replies waited")
                    return
            else:
                lock.acquire_nowait()  # no checkpoint when nobody else is writing
            try:
                if conn.closed:
                    return
                sock = conn.sock
                try:
                    sent = sock.send(data)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    conn.kill()
                    return
                if sent == len(data):
                    return
                if not held:
                    held = len(data)
                    if not self._hold(conn, held):
                        return
                # The socket is full: wait for room. A frame is never left half written: the
                # rest goes out shielded from cancellation, within write_timeout, or the
                # connection closes.
                rest = memoryview(data)[sent:]
                with trio.CancelScope(shield=True, deadline=trio.current_time() + self.write_timeout):
                    while rest:
                        try:
                            await trio.lowlevel.wait_writable(sock)
                        except (trio.ClosedResourceError, OSError):
                            return
                        if conn.closed:
                            return
                        try:
                            sent = sock.send(rest)
                        except BlockingIOError:
                            continue
                        except OSError:
                            conn.kill()
                            return
                        rest = rest[sent:]
                if rest:
                    self._slow(conn, f"it did not read a {len(data):,} byte reply within {self.write_timeout:g} s")
            finally:
                lock.release()
        finally:
            if held:
                self._unhold(conn, held)

    def _hold(self, conn: _Conn, n: int) -> bool:
        """Count `n` bytes waiting to be written to `conn`. False (and `conn` closed) when that
        takes it past `max_out`, or the daemon past `max_out_total` with `conn` the worst."""
        conn.out_bytes += n
        self.out_bytes += n
        if conn.out_bytes > self.max_out:
            self._slow(conn, f"it left {conn.out_bytes:,} bytes of replies unread, over the {self.max_out:,} byte "
                             "limit of one connection")
            return False
        if self.out_bytes > self.max_out_total:
            worst = max((x for x in self._conns if x.out_bytes), key=lambda x: x.out_bytes, default=conn)
            self._slow(worst, f"the daemon held {self.out_bytes:,} bytes of unread replies, over its "
                              f"{self.max_out_total:,} byte limit, {worst.out_bytes:,} of them for this connection")
            return worst is not conn
        return True

    def _unhold(self, conn: _Conn, n: int) -> None:
        conn.out_bytes -= n
        self.out_bytes -= n
        if not conn.out_bytes and conn.room is not None:
            conn.room.set()
            conn.room = None

    def _slow(self, conn: _Conn, why: str) -> None:
        """Disconnect a client that does not read what it asked for; an event says so."""
        if conn.closed:
            return
        self.slow_clients += 1
        self._note("control.slow_client", pid=conn.pid, uid=conn.uid, reason=why)
        conn.kill()

    async def _protocol_error(self, conn: _Conn, message: str, request_id: int | None = None,
                              kind: str = "ProtocolError") -> None:
        self.protocol_errors += 1
        await self._send(conn, c.Error(id=request_id, type=kind, message=message, source="protocol",
                                       path=["protocol"]))

    async def _read_loop(self, conn: _Conn) -> tuple[Any, Any] | None:
        """Serve frames; None when the connection is over, or a request that has to wait (its
        coroutine and what it yielded), for this task to finish while another reads on."""
        sock = conn.sock
        decoder = conn.decoder
        frames = conn.frames
        while not conn.closed:
            if conn.out_bytes:  # the client is behind with reading: take no more requests meanwhile
                if conn.room is None:
                    conn.room = trio.Event()
                await conn.room.wait()
                continue
            if frames:
                frame = frames.popleft()
                if not conn.greeted:
                    if not isinstance(frame, c.Hello):
                        await self._protocol_error(conn, "the first frame must be Hello{protocol, client}; closing",
                                                   getattr(frame, "id", None))
                        return None
                    if frame.protocol != c.PROTOCOL:
                        await self._protocol_error(conn, f"this daemon speaks control protocol {c.PROTOCOL}, the "
                                                         f"client {frame.protocol}; upgrade the older side",
                                                   kind="ProtocolMismatch")
                        return None
                    conn.greeted = True
                    self._handshaking.pop(conn, None)
                    await self._send(conn, c.Welcome(protocol=c.PROTOCOL, server="neuro daemon", pid=os.getpid()))
                    continue
                waiting = await self._dispatch(conn, frame)
                if waiting is not None:
                    return waiting
                continue
            try:
                if not conn.greeted and decoder.pending > _HELLO_MAX:
                    await self._protocol_error(conn, f"the first {decoder.pending:,} bytes hold no Hello (which "
                                                     f"takes under {_HELLO_MAX:,}); closing")
                    return None
                if conn.drained:  # the last read emptied the socket: skip a recv bound to fail
                    conn.drained = False
                    raise BlockingIOError
                data = sock.recv(65536)
            except BlockingIOError:
                if not conn.greeted:
                    timeout = conn.hello_by - trio.current_time()
                elif decoder.pending:
                    timeout = conn.frame_by - trio.current_time()
                else:
                    timeout = math.inf
                try:
                    if timeout == math.inf:
                        await trio.lowlevel.wait_readable(sock)
                        continue
                    with trio.move_on_after(max(timeout, 0)) as timer:
                        await trio.lowlevel.wait_readable(sock)
                except (trio.ClosedResourceError, OSError):
                    return None
                if timer.cancelled_caught:
                    what = "the handshake (Hello)" if not conn.greeted else "a frame"
                    await self._protocol_error(conn, f"{what} did not complete in time; closing", kind="Timeout")
                    return None
                continue
            except OSError:
                return None
            if not data:
                return None  # the client left; a frame it left half sent is dropped
            conn.drained = len(data) < 65536
            if not conn.greeted and len(conn.head) < 4:
                conn.head += data[:4 - len(conn.head)]
            try:
                done = decoder.feed(data)
                frames.extend(done)
                # One deadline per frame, from its first byte: dripping does not extend it.
                if not decoder.pending:
                    conn.frame_by = math.inf
                elif done or conn.frame_by == math.inf:
                    conn.frame_by = trio.current_time() + self.frame_timeout
            except c.ProtocolError as e:
                await self._protocol_error(conn, f"{e}; closing the connection")
                return None
        return None

    async def _dispatch(self, conn: _Conn, frame: Any) -> tuple[Any, Any] | None:
        """Serve one frame; a request that has to wait comes back as its coroutine and the
        step it yielded, and a fresh task has been started to read on."""
        if isinstance(frame, c.Malformed):
            await self._protocol_error(conn, frame.reason, frame.id)
        elif isinstance(frame, c.Hello):
            await self._protocol_error(conn, "Hello was already received on this connection")
        elif isinstance(frame, c.Cancel):
            scope = conn.streams.get(frame.id)
            if scope is None:
                await self._send(conn, c.End(id=frame.id, reason="no such stream"))
            else:
                scope.cancel()
        elif conn.in_flight >= self.max_in_flight:
            await self._send(conn, c.Error(id=frame.id, type="TooManyRequests", source="protocol", message=(
                f"{conn.in_flight} requests are in flight on this connection (the limit); wait for replies")))
        elif isinstance(frame, c.STREAMS):
            if frame.id in conn.streams:
                await self._protocol_error(conn, f"stream {frame.id} is already open", frame.id)
                return None
            conn.in_flight += 1
            conn.streams[frame.id] = trio.CancelScope()
            assert self._nursery is not None
            self._nursery.start_soon(self._stream, conn, frame)
        else:
            conn.in_flight += 1
            coro = self._request(conn, frame)
            try:
                step = coro.send(None)  # most requests that need no neuro finish right here
                if step is _SCHEDULE_POINT and not conn.frames:
                    # A call answered at once (a plain handler, run in this task) yields once
                    # only for trio's checkpoint rule, to be resumed in the next pass. With no
                    # frame behind it, go on now: the reply leaves a scheduler pass (and a
                    # hand-off to the spare reader) sooner, and this task's next step waits
                    # for the socket, a schedule point all the same. Once: a request that
                    # yields again waits its turn.
                    step = coro.send(outcome.Value(None))  # what trio sends it (a Value unwraps once)
            except StopIteration:
                return None
            # It waits (a call waits for its neuro): this task carries it on, since what it
            # waits for will wake this task; a fresh one reads the connection meanwhile.
            # Both run in the server's nursery: a client that leaves cancels neither.
            self._hand_on(conn)
            return coro, step
        return None

    async def _request(self, conn: _Conn, req: Any) -> None:
        self.requests += 1
        self.in_flight += 1
        try:
            if isinstance(req, _LOG_QUERIES):
                # A log query's reply can be 16 MiB: one at a time per connection, the next only
                # once the last is written, so a client that pipelines them and never reads
                # costs the daemon one reply, not hundreds.
                if conn.queries is None:
                    conn.queries = trio.Semaphore(1)
                async with conn.queries:
                    if not conn.closed:
                        await self._write(conn, await self._answer(req))
            else:
                data = await self._answer(req)
                if not conn.closed:
                    await self._write(conn, data)
            if self._stopping and isinstance(req, c.Shutdown):
                self.shutdown()  # the reply is written (or the client is gone)
        finally:
            self.in_flight -= 1
            conn.in_flight -= 1
            keep_hot(self.busy_poll)

    async def _answer(self, req: Any) -> bytes:
        """The encoded reply to `req` (the value itself is not kept while the bytes wait)."""
        try:
            value = await self.ops.request(req)
            frame: Any = c.Reply(id=req.id, value=value, type=c.type_path(value))
        except Exception as e:
            frame = to_frame(req.id, e)
        return _encode(frame)

    async def _stream(self, conn: _Conn, req: Any) -> None:
        scope = conn.streams[req.id]
        reason = "cancelled"
        try:
            with scope:
                async with self.ops.stream(req) as items:
                    await self._send(conn, c.Reply(id=req.id, value="streaming"))
                    async for topic, sender, payload in items:
                        if conn.closed:
                            return
                        event = c.Event(id=req.id, topic=topic, sender=sender, payload=payload,
                                        type=c.type_path(payload))
                        try:
                            data = c.encode(event)
                        except (TypeError, ValueError, OverflowError):
                            conn.dropped += 1
                            continue
                        # Waits while the client is slow to read (the kernel's buffer for this
                        # subscriber then drops the newest events); write_timeout closes it.
                        await self._write(conn, data)
                reason = "ended"
        except Exception as e:
            await self._send(conn, to_frame(req.id, e))
            return
        finally:
            conn.streams.pop(req.id, None)
            conn.in_flight -= 1
        await self._send(conn, c.End(id=req.id, reason=reason))


try:  # what a task yields to trio at a bare schedule point (trio.lowlevel.cancel_shielded_checkpoint)
    from trio._core._traps import CancelShieldedCheckpoint as _SCHEDULE_POINT
except ImportError:  # pragma: no cover - another trio: no shortcut, every request waits its turn
    _SCHEDULE_POINT = object()
_ACCEPT_RETRY = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
_ACCEPT_SKIP = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR}

class _Unencodable(Exception):
    pass


def _encode(frame: Any) -> bytes:
    try:
        return c.encode(frame)
    except (TypeError, ValueError, OverflowError) as e:
        return c.encode(to_frame(getattr(frame, "id", None), _Unencodable(
            f"the result cannot be sent over the control socket: {e}")))


def _bind(path: str) -> _socket.socket:
    """A listening Unix socket at `path`, readable and writable by its user only (0600)."""
    if len(os.fsencode(path)) > 100:
        raise OSError(f"the socket path {path!r} is too long for a Unix socket; use a shorter NEURO_HOME")
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(128)
    sock.setblocking(False)
    return sock
