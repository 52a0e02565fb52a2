"""Sandboxes: where neuros run. `inproc` is built in; others register by name."""

from ._base import Backend, Worker
from ._inproc import InprocBackend

__all__ = ["Backend", "Worker", "InprocBackend", "default_backends"]


def default_backends() -> dict[str, Backend]:
    """The backends a kernel starts with when none are given."""
    return {"inproc": InprocBackend()}
