"""The control server in-process (a real socket, a real kernel, a real SQLite log): each
client's bad frames stay its own, and the daemon keeps serving everyone else."""

from __future__ import annotations

import os
import stat
import struct
import threading

import msgspec
import pytest
import trio

import neuro
from neuro.neuros.echo import Echo
from neuro import _control as c
from neuro.kernel._control_server import ControlServer

from .conftest import wait_until
from .slow_neuro import Slow


class Running:
    """A kernel and its control server on a thread of their own."""

    def __init__(self, folder, **options) -> None:
        self.path = os.path.join(folder, "control.sock")
        self.log = os.path.join(folder, "log.db")
        self.options = options
        self.ready = threading.Event()
        self.thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)

    async def _main(self) -> None:
        async with neuro.Kernel(log=self.log) as kernel:
            await kernel.spawn(Echo)
            await kernel.spawn(Slow)
            self.kernel = kernel
            self.server = ControlServer(kernel, self.path, **self.options)
            self.token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                await nursery.start(self.server.serve)
                self.ready.set()

    def __enter__(self) -> "Running":
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        trio.from_thread.run_sync(self.server.shutdown, trio_token=self.token)
        self.thread.join(10)

    def ask(self, fn):
        return trio.from_thread.run(fn, trio_token=self.token)


@pytest.fixture
def server(home):
    with Running(home, hello_timeout=2.0, frame_timeout=0.5, write_timeout=1.0) as running:
        yield running


def ping_works(raw, server) -> bool:
    conn = raw(server.path)
    assert isinstance(conn.hello(), c.Welcome)
    conn.send(c.Ping(id=1))
    return c.Reply(id=1, value="pong") == conn.frame()


def test_the_socket_is_readable_by_its_user_only(server):
    """The control socket's permission bits are 0600."""
    assert 0o600 == stat.S_IMODE(os.stat(server.path).st_mode)


def test_the_handshake_gives_welcome(server, raw):
    """Hello with the current protocol is answered with Welcome naming the protocol and pid."""
    assert c.Welcome(protocol=c.PROTOCOL, server="neuro daemon", pid=os.getpid()) == raw(server.path).hello()


def test_a_request_before_hello_is_refused_and_closed(server, raw):
    """A first frame that is not Hello gets one ProtocolError and the connection closes."""
    conn = raw(server.path)
    conn.send(c.Ping(id=1))
    frames = conn.drain()
    assert [("ProtocolError", 1)] == [(f.type, f.id) for f in frames]


def test_another_protocol_version_is_refused_with_the_fix(server, raw):
    """Hello with protocol 99 gets ProtocolMismatch saying which side to upgrade."""
    conn = raw(server.path)
    conn.send(c.Hello(protocol=99))
    [error] = conn.drain()
    assert ("ProtocolMismatch", True) == (error.type, "upgrade the older side" in error.message)


def test_a_malformed_frame_gets_an_error_and_the_connection_goes_on(server, raw):
    """A frame of the wrong type gets an Error with its id; the next request is still served."""
    conn = raw(server.path)
    conn.hello()
    raw_body = msgspec.msgpack.encode({"frame": "call", "id": 5, "to": 1, "payload": None})
    conn.send_bytes(struct.pack(">I", len(raw_body)) + raw_body)
    error = conn.frame()
    conn.send(c.Ping(id=6))
    assert (5, "ProtocolError", "protocol", c.Reply(id=6, value="pong")) == (
        error.id, error.type, error.source, conn.frame())


def test_an_oversized_length_gets_an_error_and_closes(server, raw):
    """A length prefix over 16 MiB gets one error and the connection is closed."""
    conn = raw(server.path)
    conn.hello()
    conn.send_bytes(struct.pack(">I", 1 << 30))
    frames = conn.drain()
    assert [("ProtocolError", True)] == [(f.type, "over the" in f.message) for f in frames]


def test_a_frame_that_never_completes_is_timed_out(server, raw):
    """Half a frame, then silence, gets a Timeout error once frame_timeout passes, then close."""
    conn = raw(server.path)
    conn.hello()
    conn.send_bytes(c.encode(c.Ping(id=1))[:-2])
    assert ("Timeout", None) == ((f := conn.frame()).type, conn.frame())


def test_a_slow_drip_within_the_frame_timeout_is_served(server, raw):
    """A frame sent a byte at a time (quickly) is served like any other."""
    conn = raw(server.path)
    conn.hello()
    for byte in c.encode(c.Ping(id=3)):
        conn.send_bytes(bytes([byte]))
    assert c.Reply(id=3, value="pong") == conn.frame()


def test_a_misbehaving_client_does_not_stop_others(server, raw):
    """While one client holds half a frame, another is served at once."""
    bad = raw(server.path)
    bad.hello()
    bad.send_bytes(struct.pack(">I", 1000) + b"x" * 10)
    assert ping_works(raw, server)


def test_errors_carry_type_source_path_and_traceback(server, raw):
    """A call with a bad payload gets InvalidPayload with the field path in data."""
    conn = raw(server.path)
    conn.hello()
    conn.send(c.Call(id=1, to="echo", payload={"text": 3}))
    error = conn.frame()
    assert ("InvalidPayload", "daemon", ["daemon"], {"path": "$.text"}, True) == (
        error.type, error.source, error.path, error.data, "Traceback" in error.traceback)


def test_a_client_that_leaves_mid_call_leaves_no_leak_and_the_call_its_outcome(server, raw):
    """A call whose client disconnects still ends handled in the log; no connection or request is left."""
    conn = raw(server.path)
    conn.hello()
    conn.send(c.Call(id=1, to="slow", payload={"ms": 300}))
    assert wait_until(lambda: server.server.in_flight == 1, 5)
    conn.close()
    assert wait_until(lambda: (server.server.connections, server.server.in_flight) == (0, 0), 5)

    async def outcomes():
        return [m.outcome for m in await server.kernel.log.messages(neuro="slow")]

    assert ["handled"] == server.ask(outcomes)


def test_many_clients_are_served_at_once(server, raw):
    """Twenty connections, each with a call in flight, all get their replies."""
    conns = [raw(server.path) for _ in range(20)]
    for i, conn in enumerate(conns):
        conn.hello()
        conn.send(c.Call(id=i, to="slow", payload={"ms": 50}))
    replies = [conn.frame() for conn in conns]
    assert [(i, {"ms": 50}) for i in range(20)] == [(r.id, r.value) for r in replies]


def test_a_subscription_streams_events_until_cancelled(server, raw):
    """Subscribe is acknowledged, streams published events, and Cancel ends it with End."""
    conn = raw(server.path)
    conn.hello()
    conn.send(c.Subscribe(id=1, topic="news"))
    assert c.Reply(id=1, value="streaming") == conn.frame()
    publisher = raw(server.path)
    publisher.hello()
    publisher.send(c.Publish(id=2, topic="news", payload={"n": 1}))
    publisher.frame()
    event = conn.frame()
    conn.send(c.Cancel(id=1))
    assert (("news", {"n": 1}), c.End(id=1, reason="cancelled")) == ((event.topic, event.payload), conn.frame())


def test_too_many_clients_are_told_to_retry(home, raw):
    """Past max_clients a new connection gets TooManyClients and is closed; the first still works."""
    with Running(home, max_clients=1) as running:
        first = raw(running.path)
        first.hello()
        second = raw(running.path)
        frames = second.drain()
        first.send(c.Ping(id=1))
        assert (["TooManyClients"], c.Reply(id=1, value="pong")) == ([f.type for f in frames], first.frame())
