"""Where Neuro keeps its state: one answer for every layer (the CLI, the daemon, the sandboxes),
and one check that a state folder can be used, so a bad one is a clear error where it is named
rather than an OSError deep in a socket call."""

from __future__ import annotations

import os

from ._errors import NeuroError

__all__ = ["neuro_home", "check_home", "check_socket_path", "StateFolderError", "SOCKET_PATH_MAX"]

# A Unix socket's path lives in sockaddr_un.sun_path: 108 bytes on Linux, one of them the NUL.
SOCKET_PATH_MAX = 107


class StateFolderError(NeuroError, ValueError):
    """The state folder ($NEURO_HOME or --home) cannot be used: it is a file, or its path is
    too long for the daemon's control socket. The message says which and what to do."""


def neuro_home() -> str:
    """``$NEURO_HOME``, else ``~/.neuro`` (not created here)."""
    return os.environ.get("NEURO_HOME") or os.path.join(os.path.expanduser("~"), ".neuro")


def check_home(home: str | os.PathLike[str] | None = None, *, socket: bool = True) -> str:
    """`home` (default: `neuro_home()`) as an absolute path, if it can be a state folder: not a
    file and (with `socket`) short enough for `control.sock` inside it; else StateFolderError."""
    path = os.path.abspath(os.path.expanduser(os.fspath(home) if home is not None else neuro_home()))
    if os.path.exists(path) and not os.path.isdir(path):
        raise StateFolderError(f"the state folder {path} is a file, not a folder; give --home (or $NEURO_HOME) "
                               "a folder, e.g. --home ~/.neuro")
    if socket:
        check_socket_path(os.path.join(path, "control.sock"))
    return path


def check_socket_path(path: str | os.PathLike[str]) -> str:
    """`path` if a Unix socket can live there; else StateFolderError saying by how much it is too long."""
    text = os.fspath(path)
    size = len(os.fsencode(text))
    if size > SOCKET_PATH_MAX:
        raise StateFolderError(f"the control socket's path {text} is {size} bytes, more than a Unix socket allows "
                               f"({SOCKET_PATH_MAX}); use a state folder with a shorter path, e.g. --home "
                               "/tmp/neuro (or set $NEURO_HOME)")
    return text
