"""Transports for the client: the same frames over trio, asyncio, a blocking socket, or none.

Each transport has `open()`, `aclose()`, `request(frame) -> Reply` and `stream(frame)` (an async
context manager yielding the stream's `Event`s). The socket ones share `FrameDecoder` and the
handshake; only the waiting differs. `Local` calls an embedded kernel's `Ops` directly;
`Through` hands each request to a neuro's context (its `ctx.kernel`).
"""

from __future__ import annotations

import os
import socket
from collections import deque
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from neuro import _control as c
from neuro._busy_poll import busy_poll_window, recv_polling
from neuro._wire_errors import ControlError, from_frame

from ._errors import DaemonNotRunning

__all__ = ["TrioTransport", "AsyncioTransport", "BlockingTransport", "Local", "Through"]

_STREAM_BUFFER = 10_000


def _not_running(path: str, error: BaseException) -> DaemonNotRunning:
    return DaemonNotRunning(f"no daemon answers at {path} ({type(error).__name__}: {error}); "
                            "start one with `neuro daemon start`")


def _hello(client: str) -> bytes:
    return c.encode(c.Hello(protocol=c.PROTOCOL, client=client))


def _welcome(frame: Any) -> None:
    if isinstance(frame, c.Error):
        raise from_frame(frame)
    if not isinstance(frame, c.Welcome):
        raise ControlError("ProtocolError", f"expected Welcome from the daemon, got {frame!r}", "protocol")


def _result(frame: Any) -> c.Reply:
    if isinstance(frame, c.Error):
        raise from_frame(frame)
    return frame


def _lost(path: str) -> DaemonNotRunning:
    return DaemonNotRunning(f"the daemon at {path} closed the connection; is it still running? (`neuro daemon status`)")


class _Router:
    """Routes incoming frames to waiting requests and open streams (shared bookkeeping)."""

    def __init__(self) -> None:
        self.pending: dict[int, Any] = {}
        self.streams: dict[int, Any] = {}
        self.broken: BaseException | None = None


class _Waiter:
    """One request's reply, or one stream's frames, and the task parked waiting for them."""

    __slots__ = ("frames", "task", "limit")

    def __init__(self, limit: int = 1) -> None:
        self.frames: deque[Any] = deque()
        self.task: Any = None
        self.limit = limit


