"""The control protocol's frames: a closed set of tagged Structs, each validated on decode."""

from __future__ import annotations

import struct

import msgspec
import pytest

from neuro import _control as c

CLIENT_FRAMES = [
    c.Hello(protocol=1, client="me"), c.Ping(id=1), c.Status(id=2), c.Shutdown(id=3), c.Ps(id=4),
    c.Info(id=5, name="echo"), c.Spawn(id=6, neuro="neuro.neuros.echo:Echo", name="e2", policy="trusted"),
    c.Stop(id=7, name="echo"), c.Restart(id=8, name="echo"),
    c.Send(id=9, to="echo", payload={"text": "hi"}, timeout=1.0, durable=True),
    c.Call(id=10, to="echo", payload={"text": "hi"}), c.Publish(id=11, topic="t", payload=[1, 2]),
    c.Subscribe(id=12, topic="kernel.events"), c.Tail(id=13, neuro="echo", events=True), c.Cancel(id=12),
    c.Messages(id=14, neuro="echo", limit=None), c.Events(id=15, name="swap*"), c.Trace(id=16, message=99),
    c.Swap(id=17, name="echo", neuro="x.py", replay=5), c.Rollback(id=18, name="echo", version="ab"),
    c.Versions(id=19, name="echo"), c.Policies(id=20), c.ReloadPolicies(id=21), c.Statistics(id=22),
    c.Hook(id=23, name="echo", hook="sleep"), c.Vacuum(id=24, keep="30d", dry_run=True),
    c.Source(id=25, name="echo", version="ab12"), c.MailboxStatistics(id=26, name="echo"), c.Supervisors(id=27),
    c.Supervise(id=28, parent="root", trusted=True, spec=c.WireSupervisor(
        name="pair", strategy="one_for_all", children=[
            c.WireChild(neuro="neuro.neuros.echo:Echo", name="left", restart="transient", shutdown="brutal_kill"),
            c.WireSupervisor(name="inner", children=[c.WireChild(neuro="x.py:X", shutdown=2.5)])])),
    c.DropFolders(id=29, wait_idle=True), c.Load(id=30, path="/tmp/x.py", trusted=True, policy="untrusted"),
    c.Spawn(id=31, neuro="neuro.neuros.echo:Echo", supervisor="pair", restart="temporary"),
    c.Stop(id=32, name="echo", drain=False),
    c.Describe(id=33, name="echo", log=False), c.Usage(id=34),
    c.Unpin(id=35, name="echo"),
]
SERVER_FRAMES = [
    c.Welcome(protocol=1, server="neuro daemon", pid=42), c.Reply(id=1, value={"a": [1, 2.5, None]}, type="m:T"),
    c.Error(id=2, type="InvalidPayload", message="bad", source="daemon", path=["daemon"], traceback="tb",
            data={"path": "$.text"}),
    c.Event(id=3, topic="kernel.events", sender="root", payload={"name": "neuro.spawned"}), c.End(id=3, reason="cancelled"),
]


def frames_of(data: bytes, kinds) -> list:
    return c.FrameDecoder(kinds).feed(data)


@pytest.mark.parametrize("frame", CLIENT_FRAMES, ids=lambda f: type(f).__name__)
def test_every_client_frame_survives_a_round_trip(frame):
    """Each client frame, encoded and decoded, is equal to itself."""
    assert [frame] == frames_of(c.encode(frame), c.ClientFrame)


@pytest.mark.parametrize("frame", SERVER_FRAMES, ids=lambda f: type(f).__name__)
def test_every_server_frame_survives_a_round_trip(frame):
    """Each daemon frame, encoded and decoded, is equal to itself."""
    assert [frame] == frames_of(c.encode(frame), c.ServerFrame)


def test_frames_split_anywhere_are_reassembled():
    """Bytes fed one at a time still give each frame once, whole."""
    data = b"".join(c.encode(f) for f in CLIENT_FRAMES)
    decoder = c.FrameDecoder(c.ClientFrame)
    got = []
    for i in range(len(data)):
        got.extend(decoder.feed(data[i:i + 1]))
    assert CLIENT_FRAMES == got


