"""Reload policies when their files change: watchdog reports, the kernel reloads.

Editors save in several steps (truncate, write, rename), so reports are gathered for a short
quiet period before one reload; a half-written file in between is never applied.

Only a real change reloads, once: reports of a file opened or read (the reload's own reads
among them, which used to start the next reload, 10-20 a second for ever) are ignored, and
after the quiet period `stale` compares each file's content hash with what was loaded.
"""

from __future__ import annotations

import os
from typing import Any, Awaitable, Callable

import trio

__all__ = ["PolicyWatch"]

QUIET = 0.1  # seconds without a new report before reloading
# watchdog's reports of a file read, not written: a reload reading the files makes them.
_READS = frozenset({"opened", "closed_no_write"})


class PolicyWatch:
    """Calls `reload` once per real change of a policy file in `folders`; `stale` (blocking,
    run in a thread) says whether the files differ from what was loaded."""

    def __init__(self, folders: list[str], reload: Callable[[], Awaitable[Any]],
                 stale: Callable[[], bool] | None = None) -> None:
        self.folders = [f for f in folders if os.path.isdir(f)]
        self.reload = reload
        self.stale = stale
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
                if event.event_type in _READS:
                    return
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
            if self.stale is None or await trio.to_thread.run_sync(self.stale):
                await self.reload()

    def _notify(self) -> None:
        self._changed.set()

    def close(self) -> None:
        """Stop watchdog (call it off the trio thread); a second call does nothing."""
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=2)
