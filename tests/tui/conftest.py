"""Helpers for the shell's tests: an app on a real embedded kernel with real neuros, driven by
textual's Pilot, and a bounded wait for what the screen should come to show."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

import pytest

pytest.importorskip("textual")

from neuro.shell.tui._app import ShellApp  # noqa: E402
from neuro.shell.tui._source import Source  # noqa: E402

SIZE = (200, 50)


async def until(pilot: Any, condition: Callable[[], Any], seconds: float = 10.0,
                shown: Callable[[], Any] | None = None) -> Any:
    """Let the app run until `condition()` is true (a bounded wait: the test fails past it,
    saying what `shown()` gives then, for a failure seen once in many runs)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await pilot.pause(0.02)
    seen = f"; it shows {shown()!r}" if shown is not None else ""
    raise AssertionError(f"the app never came to {getattr(condition, '__name__', 'the condition')!r} in {seconds} s"
                         f"{seen}")


@asynccontextmanager
async def shell(tmp_path: Any, *spawn: str, refresh: float = 0.1, screen: str = "processes") -> AsyncIterator[Any]:
    """A ShellApp on an embedded kernel (log in `tmp_path`) that spawned `spawn`, ready."""
    app = ShellApp(Source(embedded=True, log=str(tmp_path / "log.db"), spawn=spawn), refresh=refresh, screen=screen)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 20)
        await asyncio.wait_for(app.subscribed.wait(), 20)  # kernel events reach the screens from here on
        await until(pilot, lambda: len(app.views()) == 7)  # the screens not shown mount just after the first frame
        processes = app.view("processes")
        table = processes.query_one("#proc-table")
        await until(pilot, lambda: len(processes.model.cells) == len(spawn) == len(table.rows))
        await until(pilot, lambda: app.focused is not None and app.shown_view() in app.focused.ancestors)
        yield app, pilot


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))
