"""The wire between the kernel and a sandboxed worker: length-prefixed msgpack frames.

Each frame is a 4-byte big-endian length, then a msgspec-msgpack encoding of one of the
tagged Structs below. Payloads travel as bytes already encoded by the kernel, so the worker
decodes them against the neuro's own types. A frame that is malformed, over MAX_FRAME, or
not what the protocol expects at that moment is a protocol violation: the kernel kills the
worker, never itself.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

from neuro._errorinfo import ErrorInfo
from neuro._framing import HEADER, FrameSplitter
from neuro._resources import Resources

__all__ = [
    "PROTOCOL", "MAX_FRAME", "Frame", "Hello", "Load", "Loaded", "Describe", "Described", "Call", "Result", "Hook",
    "CtxOp", "CtxResult", "Stop", "encode", "FrameDecoder", "ProtocolError",
]

PROTOCOL = 1
# A frame carries one message; the largest policy allows 64 MiB payloads, plus headroom.
MAX_FRAME = 80 << 20


class ProtocolError(Exception):
    """The other side sent something the protocol does not allow."""


class Hello(msgspec.Struct, tag="hello", forbid_unknown_fields=True):
    """worker -> kernel, first: who it is and which protocol it speaks."""

    protocol: int
    pid: int
    token: str = ""


class Load(msgspec.Struct, tag="load", forbid_unknown_fields=True):
    """kernel -> worker: import a neuro class and make an instance."""

    module: str
    qualname: str
    version: str = ""
    # The neuro's code (relative path -> bytes; a package folder's files under its name),
    # for neuros outside the installed packages. None: import `module` as installed.
    source: dict[str, bytes] | None = None
    gpu_memory: float = 0.0
    # Each declared artifact's path -> where its read-only file is inside the sandbox (the
    # backend binds it there), for `ctx.artifact`.
    artifacts: dict[str, str] = {}
    # What the neuro's policy grants it, for `ctx.resources` (the worker adds what it sees of
    # the machine: a GPU, its memory). None: a kernel that sends none; the neuro sees no grant.
    resources: Resources | None = None


class Loaded(msgspec.Struct, tag="loaded", forbid_unknown_fields=True):
    """worker -> kernel: the instance is ready (or why not)."""

    ok: bool
    version: str = ""
    error: str = ""


class Describe(msgspec.Struct, tag="describe", forbid_unknown_fields=True):
    """kernel -> worker: import a neuro's files and say what its manifest is, as data.
    `origin` is the folder its files are shown as coming from in errors."""

    source: dict[str, bytes]
    version: str
    origin: str = ""


class Described(msgspec.Struct, tag="described", forbid_unknown_fields=True):
    """worker -> kernel: the manifest (an encoded `Description`), or why the files do not load."""

    ok: bool
    description: bytes = b""
    error: str = ""
    file: str = ""
    line: int = 0
    traceback: str = ""


class Call(msgspec.Struct, tag="call", forbid_unknown_fields=True, omit_defaults=True):
    """kernel -> worker: serve one message (payload already validated by the kernel)."""

    id: int
    payload: bytes
    # The neuro's taint as the handler starts (`ctx.labels` in the sandbox); None: none, and
    # then not on the wire at all, as for most messages. CtxResult carries it too.
    labels: tuple[str, ...] | None = None


class Result(msgspec.Struct, tag="result", forbid_unknown_fields=True):
    """worker -> kernel: the reply to Call/Hook `id`, or the error it raised: `failure`, as
    the worker saw it (no neuro or path for its handler's own error; a relayed RemoteError's
    cause as it came). `error_type`, `error` and `traceback` are the older form of it, read
    when `failure` is None."""

    id: int
    ok: bool
    reply: bytes = b""
    error_type: str = ""
    error: str = ""
    traceback: str = ""
    failure: ErrorInfo | None = None


class Hook(msgspec.Struct, tag="hook", forbid_unknown_fields=True):
    """kernel -> worker: run a hook (snapshot, restore, sleep, selfcheck)."""

    id: int
    name: str
    arg: bytes = b""


class CtxOp(msgspec.Struct, tag="ctx", forbid_unknown_fields=True):
    """worker -> kernel: the neuro, while serving Call (or Hook) `call`, sends/calls/publishes,
    or makes a `ctx.kernel` request ("control": `payload` is a control request frame; the
    reply is the encoded Reply or Error frame, which the kernel answers with ok=True)."""

    id: int
    call: int
    op: str  # "send" | "call" | "publish" | "progress" | "control" | "background" | "background_end" | "artifact_*"
    to: str
    payload: bytes
    timeout: float | None = None


class CtxResult(msgspec.Struct, tag="ctx_result", forbid_unknown_fields=True, omit_defaults=True):
    """kernel -> worker: the outcome of CtxOp `id`. An error is `failure` (a neuro's, placed:
    relayed as RemoteError; or the kernel's refusal, unplaced), or else `error_type` and
    `error`, the older form."""

    id: int
    ok: bool
    reply: bytes = b""
    error_type: str = ""
    error: str = ""
    reply_type: str = ""  # "module:qualname" of the reply's type, so the worker can decode it
    failure: ErrorInfo | None = None
    labels: tuple[str, ...] | None = None  # the neuro's taint now: a reply may have added to it


class Stop(msgspec.Struct, tag="stop", forbid_unknown_fields=True):
    """kernel -> worker: finish and exit."""


Frame = Union[Hello, Load, Loaded, Describe, Described, Call, Result, Hook, CtxOp, CtxResult, Stop]

_encoder = msgspec.msgpack.Encoder()


def encode(frame: Any) -> bytes:
    body = _encoder.encode(frame)
    return HEADER.pack(len(body)) + body


class FrameDecoder(FrameSplitter):
    """Feed bytes in, get whole frames out; raises ProtocolError on anything malformed."""

    too_large = ProtocolError

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        super().__init__(Frame, max_frame)

    def _decode(self, body: bytes | memoryview) -> Any:
        try:
            return self._decoder.decode(body)
        except msgspec.DecodeError as e:
            raise ProtocolError(f"malformed frame: {e}") from None
