"""The exceptions Neuro raises, in one tree.

    NeuroError                     anything Neuro raises on purpose
    ├── ManifestError              a neuro declaration is invalid (names the field and the fix)
    ├── NoSuchNeuro                no running neuro has that name
    ├── AlreadyRunning             a neuro of that name is already running
    ├── InvalidPayload             a payload fails the recipient's input type (names the field path)
    ├── MessageTooLarge            a payload is bigger than the recipient's policy allows
    ├── MailboxFull                the recipient's mailbox is full and its policy rejects
    ├── RateLimited                the sender is over the recipient's message rate
    ├── PolicyError                a policy file or override is invalid (names file, key, expectation)
    ├── CallTimeout                no reply before the deadline, or the handler ran past its
    │                              policy's wall time (also a TimeoutError)
    ├── DeadLetter                 the message was dead-lettered; `.reason` says why
    ├── RemoteError                a neuro's handler raised, there or further along the call;
    │                              `.cause` is the root error, `.path` the neuros it went through
    ├── Reject                     raised by a handler to refuse one message without crashing
    ├── SwapFailed                 a new version did not go live; `.report` says where and why
    ├── KernelClosed               the kernel is shutting down or has stopped
    ├── LogError                   the event log could not be written or read
    ├── SettingError               an environment variable Neuro reads has a bad value
    ├── FlowRefused                labelled data may not go where it was sent (names the label
    │                              and the rule; also a PermissionError)
    └── EnergyExceeded             a neuro is over its policy's energy budget and its rule rejects

An error a neuro's handler raised travels back as one record on every wire (an `ErrorInfo`
in `neuro._errorinfo`: kernel replies, sandbox frames, the control socket, the CLI's
``--json``), so the caller sees the root cause however many neuros and processes it crossed:
the client calls `a`, `a` calls `b`, `b` raises KeyError, and the client's RemoteError has
``.cause.type == "KeyError"``, ``.cause.neuro == "b"`` and ``.path == ["a", "b"]``. An error
a handler does not catch crashes its neuro (OTP's rule), a relayed RemoteError included; a
handler that catches RemoteError carries on.

A message that fails at the boundary (unknown recipient, invalid payload, too large) is
refused before it is accepted: it gets no id and no outcome row, only a `message.rejected` event.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from ._errorinfo import ErrorInfo

__all__ = [
    "NeuroError",
    "ManifestError",
    "NoSuchNeuro",
    "AlreadyRunning",
    "InvalidPayload",
    "MessageTooLarge",
    "MailboxFull",
    "RateLimited",
    "PolicyError",
    "CallTimeout",
    "DeadLetter",
    "RemoteError",
    "Reject",
    "SwapFailed",
    "KernelClosed",
    "LogError",
    "SettingError",
    "FlowRefused",
    "EnergyExceeded",
]


class NeuroError(Exception):
    """Base of every exception Neuro raises on purpose."""


class ManifestError(NeuroError):
    """A neuro declaration is invalid: the message names the neuro, the field and the fix."""


class NoSuchNeuro(NeuroError, LookupError):
    """No running neuro has the requested name."""


class AlreadyRunning(NeuroError):
    """A neuro with the requested name is already running."""


class InvalidPayload(NeuroError, ValueError):
    """A payload fails the recipient's input type.

    `path` is the JSON path of the offending field (for example ``$.text``), when known.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class MessageTooLarge(NeuroError, ValueError):
    """A payload is larger than the recipient's policy allows."""


class MailboxFull(NeuroError):
    """The recipient's mailbox is full and its overflow rule rejects new messages."""


class RateLimited(NeuroError):
    """The sender is over the recipient's message rate and its policy rejects (`on_rate`)."""


class PolicyError(NeuroError, ValueError):
    """A policy file or override is invalid: names the file, the key and what was expected."""


class CallTimeout(NeuroError, TimeoutError):
    """A call got no reply before its deadline."""


class DeadLetter(NeuroError):
    """A message ended as a dead letter; `reason` says why (for example ``shutdown``)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class RemoteError(NeuroError):
    """A neuro's handler raised: the one called, or one further along the call.

    `cause` is the root error as it travelled (an `ErrorInfo`); `neuro`, `type`, `message`
    and `traceback` are its fields: the neuro whose handler raised it, the exception's
    qualified type name, its text and the traceback from where it was raised. `path` lists
    the neuros the call went through, outermost first: the client calls `a`, `a` calls `b`,
    `b` raises KeyError, and the client gets ``neuro == "b"``, ``type == "KeyError"``,
    ``path == ["a", "b"]``.
    """

    def __init__(self, neuro: str, type: str, message: str, traceback: str,
                 path: list[str] | None = None) -> None:
        self.path = list(path) if path else [neuro]
        via = f" (call path: {' -> '.join(self.path)})" if len(self.path) > 1 else ""
        super().__init__(f"{neuro} raised {type}: {message}{via}")
        self.neuro = neuro
        self.type = type
        self.message = message
        self.traceback = traceback

    @property
    def cause(self) -> ErrorInfo:
        """The root error as the wire carries it: type, message, traceback, neuro, path."""
        from ._errorinfo import ErrorInfo  # msgspec: not for `neuro ps`'s lean start-up

        return ErrorInfo(type=self.type, message=self.message, traceback=self.traceback, neuro=self.neuro,
                         path=list(self.path))

    @classmethod
    def from_info(cls, info: ErrorInfo) -> RemoteError:
        """The RemoteError a caller raises for `info`, a placed error (one with a path)."""
        return cls(info.neuro, info.type, info.message, info.traceback, info.path)


class SwapFailed(NeuroError):
    """A new version did not go live; the old one keeps serving. `report` is the SwapReport:
    the stage that failed and the error with its file, line and traceback."""

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


class Reject(NeuroError, ValueError):
    """Raise in a handler to refuse one message (bad input, say): the caller gets the error
    as a RemoteError of type ``Reject``, and the instance keeps its state. Any other
    exception crashes the instance, which its supervisor restarts fresh."""


class KernelClosed(NeuroError):
    """The kernel is shutting down or has stopped, and accepts no new work."""


class LogError(NeuroError):
    """The event log could not be written or read."""


class SettingError(NeuroError, ValueError):
    """An environment variable Neuro reads has a bad value; the message names it and what it
    takes."""


class FlowRefused(NeuroError, PermissionError):
    """Labelled data may not go where it was sent: `label` is the label, `rule` the policy rule
    that refused it (``clearance``, ``egress.network``, ``egress.ray``, ``egress.files``,
    ``egress.clients`` or ``declassify``), `neuro` the neuro it would have reached. The
    attempt is a `flow.refused` event (docs/privacy.md)."""

    def __init__(self, message: str, label: str = "", rule: str = "", neuro: str = "") -> None:
        super().__init__(message)
        self.label = label
        self.rule = rule
        self.neuro = neuro


class EnergyExceeded(NeuroError):
    """The neuro is over its policy's energy budget (`energy.per_hour` or `per_message`) and
    its rule is ``reject``: the message was not accepted (docs/energy.md)."""