class TrioTransport(_Router):
    """The socket from trio, with no reader task: a task waiting for a reply reads the socket
    itself (non-blocking `recv`, `wait_readable` when empty) and hands each frame to whoever
    waits for it; when it has its own, the next waiter takes over reading. Writes are a
    non-blocking `send` under a lock that costs no checkpoint when nobody else is writing."""

    remote = True

    def __init__(self, path: str, client: str = "") -> None:
        super().__init__()
        self.path, self.client = path, client
        self._reading = False
        self._busy_poll = busy_poll_window()  # how long to poll for a reply before sleeping

    async def open(self) -> None:
        import trio

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            try:
                sock.connect(self.path)
            except BlockingIOError:  # the daemon's backlog is full: wait for room
                await trio.lowlevel.wait_writable(sock)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, os.strerror(err))
        except OSError as e:
            sock.close()
            raise _not_running(self.path, e) from None
        self._sock = sock
        self._decoder = c.FrameDecoder(c.ServerFrame)
        self._lock = trio.Lock()
        hello = _Waiter()
        self.pending[None] = hello  # the Welcome (or an Error) has no request id
        try:
            await self._write(_hello(self.client))
            frame = await self._next(hello)
        finally:
            self.pending.pop(None, None)
        if frame is None:
            raise self.broken or _lost(self.path)
        _welcome(frame)

    async def aclose(self) -> None:
        import trio

        self._fail(_lost(self.path))
        try:
            trio.lowlevel.notify_closing(self._sock)
        except Exception:
            pass
        self._sock.close()
        await trio.lowlevel.checkpoint()

    # -- reading: whoever waits reads ----------------------------------------------------------

    async def _next(self, waiter: _Waiter) -> Any:
        """The next frame for `waiter`, or None once the connection is lost."""
        while not waiter.frames:
            if self.broken is not None:
                return None
            if self._reading:
                await self._park(waiter)
            else:
                await self._lead(waiter)
        return waiter.frames.popleft()

    async def _lead(self, waiter: _Waiter) -> None:
        import trio

        from neuro._aio import recv_polling

        self._reading = True
        sock = self._sock
        wait = True  # a reply is rarely in yet: go round the loop first, saving a recv bound to fail
        try:
            while not waiter.frames and self.broken is None:
                try:
                    data = await recv_polling(sock, 65536, self._busy_poll) if wait else sock.recv(65536)
                except BlockingIOError:
                    wait = True
                    continue
                except (trio.ClosedResourceError, OSError):
                    data = b""
                if not data:
                    self._fail(_lost(self.path))
                    break
                wait = len(data) < 65536
                try:
                    frames = self._decoder.feed(data)
                except c.ProtocolError:
                    self._fail(_lost(self.path))
                    break
                for frame in frames:
                    self._route(frame)
        finally:
            self._reading = False
            self._wake_next()

    def _wake_next(self) -> None:
        """Someone else waits: wake one so it reads on."""
        for table in (self.pending, self.streams):
            for waiter in table.values():
                if waiter.task is not None:
                    self._wake(waiter)
                    return

    @staticmethod
    def _wake(waiter: _Waiter) -> None:
        import trio

        task, waiter.task = waiter.task, None
        if task is not None:
            trio.lowlevel.reschedule(task)

    @staticmethod
    async def _park(waiter: _Waiter) -> None:
        import trio

        task = trio.lowlevel.current_task()
        waiter.task = task

        def abort(_: Any) -> Any:
            if waiter.task is task:
                waiter.task = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def _route(self, frame: Any) -> None:
        fid = getattr(frame, "id", None)
        waiter = self.streams.get(fid) or self.pending.get(fid)
        if waiter is None:
            return  # a late frame for a request or stream nobody waits for any more
        if len(waiter.frames) < waiter.limit or isinstance(frame, (c.End, c.Error)):
            waiter.frames.append(frame)  # a stream that falls behind loses the newest events
        self._wake(waiter)

    def _fail(self, error: BaseException) -> None:
        if self.broken is None:
            self.broken = error
        for table in (self.pending, self.streams):
            for waiter in table.values():
                self._wake(waiter)

    # -- writing --------------------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        import trio

        if self.broken is not None:
            raise self.broken
        lock = self._lock
        if lock.locked():
            await lock.acquire()
        else:
            lock.acquire_nowait()  # no checkpoint when nobody else is writing
        try:
            sock = self._sock
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as e:
                self._fail(_lost(self.path))
                raise self.broken from e
            if sent == len(data):
                return
            rest = memoryview(data)[sent:]
            # Never leave half a frame: the rest goes out shielded (bounded), or the connection is lost.
            with trio.CancelScope(shield=True, deadline=trio.current_time() + 60.0):
                while rest:
                    try:
                        await trio.lowlevel.wait_writable(sock)
                        sent = sock.send(rest)
                    except BlockingIOError:
                        continue
                    except (trio.ClosedResourceError, OSError):
                        break
                    rest = rest[sent:]
            if rest:
                self._fail(_lost(self.path))
                raise self.broken
        finally:
            lock.release()

    # -- requests and streams -------------------------------------------------------------------

    async def request(self, frame: Any) -> c.Reply:
        if self.broken is not None:
            raise self.broken
        waiter = _Waiter()
        self.pending[frame.id] = waiter
        try:
            await self._write(c.encode(frame))
            reply = await self._next(waiter)
        finally:
            self.pending.pop(frame.id, None)
        if reply is None:
            raise self.broken or _lost(self.path)
        return _result(reply)

    @asynccontextmanager
    async def stream(self, frame: Any) -> AsyncIterator[AsyncIterator[c.Event]]:
        import trio

        waiter = _Waiter(_STREAM_BUFFER)
        self.streams[frame.id] = waiter
        try:
            await self._write(c.encode(frame))
            ack = await self._next(waiter)
            if ack is None:
                raise self.broken or _lost(self.path)
            _result(ack)
            yield self._stream_events(waiter)
        finally:
            self.streams.pop(frame.id, None)
            if self.broken is None:
                with trio.CancelScope(shield=True):
                    try:
                        await self._write(c.encode(c.Cancel(id=frame.id)))
                    except (DaemonNotRunning, OSError):
                        pass

    async def _stream_events(self, waiter: _Waiter) -> AsyncIterator[c.Event]:
        while True:
            frame = await self._next(waiter)
            if frame is None or isinstance(frame, c.End):
                return
            if isinstance(frame, c.Error):
                raise from_frame(frame)
            if isinstance(frame, c.Event):
                yield frame


