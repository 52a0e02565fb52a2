"""The watchdog side of a drop folder: an inotify observer on the folder (recursive, for
package folders) whose queue overflows are reported too, and which reports a folder moved in
as that folder's own events, not one made-up event per file in it.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["make_observer"]


def make_observer(drop: Any) -> Any:
    """A watchdog observer on the folder (recursive, for package folders) whose inotify
    queue overflows are reported too."""
    from watchdog.events import (
        DirDeletedEvent, DirMovedEvent, FileClosedEvent, FileCreatedEvent, FileDeletedEvent,
        FileModifiedEvent, FileMovedEvent, FileSystemEventHandler, DirCreatedEvent,
    )
    from watchdog.observers import Observer

    kinds = {FileClosedEvent: "closed", FileMovedEvent: "moved", DirMovedEvent: "moved",
             FileCreatedEvent: "created", DirCreatedEvent: "created", FileDeletedEvent: "deleted",
             DirDeletedEvent: "deleted", FileModifiedEvent: "modified"}

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            kind = kinds.get(type(event))
            if kind is not None:
                drop._report(kind, [os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")])

    observer = Observer()
    _report_overflows(observer, lambda: drop._report("overflow", []))
    observer.schedule(Handler(), drop.path, recursive=True)
    return observer


def _report_overflows(observer: Any, on_overflow: Any) -> None:
    """Make an inotify observer call `on_overflow` when the kernel's event queue overflowed.
    (watchdog rebuilds its watches then but tells no handler.) Other platforms: no-op."""
    try:
        from watchdog.events import DirCreatedEvent, DirModifiedEvent, DirMovedEvent
        from watchdog.observers.inotify import InotifyEmitter, InotifyWatchGroup
        from watchdog.observers.inotify_move_event_grouper import PathedInotifyEvent
    except ImportError:  # pragma: no cover - not Linux
        return
    emitter_class = getattr(observer, "_emitter_class", None)
    if not (isinstance(emitter_class, type) and issubclass(emitter_class, InotifyEmitter)):
        return

    class Group(InotifyWatchGroup):
        def on_queue_overflow(self) -> None:
            super().on_queue_overflow()
            on_overflow()

    class Emitter(emitter_class):  # type: ignore[misc, valid-type]
        def on_thread_start(self) -> None:  # InotifyEmitter's, with the Group above
            self._inotify = Group(self._inotify_fd, os.fsencode(self.watch.path),
                                  is_recursive=self.watch.is_recursive,
                                  event_mask=self.get_event_mask_from_filter(),
                                  follow_symlink=self.watch.follow_symlink)

        def build_and_queue_event(self, event: Any, *, full_events: bool = False) -> None:
            # A folder moved in or within: the folder's own events, without watchdog's made-up
            # `created` (or `moved`) for each file in it. They name the same entries, and a
            # package of 10^5 files would be 10^5 events whose handling holds the GIL from
            # the event loop. Its watches are in place all the same (the watch group adds them).
            if not isinstance(event, PathedInotifyEvent):  # a move within: (from, to)
                move_from, move_to = event
                if move_from.ev.is_directory:
                    source, target = self._decode_path(move_from.path), self._decode_path(move_to.path)
                    for made in (DirMovedEvent(source, target), DirModifiedEvent(os.path.dirname(source)),
                                 DirModifiedEvent(os.path.dirname(target))):
                        self.queue_event(made)
                    return
            elif event.ev.is_moved_to and event.ev.is_directory and not full_events:
                path = self._decode_path(event.path)
                self.queue_event(DirCreatedEvent(path))
                self.queue_event(DirModifiedEvent(os.path.dirname(path)))
                return
            super().build_and_queue_event(event, full_events=full_events)

    observer._emitter_class = Emitter

