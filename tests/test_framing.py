"""The length-prefixed frame splitter both wires use: chunking never changes what comes out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuro._framing import HEADER
from neuro.sandbox import _frames as sandbox_frames
from neuro import _control as control

frames = st.lists(
    st.builds(sandbox_frames.Result, id=st.integers(0, 2**40), ok=st.booleans(), reply=st.binary(max_size=300),
              error=st.text(max_size=50)),
    max_size=8,
)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


@given(frames, st.lists(st.integers(0, 10_000), max_size=12))
def test_any_chunking_gives_the_same_frames(sent, cuts):
    wire = b"".join(sandbox_frames.encode(f) for f in sent)
    decoder = sandbox_frames.FrameDecoder()
    got = [frame for chunk in _chunks(wire, cuts) for frame in decoder.feed(chunk)]
    assert sent == got
    assert 0 == decoder.pending


def test_one_whole_frame_comes_out_and_leaves_nothing_pending():
    decoder = sandbox_frames.FrameDecoder()
    frame = sandbox_frames.Result(id=7, ok=True, reply=b"x" * 10)
    assert [frame] == decoder.feed(sandbox_frames.encode(frame))
    assert 0 == decoder.pending


def test_a_frame_then_a_partial_one_keeps_the_rest():
    decoder = sandbox_frames.FrameDecoder()
    one, two = (sandbox_frames.encode(sandbox_frames.Result(id=i, ok=True)) for i in (1, 2))
    assert [sandbox_frames.Result(id=1, ok=True)] == decoder.feed(one + two[:3])
    assert 3 == decoder.pending
    assert [sandbox_frames.Result(id=2, ok=True)] == decoder.feed(two[3:])


@pytest.mark.parametrize("whole", [True, False])
def test_oversized_length_is_a_protocol_error_on_both_wires(whole):
    body = b"\x80" * 64
    data = HEADER.pack(len(body)) + body if whole else HEADER.pack(len(body)) + body[:10]
    with pytest.raises(sandbox_frames.ProtocolError, match="over the 32 byte limit"):
        sandbox_frames.FrameDecoder(max_frame=32).feed(data)
    with pytest.raises(control.ProtocolError, match="over the 32 byte limit"):
        control.FrameDecoder(control.ClientFrame, max_frame=32).feed(data)


def test_a_malformed_body_kills_a_worker_but_is_answered_on_the_control_socket():
    body = b"\xc1"  # never valid msgpack
    data = HEADER.pack(len(body)) + body
    with pytest.raises(sandbox_frames.ProtocolError, match="malformed frame"):
        sandbox_frames.FrameDecoder().feed(data)
    [malformed] = control.FrameDecoder(control.ClientFrame).feed(data)
    assert isinstance(malformed, control.Malformed)
