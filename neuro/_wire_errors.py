"""Exceptions to `Error` frames and back, so a client raises what the kernel raised.

A NeuroError travels by its class name plus its own fields (`data`), and comes back as the same
class; a RemoteError by its `cause`, the `ErrorInfo` every wire carries (root type, message,
traceback, neuro, path), so a client's `.cause` and `.path` are the kernel's; anything else
comes back as `ControlError`, carrying the type, source, path and traceback text of the
original.

Both ends use it: the control server and `ctx.kernel`'s grants (`to_frame`), the client and a
sandboxed neuro's `ctx.kernel` (`from_frame`, `reply_of`), so it lives below them all.
"""

from __future__ import annotations

import traceback as _tb
from typing import Any

import msgspec

import neuro._errors as _errors
from neuro._errors import DeadLetter, InvalidPayload, NeuroError, RemoteError

from neuro import _control as c

__all__ = ["ControlError", "to_frame", "from_frame", "reply_of"]


class ControlError(NeuroError):
    """The daemon (or the protocol) reported an error that is not one of Neuro's own.

    `type` is the original exception's type name, `source` who raised it, `path` the way the
    request travelled and `traceback` the original traceback text.
    """

    def __init__(self, type: str, message: str, source: str = "daemon", path: list[str] | None = None,
                 traceback: str = "") -> None:
        super().__init__(f"{type}: {message}" if type not in ("ProtocolError",) else message)
        self.type = type
        self.message = message
        self.source = source
        self.path = list(path or [])
        self.traceback = traceback


def to_frame(request_id: int | None, exc: BaseException, *, via: str = "daemon") -> c.Error:
    data: dict[str, Any] = {}
    source, path = via, [via]
    tb = "".join(_tb.format_exception(exc))
    if isinstance(exc, InvalidPayload):
        data["path"] = exc.path
    elif isinstance(exc, DeadLetter):
        data["reason"] = exc.reason
    elif isinstance(exc, RemoteError):
        data.update(neuro=exc.neuro, type=exc.type, message=exc.message)  # the older form of `cause`
        source, path, tb = exc.neuro, [via, *exc.path], exc.traceback
    elif isinstance(exc, ControlError):
        source, path, tb = exc.source, exc.path, exc.traceback
    report = getattr(exc, "report", None)
    if report is not None:
        data["report"] = msgspec.to_builtins(report)
        data["report_type"] = c.type_path(report)
    name = exc.type if isinstance(exc, ControlError) else type(exc).__name__
    cause = exc.cause if isinstance(exc, RemoteError) else None
    return c.Error(id=request_id, type=name, message=str(exc), source=source, path=path, traceback=tb, data=data,
                   cause=cause)


def from_frame(frame: c.Error) -> NeuroError:
    data = frame.data
    cls = getattr(_errors, frame.type, None)
    if cls is None:
        import neuro

        cls = getattr(neuro, frame.type, None) if frame.type in getattr(neuro, "__all__", ()) else None
    if not (isinstance(cls, type) and issubclass(cls, NeuroError)) or cls is ControlError:
        return ControlError(frame.type, frame.message, frame.source, frame.path, frame.traceback)
    if cls is RemoteError:
        if frame.cause is not None:
            return RemoteError.from_info(frame.cause)
        return RemoteError(data.get("neuro", frame.source), data.get("type", "Exception"),
                           data.get("message", frame.message), frame.traceback)
    if cls is InvalidPayload:
        return InvalidPayload(frame.message, path=data.get("path"))
    if cls is DeadLetter:
        return DeadLetter(frame.message, reason=data.get("reason", ""))
    report = c.revive(data["report"], data.get("report_type", "")) if "report" in data else None
    try:
        err = cls(frame.message, report) if report is not None else cls(frame.message)
    except TypeError:
        return ControlError(frame.type, frame.message, frame.source, frame.path, frame.traceback)
    if report is not None:
        err.report = report
    err.remote_traceback = frame.traceback
    return err


_reply_decoder = msgspec.msgpack.Decoder(c.Reply | c.Error)


def reply_of(raw: bytes) -> c.Reply:
    """The `Reply` that the kernel's `Granted.serve` sent to a sandbox; raises the error an
    `Error` frame holds."""
    frame = _reply_decoder.decode(raw)
    if isinstance(frame, c.Error):
        raise from_frame(frame)
    return frame
