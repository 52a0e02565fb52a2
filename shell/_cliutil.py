"""What the commands that talk to the daemon share: a blocking session, times, output (payloads
are shell/_payload.py's)."""

from __future__ import annotations

import time
from typing import Any, Iterator

from neuro.client import blocking, run_blocking

from ._output import when  # one date format for every table (`2026-12-02 07:31:05.123`)

__all__ = ["Session", "ask_system_neuro", "neuro_spec", "parse_since", "when"]  # payloads: shell/_payload.py


class Session:
    """``with Session(args) as s: s.ps()``: the client API, run without an event loop."""

    def __init__(self, args: Any, timeout: float | None = None) -> None:
        self._client = blocking(home=args.home, timeout=timeout)

    def __enter__(self) -> Session:
        run_blocking(self._client.__aenter__())
        return self

    def __exit__(self, *exc: Any) -> None:
        run_blocking(self._client.__aexit__(None, None, None))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        return lambda *a, **kw: run_blocking(method(*a, **kw))

    def stream(self, name: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Items of a streaming method (`tail`, `subscribe`), blocking between them."""
        cm = getattr(self._client, name)(*args, **kwargs)
        items = run_blocking(cm.__aenter__())
        try:
            while True:
                try:
                    yield run_blocking(items.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            run_blocking(cm.__aexit__(None, None, None))


def ask_system_neuro(args: Any, name: str, spec: str, request: dict[str, Any],
                     timeout: float = 60.0) -> dict[str, Any]:
    """Call the daemon's system neuro `name` (``nets``, ``lang``) with `request` and return its
    reply as plain data; it is spawned from `spec`, trusted (it is the project's own code),
    when it does not run yet."""
    import msgspec

    from neuro import NoSuchNeuro

    with Session(args) as s:
        try:
            s.info(name)
        except NoSuchNeuro:
            try:
                s.spawn(spec, trusted=True)
            except Exception as e:  # noqa: BLE001 - another client may have spawned it meanwhile
                if "already running" not in str(e):
                    raise
        reply = s.call(name, request, timeout=timeout)
    return reply if isinstance(reply, dict) else msgspec.to_builtins(reply)


def neuro_spec(spec: str) -> str:
    """A NEURO argument (`module:Class`, `path.py[:Class]`, a folder) for the daemon, which
    runs elsewhere: a path made absolute; a path that does not exist is NotFound (exit 5)."""
    import os

    from .cli import EXIT_NOT_FOUND, Problem

    path = spec.split(":")[0]
    if os.path.exists(path):
        return os.path.abspath(path) + spec[len(path):]
    if path.endswith(".py") or os.sep in path or path.startswith("."):
        raise Problem(f"no neuro file or folder at {path}", code=EXIT_NOT_FOUND, type="NotFound",
                      hint="give the path of a .py file or package folder, or `module:Class`")
    return spec


def parse_since(text: str) -> float:
    """A time for an argparse option: an age (30s, 5m, 2h, 1d), today, yesterday, a time of
    day (12:30), an ISO date or date-time, or epoch seconds (`_logcli_read.parse_when`, which
    the lean `neuro logs` reads its --since and --until with)."""
    import argparse

    from ._logcli_read import parse_when

    try:
        return parse_when(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
