"""The first look at the daemon's process table, taken while textual is still importing.

Importing textual, the client API and the kernel's types costs several times what answering
`ps` does, so `neuro shell` asks the daemon for its process table first, on a thread, over the
lean path's blocking socket (`neuro.shell._lean.request`: msgpack frames, no msgspec, no
trio), and the Processes screen draws its first frame from that answer. The full client
connects after that frame and takes over; its first `ps()` replaces these rows (cells that
are the same are not redrawn).

No textual here: it runs before textual is imported.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

__all__ = ["Preview"]

# The fields of a ProcessInfo the process table reads, with the value an older daemon omits.
_DEFAULTS = {"error": "", "in_flight": 0, "busy_time": 0.0, "dead_letters": 0}


class Preview:
    """A `ps` answer from the daemon at `socket`, fetched on a thread as soon as it is made."""

    def __init__(self, socket: str) -> None:
        self._rows: list[dict[str, Any]] | None = None
        self._thread = threading.Thread(target=self._fetch, args=(socket,), name="neuro-shell-preview", daemon=True)
        self._thread.start()

    def _fetch(self, socket: str) -> None:
        from neuro.shell._lean import PS, request

        got = request(socket, PS, timeout=2.0)
        if got is not None and isinstance(got[1], list):
            self._rows = got[1]

    def infos(self, timeout: float = 0.5) -> list[Any] | None:
        """The processes as attribute records (the fields of `ProcessInfo`), or None when no
        daemon answered in time (the client then says why, in its own way)."""
        self._thread.join(timeout)
        if self._rows is None:
            return None
        return [SimpleNamespace(**{**_DEFAULTS, **row}) for row in self._rows if isinstance(row, dict)]
