"""The one error record every wire carries, and how it grows as it travels back.

`ErrorInfo` is what an error is between processes and into the log: the kernel's reply to a
caller, the sandbox worker's `Result` and `CtxResult` frames, the control socket's `Error`
frame and the CLI's ``--json`` error all hold one, as tractor's `Error` message carries its
`relay_path`. It names the root cause: its type (qualified name), message and traceback, the
neuro whose handler raised it (`neuro`) and the neuros the call went through (`path`,
outermost first).

A client calls `a`, `a` calls `b`, `b` raises KeyError::

    b's handler     ErrorInfo(type="KeyError", neuro="b", path=["b"])     b's outcome
    a's handler     RemoteError(neuro="b", path=["b"])                  a did not catch it
    a's outcome     ErrorInfo(type="KeyError", neuro="b", path=["a", "b"])
    the client      RemoteError: .cause.type == "KeyError", .path == ["a", "b"]

Inside a sandbox the worker does not know the name the kernel runs it under: it reports an
error its handler raised with no `neuro` and an empty `path`, and an error it relays (a
RemoteError it did not catch) as it received it; the kernel then adds the hop (`relayed`).
"""

from __future__ import annotations

import builtins

import msgspec

from neuro import _errors

__all__ = ["ErrorInfo", "type_name", "error_info", "relayed", "revive"]


class ErrorInfo(msgspec.Struct, forbid_unknown_fields=True):
    """An error as it travels back to a caller and into the log.

    `type` is the root cause's qualified type name (``KeyError``, ``mypkg.errors.Refused``),
    `neuro` the neuro whose handler raised it and `path` the neuros the failed call travelled
    through, outermost first, `neuro` last. Empty `neuro` and `path`: raised where it is
    reported, not yet placed (a sandbox worker's report, a kernel error for a ctx operation).
    """

    type: str
    message: str
    traceback: str = ""
    neuro: str = ""
    path: list[str] = []


def type_name(exc: BaseException) -> str:
    """`exc`'s qualified type name: ``KeyError`` for a builtin, ``Reject`` for Neuro's."""
    t = type(exc)
    if t is _errors.Reject:
        return "Reject"
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def error_info(exc: BaseException, traceback: str = "") -> ErrorInfo:
    """`exc` as an ErrorInfo: a RemoteError is the root cause it carries, relayed; anything
    else was raised here, with `traceback` (neither placed: see `relayed`)."""
    if isinstance(exc, _errors.RemoteError):
        return exc.cause
    return ErrorInfo(type=type_name(exc), message=str(exc), traceback=traceback)


def relayed(info: ErrorInfo, through: str) -> ErrorInfo:
    """`info` one hop further back: raised by neuro `through`'s handler (an unplaced
    `info`), or passing through it on its way to the caller."""
    if info.path:
        return ErrorInfo(type=info.type, message=info.message, traceback=info.traceback,
                         neuro=info.neuro, path=[through, *info.path])
    return ErrorInfo(type=info.type, message=info.message, traceback=info.traceback, neuro=through, path=[through])


def revive(info: ErrorInfo) -> Exception | None:
    """The exception a caller raises for `info`: RemoteError for an error a neuro raised
    (placed), the kernel's own exception for one it refused with (``NoSuchNeuro``,
    ``CallTimeout``, ``TypeError``: unplaced); None when that type cannot be made here."""
    if info.path:
        return _errors.RemoteError.from_info(info)
    module, _, name = info.type.rpartition(".")
    cls = getattr(_errors, name, None) if module == "neuro._errors" or name == "Reject" else (
        getattr(builtins, name, None) if not module else None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        return None
    if cls is _errors.DeadLetter:  # its reason ends its message (Router._dead)
        return cls(info.message, reason=info.message.rpartition("dead-lettered: ")[2])
    try:
        return cls(info.message)
    except TypeError:  # one that needs more than a message
        return None
