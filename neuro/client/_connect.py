"""Making a client: `connect` (the daemon's socket, or an embedded kernel) and `blocking`
(a raw client on a blocking socket, for code without an event loop: the CLI)."""

from __future__ import annotations

import os
import sys
from typing import Any

from ._client import Client
from ._transport import AsyncioTransport, BlockingTransport, Local, TrioTransport, default_socket

__all__ = ["connect", "blocking", "run_blocking"]


def connect(path: str | None = None, *, embedded: bool = False, home: str | None = None, raw: bool = False,
            client: str = "", **kernel_options: Any) -> Client:
    """A client, used as ``async with neuro.connect() as client``.

    `path` is the daemon's control socket (default ``$NEURO_HOME/control.sock``, NEURO_HOME
    defaulting to ``~/.neuro``; `home` picks another state folder). With `embedded` a kernel
    starts in this process, from trio or asyncio (as a trio guest run on the asyncio loop), with
    `kernel_options` (``log=``, ``policy_dirs=``, ...).
    Under `neuro run --embedded` (``NEURO_SESSION=embedded``) a plain ``connect()`` is embedded.
    """
    if not embedded and path is None and os.environ.get("NEURO_SESSION") == "embedded":
        embedded = True
    if embedded:
        if path is not None:
            raise TypeError("connect(embedded=True) starts its own kernel; it takes no socket path")
        from ._guest import Embedded  # under asyncio, trio's guest mode

        return Client(Embedded(Local(**kernel_options)), raw=raw)
    if kernel_options:
        raise TypeError(f"kernel options ({', '.join(kernel_options)}) only apply with embedded=True")
    return Client(_Auto(_socket(path, home), client or _me()), raw=raw)


def _socket(path: str | None, home: str | None) -> str:
    """The control socket's path; a state folder that is a file, or a path too long for a Unix
    socket, is a StateFolderError here (saying what to do), not an OSError at connect time."""
    from neuro._home import check_home, check_socket_path

    if path is not None:
        return check_socket_path(path)
    check_home(home)
    return default_socket(home)


def _me() -> str:
    return f"{os.path.basename(sys.argv[0] or 'python')}[{os.getpid()}]"


class _Auto:
    """Picks the trio or asyncio transport for the loop `open()` runs in."""

    remote = True

    def __init__(self, path: str, client: str) -> None:
        self.path, self.client = path, client
        self.inner: Any = None

    async def open(self) -> None:
        import sniffio

        flavour = sniffio.current_async_library()
        self.inner = (TrioTransport if flavour == "trio" else AsyncioTransport)(self.path, self.client)
        await self.inner.open()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def blocking(path: str | None = None, *, home: str | None = None, timeout: float | None = None) -> Client:
    """A raw client (plain data results) on a blocking socket, for code without an event loop:
    each method's coroutine never suspends, so `run_blocking` runs it to completion.

        client = blocking(home="/tmp/state", timeout=10)
        run_blocking(client.__aenter__())
        rows = run_blocking(client.ps())
    """
    return Client(BlockingTransport(_socket(path, home), "neuro-cli", timeout), raw=True)


def run_blocking(coro: Any) -> Any:
    """Run a coroutine of a `blocking()` client to completion: it never suspends, so no loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a blocking client's coroutine suspended; it must not await a loop")