class AsyncioTransport(_Router):
    remote = True

    def __init__(self, path: str, client: str = "") -> None:
        super().__init__()
        self.path, self.client = path, client

    async def open(self) -> None:
        import asyncio

        try:
            self._reader, self._writer = await asyncio.open_unix_connection(self.path, limit=c.MAX_FRAME)
        except OSError as e:
            raise _not_running(self.path, e) from None
        self._decoder = c.FrameDecoder(c.ServerFrame)
        self._writer.write(_hello(self.client))
        frames: list[Any] = []
        while not frames:
            data = await self._reader.read(65536)
            if not data:
                raise _lost(self.path)
            frames = self._decoder.feed(data)
        _welcome(frames.pop(0))
        for frame in frames:
            self._route(frame)
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def aclose(self) -> None:
        import asyncio

        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass

    async def _read(self) -> None:
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                for frame in self._decoder.feed(data):
                    self._route(frame)
        except (OSError, c.ProtocolError):
            pass
        self.broken = _lost(self.path)
        for future in list(self.pending.values()):
            if not future.done():
                future.set_exception(self.broken)
        for queue in list(self.streams.values()):
            queue.put_nowait(c.End(id=-1, reason="connection lost"))

    def _route(self, frame: Any) -> None:
        fid = getattr(frame, "id", None)
        if fid in self.streams:
            queue = self.streams[fid]
            if queue.qsize() < _STREAM_BUFFER or isinstance(frame, c.End):
                queue.put_nowait(frame)
        elif fid in self.pending and not self.pending[fid].done():
            self.pending[fid].set_result(frame)

    async def request(self, frame: Any) -> c.Reply:
        import asyncio

        if self.broken:
            raise self.broken
        future = asyncio.get_running_loop().create_future()
        self.pending[frame.id] = future
        try:
            self._writer.write(c.encode(frame))
            await self._writer.drain()
            return _result(await future)
        finally:
            self.pending.pop(frame.id, None)

    @asynccontextmanager
    async def stream(self, frame: Any) -> AsyncIterator[AsyncIterator[c.Event]]:
        import asyncio

        queue: asyncio.Queue = asyncio.Queue()
        self.streams[frame.id] = queue
        try:
            self._writer.write(c.encode(frame))
            await self._writer.drain()
            _result(await queue.get())
            yield _queue_events(queue)
        finally:
            self.streams.pop(frame.id, None)
            if not self.broken and not self._writer.is_closing():
                self._writer.write(c.encode(c.Cancel(id=frame.id)))


async def _queue_events(queue: Any) -> AsyncIterator[c.Event]:
    while True:
        frame = await queue.get()
        if isinstance(frame, c.End):
            return
        if isinstance(frame, c.Error):
            raise from_frame(frame)
        if isinstance(frame, c.Event):
            yield frame


