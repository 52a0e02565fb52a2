"""No local client can starve the control socket or bloat the daemon: 200 connections that
drip their Hello a byte at a time (and reconnect when closed) leave a legitimate client served
call after call, and a client that pipelines 830 log queries of 15 MiB each and never reads
is disconnected, with an event, while the daemon's memory stays bounded. A real daemon,
real sockets; counts, outcomes and memory, never durations."""

from __future__ import annotations

import os
import socket
import threading

import trio

import neuro
from neuro import _control as c
from neuro.shell import daemon as d
from neuro.client import blocking, run_blocking

from .conftest import Raw, wait_until

HELLO = c.encode(c.Hello(protocol=c.PROTOCOL, client="dripper"))
MiB = 1 << 20


class Drippers(threading.Thread):
    """`n` connections, each sending its Hello one byte a round and never the last byte;
    a connection the daemon closes is opened again the next round."""

    def __init__(self, path: str, n: int = 200, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.path, self.n, self.every = path, n, every
        self.stop = threading.Event()
        self.connects = 0  # connections opened
        self.closed_by_daemon = 0
        self.most_open = 0

    def run(self) -> None:
        socks: list[socket.socket | None] = [None] * self.n
        sent = [0] * self.n
        try:
            while not self.stop.is_set():
                for i in range(self.n):
                    s = socks[i]
                    if s is None:
                        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        s.setblocking(False)
                        try:
                            s.connect(self.path)
                        except OSError:  # the backlog is full: next round
                            s.close()
                            continue
                        socks[i], sent[i] = s, 0
                        self.connects += 1
                    try:
                        if sent[i] < len(HELLO) - 1:
                            sent[i] += s.send(HELLO[sent[i]:sent[i] + 1])
                        gone = s.recv(4096) == b""
                    except BlockingIOError:
                        gone = False
                    except OSError:
                        gone = True
                    if gone:
                        s.close()
                        socks[i] = None
                        self.closed_by_daemon += 1
                self.most_open = max(self.most_open, sum(s is not None for s in socks))
                self.stop.wait(self.every)
        finally:
            for s in socks:
                if s is not None:
                    s.close()


def facts(st: d.State) -> dict:
    client = blocking(str(st.socket), timeout=10)
    run_blocking(client.__aenter__())
    try:
        return run_blocking(client.status())
    finally:
        run_blocking(client.__aexit__(None, None, None))


def events(st: d.State, name: str) -> list[dict]:
    client = blocking(str(st.socket), timeout=10)
    run_blocking(client.__aenter__())
    try:
        return [e["data"] for e in run_blocking(client.events(name=name, limit=None))]
    finally:
        run_blocking(client.__aexit__(None, None, None))


def _drip_until_answered(conn, data: bytes):
    """Send `data` but its last byte, one byte at a time with a short wait for an answer after
    each; the first frame the daemon sends meanwhile (or after)."""
    for byte in data[:-1]:
        try:
            conn.send_bytes(bytes([byte]))
        except BrokenPipeError:  # closed between two bytes: its answer is there to read
            break
        conn.sock.settimeout(0.2)
        try:
            return conn.frame()
        except TimeoutError:
            continue
    conn.sock.settimeout(30)
    return conn.frame()


def test_a_legitimate_client_is_served_while_200_connections_drip_their_hello(daemon):
    """With 200 dripping connections held open and reopened, 40 one-call CLI-style connections and
    40 calls on one `neuro.connect` session all get their answers, and the drippers are closed."""
    client = blocking(str(daemon.socket), timeout=10)
    run_blocking(client.__aenter__())
    run_blocking(client.spawn("neuro.neuros.echo:Echo"))
    run_blocking(client.__aexit__(None, None, None))
    drippers = Drippers(str(daemon.socket))
    drippers.start()
    try:
        # in full swing: every dripper connected, and hundreds closed by the daemon and back
        assert wait_until(lambda: drippers.connects >= 600, 60)
        one_shot = 0
        for i in range(40):
            client = blocking(str(daemon.socket), timeout=10)
            run_blocking(client.__aenter__())
            try:
                if {"text": f"n{i}"} == run_blocking(client.call("echo", {"text": f"n{i}"})):
                    one_shot += 1
            finally:
                run_blocking(client.__aexit__(None, None, None))

        async def session() -> int:
            answered = 0
            async with neuro.connect(str(daemon.socket), raw=True) as session:
                for i in range(40):
                    if {"text": f"s{i}"} == await session.call("echo", {"text": f"s{i}"}):
                        answered += 1
            return answered

        in_session = trio.run(session)
    finally:
        drippers.stop.set()
        drippers.join(10)
    seen = facts(daemon)
    assert (40, 40, True, True) == (one_shot, in_session, drippers.closed_by_daemon > 0, seen["turned_away"] > 0)


def test_a_hello_cannot_be_held_open_by_dripping_past_the_handshake_deadline(daemon, raw):
    """A Hello dripped a byte at a time, never finished, gets a Timeout error and is closed: the
    deadline is for the whole Hello, however often bytes arrive."""
    conn = raw(daemon.socket, timeout=30)
    frame = _drip_until_answered(conn, HELLO)
    conn.sock.settimeout(30)
    assert ("Timeout", None) == (frame.type, conn.frame())


def test_a_frame_after_the_hello_cannot_be_dripped_past_its_deadline(home, raw):
    """With frame_timeout 1 s, a Call dripped a byte every 0.2 s gets Timeout: the deadline runs
    from the frame's first byte, not from the last read."""
    from .test_server import Running

    with Running(home, frame_timeout=1.0) as running:
        conn = raw(running.path, timeout=30)
        conn.hello()
        frame = _drip_until_answered(conn, c.encode(c.Call(id=1, to="echo", payload={"text": "x" * 60})))
        conn.sock.settimeout(30)
        assert ("Timeout", None) == (frame.type, conn.frame())


def test_bytes_before_a_hello_are_bounded(daemon, raw):
    """A first frame that claims to be 1 MiB (no Hello is) is refused once 4 KiB of it arrived."""
    conn = raw(daemon.socket)
    conn.send_bytes((1 << 20).to_bytes(4, "big") + b"\x00" * 8192)
    frames = conn.drain()
    assert [("ProtocolError", True)] == [(f.type, "hold no Hello" in f.message) for f in frames]


def _fill_log(st: d.State, calls: int = 1100) -> None:
    """About 15 MiB of call messages (7 KB payloads, their replies as large) in the log."""

    async def main() -> None:
        async with neuro.connect(str(st.socket)) as session:
            await session.spawn("neuro.neuros.echo:Echo")
            text = "x" * 7000
            for _ in range(calls):
                await session.call("echo", {"text": text})

    trio.run(main)


def _status(pid: int, field: str) -> int:
    """A /proc/PID/status field in bytes (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def test_a_client_that_pipelines_big_log_queries_and_never_reads_is_cut_off_with_memory_bounded(daemon, raw):
    """830 pipelined 15 MiB log queries, never read: the daemon disconnects the client with a
    control.slow_client event, its peak memory grows by under 64 MB, and it goes on serving."""
    _fill_log(daemon)
    pid = d.running_pid(daemon)
    reader = raw(daemon.socket, timeout=60)
    reader.hello()
    reader.send(c.Messages(id=1, kind="call", limit=None))
    reply = reader.frame()
    assert 12 * MiB < len(c.encode(reply)) <= c.MAX_FRAME  # one answer, read: the daemon's working size
    reader.close()
    before = _status(pid, "VmRSS")
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # VmHWM starts again from VmRSS: from here it is the peak of what follows
    hog = raw(daemon.socket, timeout=60)
    hog.hello()
    hog.send_bytes(b"".join(c.encode(c.Messages(id=i, kind="call", limit=None)) for i in range(2, 832)))
    assert wait_until(lambda: facts(daemon)["slow_clients"] >= 1, 120, every=0.5)
    peak = _status(pid, "VmHWM")
    slow = events(daemon, "control.slow_client")
    after = facts(daemon)
    assert (1, True, 0, True) == (len(slow), "reply" in slow[0]["reason"], after["reply_bytes_waiting"],
                                  peak - before < 64 * MiB), (peak - before) / MiB
    assert "pong" == _ping(daemon)


def _ping(st: d.State) -> str:
    client = blocking(str(st.socket), timeout=10)
    run_blocking(client.__aenter__())
    try:
        return run_blocking(client.ping())
    finally:
        run_blocking(client.__aexit__(None, None, None))


def test_a_client_that_stops_reading_is_paused_not_buffered(daemon, raw):
    """While a 15 MiB reply waits for a client that does not read, its next requests are not
    read: a Ping sent behind the query is answered only once the client reads the reply."""
    _fill_log(daemon)
    conn = raw(daemon.socket, timeout=60)
    conn.hello()
    conn.send(c.Messages(id=1, kind="call", limit=None))
    assert wait_until(lambda: facts(daemon)["reply_bytes_waiting"] > 0, 60)
    conn.send(c.Ping(id=2))
    assert wait_until(lambda: facts(daemon)["paused_clients"] == 1, 60)  # it saw the Ping come, and left it
    waiting = facts(daemon)
    frames = [conn.frame(), conn.frame()]
    assert (True, [1, 2], 0) == (waiting["reply_bytes_waiting"] > 10 * MiB, [f.id for f in frames],
                                 facts(daemon)["paused_clients"])


def test_too_many_connections_of_one_uid_are_told_the_per_user_limit(home, raw):
    """Past max_per_uid greeted connections, the next one of that uid gets TooManyClients naming the limit."""
    st = d.State(home)
    d.start(st)
    try:
        conns = []
        for _ in range(64):
            conn = Raw(st.socket)
            conn.hello()
            conns.append(conn)
        extra = raw(st.socket)
        frames = extra.drain()
        for conn in conns:
            conn.close()
        assert [("TooManyClients", True)] == [(f.type, f"uid {os.geteuid()} has 64 connections open" in f.message)
                                              for f in frames]
    finally:
        d.stop(st, grace=10)

