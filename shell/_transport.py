"""Transports for the client: the same frames over trio, asyncio, a blocking socket, or none.

Each transport has `open()`, `aclose()`, `request(frame) -> Reply` and `stream(frame)` (an async
context manager yielding the stream's `Event`s). The socket ones share `FrameDecoder` and the
handshake; only the waiting differs. `Local` calls an embedded kernel's `Ops` directly.
"""

from __future__ import annotations

import os
import socket
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from . import control as c
from ._wire_errors import ControlError, DaemonNotRunning, from_frame

__all__ = ["TrioTransport", "AsyncioTransport", "BlockingTransport", "Local"]

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


class TrioTransport(_Router):
    remote = True

    def __init__(self, path: str, client: str = "") -> None:
        super().__init__()
        self.path, self.client = path, client

    async def open(self) -> None:
        import trio

        try:
            self._stream = await trio.open_unix_socket(self.path)
        except OSError as e:
            raise _not_running(self.path, e) from None
        self._decoder = c.FrameDecoder(c.ServerFrame)
        self._lock = trio.Lock()
        await self._stream.send_all(_hello(self.client))
        frames: list[Any] = []
        while not frames:
            data = await self._stream.receive_some(65536)
            if not data:
                raise _lost(self.path)
            frames = self._decoder.feed(data)
        _welcome(frames.pop(0))
        self._nursery_cm = trio.open_nursery()
        nursery = await self._nursery_cm.__aenter__()
        self._cancel = nursery.cancel_scope
        for frame in frames:
            self._route(frame)
        nursery.start_soon(self._read)

    async def aclose(self) -> None:
        self._cancel.cancel()
        await self._nursery_cm.__aexit__(None, None, None)
        await self._stream.aclose()

    async def _read(self) -> None:
        import trio

        try:
            while True:
                data = await self._stream.receive_some(65536)
                if not data:
                    break
                for frame in self._decoder.feed(data):
                    self._route(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, c.ProtocolError):
            pass
        self.broken = _lost(self.path)
        for slot in list(self.pending.values()):
            slot[1].set()
        for send in list(self.streams.values()):
            send.close()

    def _route(self, frame: Any) -> None:
        import trio

        fid = getattr(frame, "id", None)
        if fid in self.streams:
            try:
                self.streams[fid].send_nowait(frame)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        elif fid in self.pending:
            slot = self.pending[fid]
            slot[0] = frame
            slot[1].set()

    async def _write(self, frame: Any) -> None:
        data = c.encode(frame)
        async with self._lock:
            await self._stream.send_all(data)

    async def request(self, frame: Any) -> c.Reply:
        import trio

        if self.broken:
            raise self.broken
        slot: list[Any] = [None, trio.Event()]
        self.pending[frame.id] = slot
        try:
            await self._write(frame)
            await slot[1].wait()
        finally:
            self.pending.pop(frame.id, None)
        if slot[0] is None:
            raise self.broken or _lost(self.path)
        return _result(slot[0])

    @asynccontextmanager
    async def stream(self, frame: Any) -> AsyncIterator[AsyncIterator[c.Event]]:
        import trio

        send, receive = trio.open_memory_channel(_STREAM_BUFFER)
        self.streams[frame.id] = send
        try:
            await self._write(frame)
            ack = await receive.receive()
            _result(ack)
            yield _events(receive)
        finally:
            self.streams.pop(frame.id, None)
            if not self.broken:
                with trio.CancelScope(shield=True):
                    try:
                        await self._write(c.Cancel(id=frame.id))
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                        pass


async def _events(receive: Any) -> AsyncIterator[c.Event]:
    while True:
        try:
            frame = await receive.receive()
        except Exception:  # EndOfChannel (trio), or the connection was lost
            return
        if isinstance(frame, c.End):
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
                data = self._sock.recv(65536)
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


class Local:
    """No socket: an embedded kernel (trio), run through the same `Ops` the daemon uses."""

    remote = False

    def __init__(self, **kernel_options: Any) -> None:
        self.kernel_options = kernel_options

    async def open(self) -> None:
        import neuro

        from ._ops import Ops

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
        value = await self.ops.request(frame)
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
    return os.environ.get("NEURO_HOME") or os.path.join(os.path.expanduser("~"), ".neuro")
