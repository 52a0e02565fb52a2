"""send_locked never leaves half a frame on the wire, whatever happens to the sender."""

from __future__ import annotations

import socket

import pytest
import trio

from neuro import _aio
from neuro._aio import send_locked
from neuro.sandbox._frames import Call, FrameDecoder, encode

BIG = Call(id=1, payload=b"p" * (1 << 20))  # far more than a socket buffer holds
SMALL = Call(id=2, payload=b"small")


def _pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    return ours, theirs


async def _read_frames(sock: socket.socket, count: int, within: float = 5.0) -> list:
    decoder, frames = FrameDecoder(), []
    with trio.move_on_after(within):
        while len(frames) < count:
            await trio.lowlevel.wait_readable(sock)
            frames += decoder.feed(sock.recv(1 << 16))
    return frames


def test_a_sender_cancelled_mid_frame_still_sends_the_rest_of_it():
    ours, theirs = _pair()

    async def main():
        lock, got = trio.Lock(), []
        async with trio.open_nursery() as nursery:
            async def reader():
                await trio.sleep(0.3)  # the socket fills, and the first sender's deadline passes
                got.extend(await _read_frames(theirs, 2))

            nursery.start_soon(reader)
            with trio.move_on_after(0.05):
                await send_locked(ours, lock, encode(BIG))
            await send_locked(ours, lock, encode(SMALL))
        return got

    frames = trio.run(main)
    assert [(1, len(BIG.payload)), (2, len(SMALL.payload))] == [(f.id, len(f.payload)) for f in frames]


def test_a_sender_cancelled_before_any_byte_went_out_sends_nothing():
    ours, theirs = _pair()

    async def main():
        lock, done = trio.Lock(), trio.Event()

        async def other_sender():  # part way through a frame of its own
            async with lock:
                await done.wait()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(other_sender)
            await trio.sleep(0.01)
            with trio.move_on_after(0.05) as timer:
                await send_locked(ours, lock, encode(SMALL))
            done.set()
        return timer.cancelled_caught

    assert trio.run(main)
    with pytest.raises(BlockingIOError):
        theirs.recv(1 << 16)


def test_a_peer_that_takes_no_more_of_a_frame_is_a_broken_pipe(monkeypatch):
    monkeypatch.setattr(_aio, "FINISH_FRAME_S", 0.2)
    ours, _theirs = _pair()

    async def main():
        await send_locked(ours, trio.Lock(), encode(BIG))

    with pytest.raises(BrokenPipeError, match="rest of a frame"):
        trio.run(main)


def test_send_start_sends_a_part_holds_the_lock_and_send_rest_finishes_the_frame():
    """A frame too big for the socket: send_start sends what fits and keeps others out until
    send_rest has sent the rest, so a frame sent meanwhile follows it whole."""
    ours, theirs = _pair()

    async def main():
        lock, got = trio.Lock(), []
        data = encode(BIG)
        sent = _aio.send_start(ours, lock, data)
        assert 0 < sent < len(data)
        assert lock.locked()
        assert 0 == _aio.send_start(ours, lock, encode(SMALL))  # the lock is held: nothing goes
        async with trio.open_nursery() as nursery:
            async def reader():
                got.extend(await _read_frames(theirs, 2))

            nursery.start_soon(reader)
            await _aio.send_rest(ours, lock, memoryview(data)[sent:])
            assert not lock.locked()
            await send_locked(ours, lock, encode(SMALL))
        return got

    frames = trio.run(main)
    assert [(1, len(BIG.payload)), (2, len(SMALL.payload))] == [(f.id, len(f.payload)) for f in frames]


def test_send_start_on_a_full_socket_sends_nothing_and_takes_no_lock():
    """No room at all: send_start sends nothing and leaves the lock free (the caller then
    sends the usual way)."""
    ours, theirs = _pair()

    async def main():
        first, other = trio.Lock(), trio.Lock()
        data = encode(BIG)
        sent = _aio.send_start(ours, first, data)  # fills the socket
        assert 0 == _aio.send_start(ours, other, encode(SMALL))
        assert not other.locked()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_read_frames, theirs, 1)
            await _aio.send_rest(ours, first, memoryview(data)[sent:])

    trio.run(main)
