"""The errors a client raises beyond the kernel's own.

    NeuroError                    (neuro._errors: every error of Neuro's derives from it)
     +-- the kernel's errors      InvalidPayload, NoSuchNeuro, RemoteError, SwapFailed, ...:
     |                            raised by a client as the kernel raised them
     +-- ControlError             the daemon or the protocol reported an error that is not
     |                            one of Neuro's own (`type`, `source`, `path`, `traceback`)
     +-- DaemonNotRunning         no daemon answers on the socket (also a ConnectionError)
"""

from __future__ import annotations

from neuro._errors import NeuroError
from neuro._wire_errors import ControlError

__all__ = ["ControlError", "DaemonNotRunning"]


class DaemonNotRunning(NeuroError, ConnectionError):
    """No daemon answers on the control socket; start one with `neuro daemon start`."""
