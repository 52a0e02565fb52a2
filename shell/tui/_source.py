"""Where the shell's client comes from: the daemon's control socket, or a kernel of its own.

The shell holds one `Client` at a time. Over the socket the daemon may go away (stopped,
restarted, crashed); the app then drops its client, shows a banner, and asks `open` for a new
one until a daemon answers again. An embedded kernel lives as long as the app.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from neuro.client import Client

__all__ = ["Source", "LOST"]

#: The errors that mean the connection to the kernel is gone (DaemonNotRunning is a
#: ConnectionError; KernelClosed is the embedded kernel stopping under a call).
LOST: tuple[type[BaseException], ...] = (ConnectionError, OSError)


def _lost_types() -> tuple[type[BaseException], ...]:
    from neuro._errors import KernelClosed

    return (*LOST, KernelClosed)


class Source:
    """How to make the shell's client.

    `embedded` starts a kernel in the process (with `log`, its event log file, and the neuros in
    `spawn`, each ``module:Class`` or a file path, started when it opens); otherwise the client
    attaches to the daemon at `socket` (default: ``$NEURO_HOME/control.sock``, `home` picking
    another state folder). `factory` replaces both (a test's client of fixed data). `preview`
    is a `_preview.Preview` of the daemon's process table, taken while textual imported."""

    def __init__(self, *, embedded: bool = False, home: str | None = None, socket: str | None = None,
                 log: str | None = None, spawn: tuple[str, ...] | list[str] = (),
                 factory: Callable[[], Any] | None = None, kernel_options: dict[str, Any] | None = None,
                 preview: Any = None) -> None:
        if embedded and socket:
            raise ValueError("--embedded runs a kernel of its own; it takes no --socket")
        if spawn and not embedded and factory is None:
            raise ValueError("--spawn starts neuros in an embedded kernel; add --embedded "
                             "(or start them in the daemon with `neuro spawn`)")
        self.embedded, self.home, self.socket, self.log = embedded, home, socket, log
        self.spawn = tuple(spawn)
        self.factory = factory
        self.kernel_options = dict(kernel_options or {})
        self.lost_errors = _lost_types()
        self.preview = preview  # a first `ps` answer (`_preview.Preview`), drawn before the client connects

    @property
    def reconnects(self) -> bool:
        """Whether a lost connection is worth trying again (a daemon may come back)."""
        return not self.embedded and self.factory is None

    def describe(self) -> str:
        if self.factory is not None:
            return "fixed data"
        if self.embedded:
            return f"embedded kernel (log {self.log})" if self.log else "embedded kernel (no log)"
        if self.socket:
            return f"daemon at {self.socket}"
        from neuro._home import neuro_home

        return f"daemon at {os.path.join(self.home or neuro_home(), 'control.sock')}"

    def open(self) -> Client:
        """A new client, not yet entered (``await client.__aenter__()`` connects)."""
        from neuro.client import connect  # here, not at the top: the first frame does not wait for it

        if self.factory is not None:
            return self.factory()
        if self.embedded:
            return connect(embedded=True, log=self.log, **self.kernel_options)
        return connect(self.socket, home=self.home, client="neuro-shell")

    async def prepare(self, client: Client) -> None:
        """What an embedded kernel starts with: the neuros of `spawn`, in order."""
        for spec in self.spawn:
            await client.spawn(spec)