def body(obj) -> bytes:
    raw = msgspec.msgpack.encode(obj)
    return struct.pack(">I", len(raw)) + raw


@pytest.mark.parametrize("data, reason, request_id", [
    (struct.pack(">I", 3) + b"\xc1\xc1\xc1", "malformed frame", None),
    (body({"frame": "frobnicate", "id": 7}), "Invalid value 'frobnicate' - at `$.frame`", 7),
    (body({"frame": "call", "id": 8, "to": 5, "payload": 1}), "Expected `str`, got `int` - at `$.to`", 8),
    (body({"frame": "call", "id": 9, "payload": 1}), "missing required field `to`", 9),
    (body({"frame": "ping", "id": 10, "extra": 1}), "unknown field `extra`", 10),
    (body({"frame": "ping", "id": "x"}), "Expected `int`, got `str` - at `$.id`", None),
    (body([1, 2, 3]), "Expected `object`, got `array`", None),
    (body({"frame": "reply", "id": 11}), "Invalid value 'reply' - at `$.frame`", 11),
])
def test_a_frame_that_fails_validation_is_malformed_and_names_why(data, reason, request_id):
    """A whole frame that fails validation decodes to Malformed with the reason and its id, if any."""
    [got] = frames_of(data, c.ClientFrame)
    assert (True, True, request_id) == (isinstance(got, c.Malformed), reason in got.reason, got.id)


def test_a_length_over_the_limit_is_a_protocol_error():
    """A length prefix over MAX_FRAME raises ProtocolError at once (the stream cannot resync)."""
    with pytest.raises(c.ProtocolError, match="over the 16,777,216 byte limit"):
        frames_of(struct.pack(">I", c.MAX_FRAME + 1), c.ClientFrame)


def test_a_truncated_frame_waits_for_the_rest():
    """Half a frame gives nothing yet and counts as pending bytes."""
    data = c.encode(c.Ping(id=1))
    decoder = c.FrameDecoder(c.ClientFrame)
    assert ([], len(data) - 1) == (decoder.feed(data[:-1]), decoder.pending)


def test_encoding_a_frame_over_the_limit_is_refused():
    """A frame whose body would be over MAX_FRAME cannot be encoded."""
    with pytest.raises(ValueError, match="over the"):
        c.encode(c.Reply(id=1, value=b"x" * (c.MAX_FRAME + 1)))


def test_the_frame_set_is_closed_and_strict():
    """Every frame is a tagged Struct that forbids unknown fields."""
    kinds = [*c.ClientFrame.__args__, *c.ServerFrame.__args__]
    config = [(k.__struct_config__.tag_field, k.__struct_config__.forbid_unknown_fields) for k in kinds]
    assert [("frame", True)] * len(kinds) == config


def test_every_request_has_a_round_trip_case_here():
    """CLIENT_FRAMES above holds each request of the protocol at least once."""
    assert [] == [k.__name__ for k in c.Request.__args__ if not any(type(f) is k for f in CLIENT_FRAMES)]


def test_every_request_is_served_and_ctx_kernel_offers_or_refuses_it():
    """Each request but the streams and Cancel has a handler in Ops, and each is either an
    operation a policy may grant to ctx.kernel or refused there with a reason."""
    from neuro.kernel._control_ops import _NOT_OFFERED, OPERATIONS, Ops

    served = set(Ops(None)._handlers)
    requests = set(c.Request.__args__)
    assert ({c.Cancel, *c.STREAMS}, set()) == (requests - served, served - requests)
    assert (set(), set()) == (requests - {c.Cancel} - set(OPERATIONS) - set(_NOT_OFFERED),
                              set(OPERATIONS) & set(_NOT_OFFERED))


def test_a_supervisor_spec_on_the_wire_keeps_its_shape():
    """A WireSupervisor's children decode as the child or supervisor each one is, by its tag."""
    sent = next(f for f in CLIENT_FRAMES if isinstance(f, c.Supervise))
    [frame] = frames_of(c.encode(sent), c.ClientFrame)
    spec = frame.spec
    assert (["child", "supervisor"], "brutal_kill", 2.5) == (
        [k.__struct_config__.tag for k in map(type, spec.children)], spec.children[0].shutdown,
        spec.children[1].children[0].shutdown)