class BlockingTransport(_Router):
    """A plain blocking socket: for the CLI, which runs the client's coroutines without an
    event loop (they never suspend), so `neuro ps` imports neither trio nor asyncio's loop."""

    remote = True

    def __init__(self, path: str, client: str = "", timeout: float | None = None) -> None:
        super().__init__()
        self.path, self.client, self.timeout = path, client, timeout
        self._ready: list[Any] = []
        self._busy_poll = busy_poll_window()

    async def open(self) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(self.timeout)
        try:
            self._sock.connect(self.path)
        except OSError as e:
            self._sock.close()
            raise _not_running(self.path, e) from None
        self._decoder = c.FrameDecoder(c.ServerFrame)
        self._sock.sendall(_hello(self.client))
        _welcome(self._next())

    async def aclose(self) -> None:
        self._sock.close()

    def _next(self) -> Any:
        while not self._ready:
            try:
                data = recv_polling(self._sock, 65536, self._busy_poll)
            except OSError:
                data = b""
            if not data:
                raise _lost(self.path)
            self._ready.extend(self._decoder.feed(data))
        return self._ready.pop(0)

    def _until(self, fid: int) -> Any:
        while True:
            frame = self._next()
            if getattr(frame, "id", None) in (fid, None):
                return frame

    async def request(self, frame: Any) -> c.Reply:
        self._sock.sendall(c.encode(frame))
        return _result(self._until(frame.id))

    @asynccontextmanager
    async def stream(self, frame: Any) -> AsyncIterator[AsyncIterator[c.Event]]:
        self._sock.sendall(c.encode(frame))
        _result(self._until(frame.id))
        try:
            yield self._blocking_events(frame.id)
        finally:
            try:
                self._sock.sendall(c.encode(c.Cancel(id=frame.id)))
            except OSError:
                pass

    async def _blocking_events(self, fid: int) -> AsyncIterator[c.Event]:
        while True:
            try:
                frame = self._until(fid)
            except DaemonNotRunning:
                return
            if isinstance(frame, c.End):
                return
            if isinstance(frame, c.Error):
                raise from_frame(frame)
            yield frame


class Through:
    """The transport of a neuro's `ctx.kernel`: each request goes to `send`, which the neuro's
    context supplies (in the kernel's process, straight to the kernel; from a sandbox, over
    the worker's channel). `remote`: a class to spawn or swap travels as its name."""

    def __init__(self, send: Any, *, remote: bool) -> None:
        self._send = send
        self.remote = remote

    async def open(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def request(self, frame: Any) -> c.Reply:
        return await self._send(frame)

    def stream(self, frame: Any) -> Any:
        from neuro._errors import NeuroError

        raise NeuroError("ctx.kernel has no streams: a neuro subscribes in its manifest (subscribe = "
                         "(\"kernel.events\",)) and reads the log with ctx.kernel.messages() and events()")


class Local:
    """No socket: an embedded kernel (trio), run through the same `Ops` the daemon uses."""

    remote = False

    def __init__(self, **kernel_options: Any) -> None:
        self.kernel_options = kernel_options

    async def open(self) -> None:
        import neuro

        from neuro.kernel._control_ops import Ops

        options = dict(self.kernel_options)
        if "log" not in options:  # the same queries work as on the daemon: a log in a fresh folder
            import tempfile

            options["log"] = os.path.join(tempfile.mkdtemp(prefix="neuro-embedded-"), "log.db")
        self._kernel_cm = neuro.Kernel(**options)
        self.kernel = await self._kernel_cm.__aenter__()
        self.ops = Ops(self.kernel)

    async def aclose(self) -> None:
        await self._kernel_cm.__aexit__(None, None, None)

    async def request(self, frame: Any) -> c.Reply:
        import trio

        value = await self.ops.request(frame)
        await trio.lowlevel.checkpoint()  # Ops answers table reads without one
        return c.Reply(id=frame.id, value=value, type="")

    @asynccontextmanager
    async def stream(self, frame: Any) -> AsyncIterator[AsyncIterator[c.Event]]:
        async with self.ops.stream(frame) as items:
            yield _local_events(frame.id, items)


async def _local_events(fid: int, items: Any) -> AsyncIterator[c.Event]:
    async for topic, sender, payload in items:
        yield c.Event(id=fid, topic=topic, sender=sender, payload=payload)


def default_socket(home: str | None = None) -> str:
    return os.path.join(home or state_home(), "control.sock")


def state_home() -> str:
    from neuro._home import neuro_home

    return neuro_home()
