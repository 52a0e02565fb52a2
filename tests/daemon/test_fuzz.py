"""Fuzzing the control socket of a real daemon: random bytes, valid frames with wrong types,
huge lengths, slow drips. The daemon never crashes, stays bounded, and serves everyone else."""

from __future__ import annotations

import struct

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuro import _control as c
from neuro.shell import daemon as d

from .conftest import Raw

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    import shutil
    import tempfile

    home = tempfile.mkdtemp(prefix="nf", dir="/tmp")
    st_ = d.State(home)
    d.start(st_)
    yield st_
    d.stop(st_, grace=10)
    shutil.rmtree(home, ignore_errors=True)


def hello() -> bytes:
    return c.encode(c.Hello(protocol=c.PROTOCOL, client="fuzz"))


def framed(obj) -> bytes:
    body = msgspec.msgpack.encode(obj)
    return struct.pack(">I", len(body)) + body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
tags = st.sampled_from(["hello", "ping", "call", "send", "spawn", "subscribe", "tail", "cancel", "messages",
                        "trace", "swap", "reply", "error", "welcome", "nope", ""])
wrong_frames = st.builds(lambda tag, fields: framed({"frame": tag, **fields}), tags,
                         st.dictionaries(st.sampled_from(["id", "to", "payload", "name", "topic", "neuro", "timeout",
                                                          "limit", "message", "extra"]), json_values, max_size=5))
huge_lengths = st.integers(c.MAX_FRAME + 1, 2**32 - 1).map(lambda n: struct.pack(">I", n))
garbage = st.binary(max_size=300)


def exchange(state, data: bytes, greet: bool) -> list:
    conn = Raw(state.socket, timeout=10)
    try:
        if greet:
            conn.send_bytes(hello())
        conn.send_bytes(data)
        return conn.drain()
    except (BrokenPipeError, ConnectionResetError):
        return []
    finally:
        conn.close()


def still_serving(state) -> bool:
    conn = Raw(state.socket)
    try:
        conn.hello()
        conn.send(c.Ping(id=1))
        return c.Reply(id=1, value="pong") == conn.frame()
    finally:
        conn.close()


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(data=st.lists(garbage | wrong_frames | huge_lengths, min_size=1, max_size=6), greet=st.booleans())
def test_random_bytes_and_wrong_frames_never_take_the_daemon_down(fuzzed, data, greet):
    """Whatever one connection sends, a new connection is still answered."""
    exchange(fuzzed, b"".join(data), greet)
    assert still_serving(fuzzed)


@FUZZ
@given(frames=st.lists(wrong_frames, min_size=1, max_size=8))
def test_each_wrong_frame_after_hello_gets_an_answer(fuzzed, frames):
    """After the handshake, every complete frame that is not a valid request gets an Error or a reply."""
    answers = exchange(fuzzed, b"".join(frames), greet=True)
    assert isinstance(answers[0], c.Welcome)
    assert all(isinstance(f, (c.Error, c.Reply, c.End, c.Event)) for f in answers[1:])


def test_a_slow_drip_of_a_huge_frame_does_not_block_others(fuzzed):
    """A client dripping a 10 MiB frame leaves the daemon serving others meanwhile."""
    dripper = Raw(fuzzed.socket)
    try:
        dripper.hello()
        dripper.send_bytes(struct.pack(">I", 10 << 20))
        for _ in range(20):
            dripper.send_bytes(b"\x00" * 1024)
            assert still_serving(fuzzed)
    finally:
        dripper.close()


def test_the_daemon_counts_protocol_errors_and_stays_small(fuzzed):
    """After a bad frame, status answers, with protocol errors counted and no connection left open."""
    from neuro.client import blocking, run_blocking

    exchange(fuzzed, struct.pack(">I", 3) + b"\xc1\xc1\xc1", greet=True)  # not msgpack: a protocol error
    client = blocking(str(fuzzed.socket), timeout=10)
    run_blocking(client.__aenter__())
    facts = run_blocking(client.status())
    run_blocking(client.__aexit__(None, None, None))
    rss_mb = int(open(f"/proc/{facts['pid']}/status").read().split("VmRSS:")[1].split()[0]) / 1024
    assert (True, 1, True) == (facts["protocol_errors"] > 0, facts["connections"], rss_mb < 400)
