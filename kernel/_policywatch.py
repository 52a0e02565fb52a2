"""Reload policies when their files change: watchdog reports, the kernel reloads.

Editors save in several steps (truncate, write, rename), so reports are gathered for a short
quiet period before one reload; a half-written file in between is never applied.
"""

from __future__ import annotations

import os
from typing import Any, Awaitable, Callable

import trio

__all__ = ["PolicyWatch"]

QUIET = 0.1  # seconds without a new report before reloading


class PolicyWatch:
    def __init__(self, folders: list[str], reload: Callable[[], Awaitable[Any]]) -> None:
        self.folders = [f for f in folders if os.path.isdir(f)]
        self.reload = reload
        self._observer: Any = None
        self._changed = trio.Event()

    async def run(self) -> None:
        if not self.folders:
            return
        try:
            await self._watch()
        finally:
            with trio.CancelScope(shield=True):  # stop watchdog off the trio thread
                await trio.to_thread.run_sync(self.close)

    async def _watch(self) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        token = trio.lowlevel.current_trio_token()
        watch = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                paths = [getattr(event, "src_path", ""), getattr(event, "dest_path", "")]
                if any(str(p).endswith(".toml") for p in paths):
                    # Post, never wait: a watchdog thread blocked on trio while trio stops the
                    # observer (which needs that thread) would deadlock.
                    try:
                        token.run_sync_soon(watch._notify)
                    except trio.RunFinishedError:
                        pass

        self._observer = Observer()
        for folder in self.folders:
            self._observer.schedule(Handler(), folder, recursive=False)
        self._observer.start()
        while True:
            await self._changed.wait()
            while True:  # wait for a quiet moment
                self._changed = trio.Event()
                with trio.move_on_after(QUIET) as quiet:
                    await self._changed.wait()
                if quiet.cancelled_caught:
                    break
            await self.reload()

    def _notify(self) -> None:
        self._changed.set()

    def close(self) -> None:
        """Stop watchdog (call it off the trio thread); a second call does nothing."""
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=2)
