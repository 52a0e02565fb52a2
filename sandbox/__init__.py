"""Sandboxes: where neuros run. `inproc` is built in; others register by name."""

from ._base import Backend, Worker
from ._inproc import InprocBackend

__all__ = ["Backend", "Worker", "InprocBackend", "default_backends"]


def default_backends() -> dict[str, Backend]:
    """The backends a kernel starts with. Each checks what it needs (bubblewrap, a Docker
    daemon) when first used, and says how to install it if it is missing."""
    from ._docker import DockerBackend
    from ._process import ProcessBackend

    return {"inproc": InprocBackend(), "process": ProcessBackend(), "docker": DockerBackend()}
