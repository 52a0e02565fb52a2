"""What the commands that talk to the daemon share: a blocking session, payloads, output."""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

from neuro.client import blocking, run_blocking


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


def parse_payload(parts: list[str]) -> Any:
    """A payload from the command line: one JSON document, or key=value pairs (each value
    read as JSON when it is JSON, else as a string). Raises ValueError saying what is wrong."""
    from .cli import EXIT_USAGE, Problem

    if not parts:
        return {}
    if len(parts) == 1 and (parts[0][:1] in ("{", "[", '"') or "=" not in parts[0]):
        try:
            return json.loads(parts[0])
        except json.JSONDecodeError as e:
            raise Problem(f"the payload is not valid JSON ({e.msg} at column {e.colno}): {parts[0]!r}",
                          code=EXIT_USAGE, type="UsageError",
                          hint="give JSON like '{\"text\": \"hi\"}' or key=value pairs like text=hi") from None
    out: dict[str, Any] = {}
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise Problem(f"expected key=value, got {part!r}", code=EXIT_USAGE, type="UsageError",
                          hint="give JSON like '{\"text\": \"hi\"}' or key=value pairs like text=hi")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def parse_since(text: str) -> float:
    """A time: seconds since the epoch, an ISO date/time, or an age like 30s, 5m, 2h, 1d."""
    import argparse
    import datetime as dt

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
            return time.time() - float(text[:-1]) * units[text[-1]]
        if text.replace(".", "", 1).isdigit():
            return float(text)
        when = dt.datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.astimezone()
        return when.timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an age (30s, 5m, 2h, 1d), epoch seconds or an ISO time, got {text!r}") from None


def print_value(value: Any, *, as_json: bool) -> None:
    """One result: JSON, or `key  value` lines for a mapping, or the value itself."""
    if as_json:
        print(json.dumps(value, indent=2, default=str))
    elif isinstance(value, dict):
        width = max(map(len, value), default=0)
        for key, item in value.items():
            text = json.dumps(item, default=str) if isinstance(item, (dict, list)) else item
            print(f"{key:<{width}}  {text}")
    else:
        print(value if isinstance(value, str) else json.dumps(value, default=str))


def when(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"
