"""Length-prefixed msgpack frames: a 4-byte big-endian length, then a msgspec body.

The control socket (`neuro._control`) and the sandbox wire (`neuro.sandbox._frames`)
both speak it; they differ only in what a body that fails to decode becomes.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

__all__ = ["HEADER", "FrameSplitter"]

HEADER = struct.Struct(">I")


class FrameSplitter:
    """Sans-io: feed bytes in, get decoded frames out.

    `kinds` is the type a body decodes to. A length over `max_frame` raises `too_large`
    (after that the stream cannot be re-synchronised); subclasses decide in `_decode` what
    a body that does not decode becomes."""

    too_large: type[Exception] = ValueError

    def __init__(self, kinds: Any, max_frame: int) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._decoder = msgspec.msgpack.Decoder(kinds)

    @property
    def pending(self) -> int:
        """Bytes of a frame not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Any]:
        if not self._buffer and len(data) >= 4:
            (length,) = HEADER.unpack_from(data)
            if len(data) == 4 + length and length <= self.max_frame:  # one whole frame: no copy
                return [self._decode(memoryview(data)[4:])]
        self._buffer += data
        frames: list[Any] = []
        while len(self._buffer) >= 4:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > self.max_frame:
                raise self.too_large(f"frame of {length:,} bytes is over the {self.max_frame:,} byte limit")
            if len(self._buffer) < 4 + length:
                break
            body = bytes(self._buffer[4:4 + length])
            del self._buffer[:4 + length]
            frames.append(self._decode(body))
        return frames

    def _decode(self, body: bytes | memoryview) -> Any:
        return self._decoder.decode(body)
