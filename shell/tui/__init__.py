"""`neuro shell`: the textual shell, a live view of the kernel with every action a keystroke away.

It attaches to the running daemon (``neuro.connect()``) or, with ``--embedded``, runs a kernel
in this process as a trio guest run on textual's asyncio loop; either way it talks to the
kernel only through the client API (`neuro.client.Client`). textual is imported only here and
below, so the rest of the CLI never pays for it.

Names:
- `ShellApp`: the textual app (screens: processes, log, call, versions, policies, dream, nets)
- `Source`: where the shell's client comes from (the daemon's socket, or an embedded kernel)
- `main`: run the app from parsed `neuro shell` options; returns an exit code
"""

from __future__ import annotations

from typing import Any

__all__ = ["ShellApp", "Source", "main"]


def __getattr__(name: str) -> Any:
    if name == "ShellApp":
        from ._app import ShellApp

        return ShellApp
    if name == "Source":
        from ._source import Source

        return Source
    raise AttributeError(f"module 'neuro.shell.tui' has no attribute {name!r}")


def main(*, embedded: bool = False, home: str | None = None, socket: str | None = None, log: str | None = None,
         spawn: tuple[str, ...] = (), refresh: float = 1.0, screen: str = "processes", preview: Any = None) -> int:
    """Run the shell until the user quits; 0 when it ends normally. `preview` (a `_preview.Preview`)
    is a first look at the daemon's process table, drawn before the client connects."""
    from ._app import ShellApp
    from ._source import Source

    app = ShellApp(Source(embedded=embedded, home=home, socket=socket, log=log, spawn=spawn, preview=preview),
                   refresh=refresh, screen=screen)
    app.run()
    return app.return_code or 0
