"""A drop folder's reports: from watchdog's thread, where they are reduced to the folder's
entries they touch, to the event loop, where each entry is marked for loading after its
quiet period (`settle` after close-write or a move, `debounce` otherwise).

`Reports` is mixed into `DropFolder` (kernel/_dropfolder.py), whose state it uses.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

import trio

from neuro._identity import is_excluded
from neuro._neurofile import is_neuro_entry as _is_neuro_file
from neuro._neurofile import shown_path

from ._dropapply import ACTOR

__all__ = ["Reports", "is_neuro_entry"]


def is_neuro_entry(folder: str, entry: str) -> bool:
    """A neuro file or folder (`_neurofile`), a net file (``NAME.net.toml``, issue 23: neuro.nets._drop), or a
    Neuro-Lang file (``NAME.neuro``, issue 30: neuro.lang._drop)."""
    return _is_neuro_file(folder, entry) or (entry.endswith((".net.toml", ".neuro")) and not entry.startswith((".", "_")))


class Reports:
    """Watchdog's reports, gathered under a lock and handed to trio in one call at a time."""

    path: str
    kernel: Any
    settle: float
    debounce: float
    _token: Any
    _reports: dict[tuple[str, str, bool], None]
    _reports_lock: threading.Lock
    _dirty: dict[str, float]
    _idle: trio.Event
    _wakeup: trio.Event
    _barriers: dict[str, trio.Event]
    _entries: dict[str, Any]
    _lost: bool
    _last_event: float
    rescan: Callable[[], None]  # DropFolder's: look at every entry again

    def _report(self, kind: str, paths: list[str]) -> None:
        """In the watchdog thread: hand a report to trio. Reports are reduced here to the
        folder's entries they touch, and gathered: a folder of 10^5 files moved in is 10^5
        events, but one entry, so the event loop does one entry's work, not 10^5."""
        items = []
        for i, path in enumerate(paths):
            if not path:
                continue
            rel = os.path.relpath(path, self.path)  # string work only: no system call
            if rel == ".." or rel.startswith(".." + os.sep):
                continue
            inner = rel.split(os.sep, 1)[1] if os.sep in rel else ""
            if inner and is_excluded(inner.replace(os.sep, "/")):
                continue  # a test, cache or dot-file inside a neuro's folder: never part of it
            items.append((kind, rel.split(os.sep)[0] if rel != "." else ".", i == 0))
        if kind == "overflow":
            items.append((kind, ".", True))
        with self._reports_lock:
            first = not self._reports
            for item in items:
                self._reports.setdefault(item, None)  # in order of arrival: a barrier comes after what preceded it
        if not first or not items:
            return
        # Post, never wait: a watchdog thread blocked on trio while trio stops the observer
        # (which needs that thread) would deadlock.
        try:
            self._token.run_sync_soon(self._on_reports)
        except (trio.RunFinishedError, RuntimeError):
            pass  # trio has gone away (shutdown)

    def _on_reports(self) -> None:
        with self._reports_lock:
            reports, self._reports = self._reports, {}
        self._last_event = time.time()
        now = trio.current_time()
        for kind, top, is_source in reports:
            if kind == "overflow":
                self.rescan()
                continue
            if top == ".":
                if kind in ("deleted", "moved") and is_source and not self._lost and not os.path.isdir(self.path):
                    self._lost = True  # the folder itself: its watch is gone until it comes back
                    self.kernel._event("drop.folder_lost", None, ACTOR, folder=shown_path(self.path),
                                       how=kind, running=sorted(e.name for e in self._entries.values()))
                continue
            if top in self._barriers:
                self._barriers[top].set()
                continue
            if kind == "modified":
                if top in self._dirty:  # still being written: its quiet period starts again
                    self._mark(top, now)
                continue
            if top in self._entries or is_neuro_entry(self.path, top) or self._refused(top):
                # A file created here is written next (close-write follows, and `modified`
                # pushes it back meanwhile); one moved in from elsewhere or a symlink made in
                # place has no later event, so it loads after the longer quiet period.
                quiet = self.settle if kind in ("closed", "moved") else self.debounce
                self._mark(top, now + quiet - self.debounce)
        self._wake()

    def _mark(self, entry: str, when: float) -> None:
        self._dirty[entry] = when
        if self._idle.is_set():
            self._idle = trio.Event()

    def _refused(self, entry: str) -> bool:
        """An entry that looks like a neuro but must be refused with an error (not ignored)."""
        return ".." in entry and not entry.startswith(".")

    def _wake(self) -> None:
        self._wakeup.set()
