"""The daemon's control server: many clients on one Unix socket, each request a task.

One connection's trouble stays its own: a frame that fails validation gets an `Error` and the
connection goes on; a length over the limit, a handshake not done in `hello_timeout`, a frame
not completed in `frame_timeout`, or a client that stops reading (`write_timeout`) closes that
connection only. Calls run in the server's nursery, not the connection's, so a client that
disconnects mid-call does not cancel it: the message still reaches its outcome, and the reply
is dropped. Per-connection limits (requests in flight, queued frames) bound memory.
"""

from __future__ import annotations

import math
import os
import socket as _socket
import sys
import time
import traceback
from typing import Any, Callable

import trio

from . import control as c
from ._ops import Ops
from ._wire_errors import to_frame

__all__ = ["ControlServer"]


class _Conn:
    __slots__ = ("stream", "out", "_receive", "scope", "in_flight", "streams", "closed", "dropped")

    def __init__(self, stream: trio.SocketStream, queue: int) -> None:
        self.stream = stream
        self.out, self._receive = trio.open_memory_channel(queue)
        self.scope: trio.CancelScope | None = None
        self.in_flight = 0
        self.streams: dict[int, trio.CancelScope] = {}
        self.closed = False
        self.dropped = 0

    def kill(self) -> None:
        self.closed = True
        if self.scope is not None:
            self.scope.cancel()


