"""Busy polling: the trio loop polls instead of sleeping for a bounded window after activity,
stops when asked, costs nothing while idle, and the window is read from the environment with
a clear error for a bad value. Also: a daemon and clients with it off still serve."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import trio

import neuro
from neuro._aio import cool_down, keep_hot
from neuro._busy_poll import busy_poll_window, recv_polling
from neuro.shell import daemon as d


class IoWaits(trio.abc.Instrument):
    """Records the timeout of every pass the run loop makes through epoll."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def before_io_wait(self, timeout: float) -> None:
        self.timeouts.append(timeout)


async def _loop_sleeps_within(record: IoWaits, seconds: float) -> bool:
    """True if the loop went to sleep (an epoll wait with a timeout) within `seconds`."""
    start = len(record.timeouts)
    await trio.sleep(seconds)
    return any(t > 0 for t in record.timeouts[start:])


def test_the_loop_polls_while_hot_and_sleeps_after():
    record = IoWaits()

    async def main():
        keep_hot(0.05)
        await trio.sleep(0)  # the poller starts
        start = len(record.timeouts)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.02:  # meanwhile other tasks run as usual
            await trio.sleep(0)
        hot = record.timeouts[start:]
        assert len(hot) > 100 and all(t == 0 for t in hot)
        await trio.sleep(0.06)  # past the window: the loop sleeps again
        assert await _loop_sleeps_within(record, 0.05)

    trio.run(main, instruments=[record])


def test_cool_down_ends_polling_at_once():
    record = IoWaits()

    async def main():
        keep_hot(10.0)
        await trio.sleep(0)
        cool_down()
        assert await _loop_sleeps_within(record, 0.05)

    trio.run(main, instruments=[record])


def test_a_zero_window_starts_nothing():
    async def main():
        keep_hot(0)
        cool_down()  # with no poller: nothing to do
        await trio.sleep(0)
        names = [t.name for t in trio.lowlevel.current_root_task().child_nurseries[0].child_tasks]
        assert "neuro.busy_poll" not in names

    trio.run(main)


def test_window_from_the_environment(monkeypatch):
    monkeypatch.delenv("NEURO_BUSY_POLL_US", raising=False)
    assert busy_poll_window() == pytest.approx(500e-6)
    monkeypatch.setenv("NEURO_BUSY_POLL_US", "0")
    assert busy_poll_window() == 0
    monkeypatch.setenv("NEURO_BUSY_POLL_US", "10000000")
    assert busy_poll_window() == pytest.approx(0.1)  # clamped: never a long spin
    monkeypatch.setenv("NEURO_BUSY_POLL_US", "fast")
    with pytest.raises(neuro.SettingError, match="NEURO_BUSY_POLL_US must be a number of microseconds"):
        busy_poll_window()


@pytest.mark.parametrize("delay", [0.0, 0.01])
def test_recv_polling_gets_data_sent_within_or_after_the_window(delay):
    ours, theirs = socket.socketpair()
    try:
        timer = threading.Timer(delay, theirs.sendall, (b"ping",))
        timer.start()
        assert recv_polling(ours, 100, 0.002) == b"ping"
        timer.join()
        theirs.close()
        assert recv_polling(ours, 100, 0.002) == b""  # end of input, as recv says it
    finally:
        ours.close()


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_recv_polling_polls_without_sleeping_even_on_a_socket_with_a_timeout(timeout):
    """A socket with a timeout waits in poll() before every recv, even one with MSG_DONTWAIT:
    busy polling must not turn into sleeping there. It spins, trying recv again and again while
    it waits (counted, not timed: a loaded machine gives the thread less CPU, not fewer tries
    than a sleep would make), and the socket keeps its timeout."""

    class Counting(socket.socket):
        tries = 0

        def recv(self, *args):
            Counting.tries += 1
            return super().recv(*args)

    first, theirs = socket.socketpair()
    ours = Counting(fileno=first.detach())
    ours.settimeout(timeout)
    try:
        timer = threading.Timer(0.1, theirs.sendall, (b"ping",))
        timer.start()
        assert recv_polling(ours, 100, 0.5) == b"ping"
        timer.join()
        # a recv that slept in poll() until the data came would be one or two tries
        assert Counting.tries > 20, f"the thread slept instead of polling ({Counting.tries} tries in 100 ms)"
        assert timeout == ours.gettimeout()
    finally:
        ours.close()
        theirs.close()


def test_daemon_and_clients_serve_with_busy_polling_off(home, monkeypatch):
    monkeypatch.setenv("NEURO_BUSY_POLL_US", "0")
    st = d.State(home)
    d.start(st)
    try:
        async def main():
            async with neuro.connect(str(st.socket)) as client:
                await client.spawn("neuro.neuros.echo:Echo")
                for i in range(20):
                    assert (await client.call("echo", {"text": f"{i}"})).text == f"{i}"

        trio.run(main)
    finally:
        d.stop(st)


def test_a_bad_window_stops_the_daemon_with_the_reason(home, monkeypatch):
    monkeypatch.setenv("NEURO_BUSY_POLL_US", "fast")
    st = d.State(home)
    with pytest.raises(d.DaemonError, match="NEURO_BUSY_POLL_US"):
        d.start(st, wait=10)


@pytest.mark.parametrize("delay", [0.0, 0.01])
def test_recv_polling_reads_data_that_comes_within_or_after_the_window(delay):
    from neuro._aio import recv_polling

    ours, theirs = socket.socketpair()
    ours.setblocking(False)

    async def main():
        async def later():
            await trio.sleep(delay)
            theirs.send(b"x")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(later)
            with trio.fail_after(5):
                return await recv_polling(ours, 10, 0.002)

    try:
        assert b"x" == trio.run(main)
    finally:
        ours.close()
        theirs.close()