class ControlServer:
    """Serves `kernel` on the Unix socket at `path` (created 0600) until `shutdown()`."""

    def __init__(self, kernel: Any, path: str, *, max_clients: int = 128, max_in_flight: int = 256,
                 hello_timeout: float = 10.0, frame_timeout: float = 30.0, write_timeout: float = 10.0,
                 out_queue: int = 256, facts: Callable[[], dict[str, Any]] | None = None) -> None:
        self.path = str(path)
        self.max_clients = max_clients
        self.max_in_flight = max_in_flight
        self.hello_timeout = hello_timeout
        self.frame_timeout = frame_timeout
        self.write_timeout = write_timeout
        self.out_queue = out_queue
        self._facts = facts
        self.ops = Ops(kernel, status=self.facts, shutdown=self._shutdown_requested)
        self.started = time.time()
        self.connections = 0
        self.served = 0
        self.requests = 0
        self.in_flight = 0
        self.protocol_errors = 0
        self.internal_errors = 0
        self._stop = trio.Event()
        self._stopping = False
        self._nursery: trio.Nursery | None = None

    def facts(self) -> dict[str, Any]:
        out = {"pid": os.getpid(), "socket": self.path, "started": self.started,
               "uptime": time.time() - self.started, "connections": self.connections,
               "clients_served": self.served, "requests": self.requests, "requests_in_flight": self.in_flight,
               "protocol_errors": self.protocol_errors, "internal_errors": self.internal_errors}
        if self._facts is not None:
            out.update(self._facts())
        return out

    def shutdown(self) -> None:
        """Stop serving: every connection closes, then `serve()` returns."""
        self._stop.set()

    def _shutdown_requested(self) -> None:
        self._stopping = True  # `_request` stops once the reply to Shutdown is on its way

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        sock = _bind(self.path)
        listener = trio.SocketListener(sock)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(trio.serve_listeners, self._handle, [listener])
                task_status.started(self)
                await self._stop.wait()
                nursery.cancel_scope.cancel()
        finally:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    # -- one connection -----------------------------------------------------------------------

    async def _handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        self.served += 1
        conn: _Conn | None = None
        try:
            conn = _Conn(stream, self.out_queue)
            with trio.CancelScope() as scope:
                conn.scope = scope
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write_loop, conn)
                    if self.connections > self.max_clients:
                        await self._send(conn, c.Error(id=None, type="TooManyClients", source="protocol", message=(
                            f"the daemon serves at most {self.max_clients} clients at once; retry later")))
                    else:
                        await self._read_loop(conn, nursery)
                    # The writer sends what is queued (a last error), then ends; bounded.
                    conn.out.close()
                    for stream_scope in conn.streams.values():
                        stream_scope.cancel()
                    nursery.cancel_scope.deadline = trio.current_time() + 1.0
        except Exception:  # a bug in serving one client never takes the daemon down
            self.internal_errors += 1
            traceback.print_exc(file=sys.stderr)
        finally:
            self.connections -= 1
            if conn is not None:
                conn.closed = True
                for stream_scope in conn.streams.values():
                    stream_scope.cancel()
            with trio.CancelScope(shield=True):
                try:
                    await stream.aclose()
                except Exception:
                    pass

    async def _flush(self, conn: _Conn) -> None:
        """Give queued frames (a last error) a bounded moment to go out before closing."""
        with trio.move_on_after(1.0):
            while conn.out.statistics().current_buffer_used and not conn.closed:
                await trio.sleep(0.001)

    async def _write_loop(self, conn: _Conn) -> None:
        try:
            async for data in conn._receive:
                await conn.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            conn.kill()

    async def _send(self, conn: _Conn, frame: Any) -> None:
        if conn.closed:
            await trio.lowlevel.checkpoint()
            return
        try:
            data = c.encode(frame)
        except (TypeError, ValueError, OverflowError) as e:
            data = c.encode(to_frame(getattr(frame, "id", None), _Unencodable(
                f"the result cannot be sent over the control socket: {e}")))
        with trio.move_on_after(self.write_timeout) as timer:
            try:
                await conn.out.send(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                conn.closed = True
        if timer.cancelled_caught:  # the client stopped reading: let it go
            conn.kill()

    async def _protocol_error(self, conn: _Conn, message: str, request_id: int | None = None,
                              kind: str = "ProtocolError") -> None:
        self.protocol_errors += 1
        await self._send(conn, c.Error(id=request_id, type=kind, message=message, source="protocol",
                                       path=["protocol"]))

    async def _read_loop(self, conn: _Conn, nursery: trio.Nursery) -> None:
        decoder = c.FrameDecoder(c.ClientFrame)
        greeted = False
        hello_by = trio.current_time() + self.hello_timeout
        while not conn.closed:
            if not greeted:
                timeout = hello_by - trio.current_time()
            else:
                timeout = self.frame_timeout if decoder.pending else math.inf
            with trio.move_on_after(max(timeout, 0)) as timer:
                try:
                    data = await conn.stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    return
            if timer.cancelled_caught:
                what = "the handshake (Hello)" if not greeted else "a frame"
                await self._protocol_error(conn, f"{what} did not complete in time; closing", kind="Timeout")
                return
            if not data:
                return  # the client left; a frame it left half sent is dropped
            try:
                frames = decoder.feed(data)
            except c.ProtocolError as e:
                await self._protocol_error(conn, f"{e}; closing the connection")
                return
            for frame in frames:
                if not greeted:
                    if not isinstance(frame, c.Hello):
                        await self._protocol_error(conn, "the first frame must be Hello{protocol, client}; closing",
                                                   getattr(frame, "id", None))
                        return
                    if frame.protocol != c.PROTOCOL:
                        await self._protocol_error(conn, f"this daemon speaks control protocol {c.PROTOCOL}, the "
                                                         f"client {frame.protocol}; upgrade the older side",
                                                   kind="ProtocolMismatch")
                        return
                    greeted = True
                    await self._send(conn, c.Welcome(protocol=c.PROTOCOL, server=f"neuro daemon", pid=os.getpid()))
                    continue
                await self._dispatch(conn, nursery, frame)

    async def _dispatch(self, conn: _Conn, nursery: trio.Nursery, frame: Any) -> None:
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
                return
            conn.in_flight += 1
            conn.streams[frame.id] = trio.CancelScope()
            nursery.start_soon(self._stream, conn, frame)
        else:
            conn.in_flight += 1
            assert self._nursery is not None
            self._nursery.start_soon(self._request, conn, frame)

    async def _request(self, conn: _Conn, req: Any) -> None:
        self.requests += 1
        self.in_flight += 1
        try:
            try:
                value = await self.ops.request(req)
                frame: Any = c.Reply(id=req.id, value=value, type=c.type_path(value))
            except Exception as e:
                frame = to_frame(req.id, e)
            await self._send(conn, frame)
            if self._stopping and isinstance(req, c.Shutdown):
                await self._flush(conn)
                self.shutdown()
        finally:
            self.in_flight -= 1
            conn.in_flight -= 1

    async def _stream(self, conn: _Conn, req: Any) -> None:
        scope = conn.streams[req.id]
        reason = "cancelled"
        try:
            with scope:
                async with self.ops.stream(req) as items:
                    await self._send(conn, c.Reply(id=req.id, value="streaming"))
                    async for topic, sender, payload in items:
                        event = c.Event(id=req.id, topic=topic, sender=sender, payload=payload,
                                        type=c.type_path(payload))
                        try:
                            conn.out.send_nowait(c.encode(event))
                        except trio.WouldBlock:
                            conn.dropped += 1  # a subscriber that falls behind loses the newest
                        except (TypeError, ValueError, OverflowError):
                            conn.dropped += 1
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            return
                reason = "ended"
        except Exception as e:
            await self._send(conn, to_frame(req.id, e))
            return
        finally:
            conn.streams.pop(req.id, None)
            conn.in_flight -= 1
        await self._send(conn, c.End(id=req.id, reason=reason))


class _Unencodable(Exception):
    pass


def _bind(path: str) -> trio.socket.SocketType:
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
    return trio.socket.from_stdlib_socket(sock)
