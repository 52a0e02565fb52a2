"""Drop folders: a neuro file dropped in is spawned, changed is swapped, deleted is stopped.

    drop = DropFolder(kernel, "~/.neuro/neuros")
    nursery.start_soon(drop.run)          # or: await nursery.start(drop.run)

watchdog reports changes from its own thread; they reach trio through the kernel's trio
token. Editors save in several steps, and an in-place save reports `modified` while the file
is still empty, so a file is loaded only after `closed` (close-write) or `moved`: those come
after the content is complete, so they wait only `settle` seconds (5 ms, to gather a save's
burst of events); `created` and `deleted` wait the longer `debounce` (a deleted file is
stopped once it stays gone that long). When inotify
reports that its queue overflowed, events were lost: the whole folder is scanned again, as
at start. What is never part of a neuro (`neuro._identity.is_excluded`: its tests, caches,
dot-files) is not watched: editing the `test_NAME.py` beside a neuro swaps nothing.

A file that fails to load (see `_neurofile`) or a version the kernel refuses is a
``drop.error`` event, and nothing changes: the old version keeps serving. The entry is broken
(it shows in `Kernel.ps`) until a version of it loads again, a ``drop.fixed`` event. A name
that a neuro spawned by someone else already runs under (another folder, the API) is refused.

A neuro that a person stopped or rolled back is pinned (`_dropstate`): a save of its file is
loaded but not applied (``drop.held``) until `Kernel.unpin`.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from typing import Any

import msgspec
import trio

from neuro._errors import NeuroError, NoSuchNeuro

from ._dropstate import Broken, Pin, PinStore, one_line
from ._loading import load_file
from neuro._identity import is_excluded
from neuro._neurofile import LoadedNeuro, NeuroFileError, is_neuro_entry, shown_path


def is_neuro_entry(folder: str, entry: str, _is_neuro_file: Any = is_neuro_entry) -> bool:  # noqa: F811
    """A neuro file or folder (`_neurofile`), a net file (``NAME.net.toml``, issue 23: neuro.nets._drop), or a
    Neuro-Lang file (``NAME.neuro``, issue 30: neuro.lang._drop)."""
    return _is_neuro_file(folder, entry) or (entry.endswith((".net.toml", ".neuro")) and not entry.startswith((".", "_")))

__all__ = ["DropFolder", "DropFolderStatistics", "owner_of"]

ACTOR = "dropfolder"
LIVE = ("running", "starting", "restarting", "crashed", "swapping")

# name -> (folder, entry) of every neuro a drop folder of that kernel runs
_owners: weakref.WeakKeyDictionary[Any, dict[str, tuple[str, str]]] = weakref.WeakKeyDictionary()


def owner_of(kernel: Any, name: str) -> tuple[str, str] | None:
    """The (folder, entry) that runs neuro `name` of `kernel`, or None."""
    return _owners.get(kernel, {}).get(name)


class DropFolderStatistics(msgspec.Struct, frozen=True):
    """A drop folder's counters: `files` it runs now, `loads` tried, `errors` reported,
    `pending` entries waiting for their quiet period, `last_event` (UTC, 0 before any)."""

    folder: str
    files: int
    loads: int
    spawned: int
    swapped: int
    removed: int
    errors: int
    rescans: int
    pending: int
    last_event: float


class _Entry(msgspec.Struct):
    name: str
    version: str


class DropFolder:
    """Watch `path` and keep the kernel's neuros in step with the neuro files in it.

    `debounce` is the quiet period (seconds) after a file's last change before it is loaded;
    `stop_timeout` how long a removed neuro's queued messages may drain before the rest end
    as dead letters with reason ``removed``. A folder is untrusted unless `trusted`: its
    files are imported only in a sandbox of `policy` and run sandboxed (see `_loading`).
    Up to `max_concurrent_loads` files load side by side, so one slow import delays no
    other drop; a load that takes longer than `load_deadline` seconds is a ``drop.error``.
    """

    def __init__(self, kernel: Any, path: str | os.PathLike[str], *, debounce: float = 0.05,
                 stop_timeout: float = 5.0, trusted: bool = False, policy: str = "untrusted",
                 max_concurrent_loads: int = 4, load_deadline: float = 30.0) -> None:
        self.kernel = kernel
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self.trusted = trusted
        self.policy = policy
        self.debounce = debounce
        self.settle = min(debounce, 0.005)
        self.stop_timeout = stop_timeout
        self._entries: dict[str, _Entry] = {}  # entry (file or folder name) -> what runs from it
        self._broken: dict[str, Broken] = {}  # entry -> its last load's error, until one loads again
        pins = getattr(kernel, "_drop_pins", None)
        self._pins: PinStore = pins if isinstance(pins, PinStore) else PinStore()
        self._dirty: dict[str, float] = {}  # entry -> trio time of its last report
        self._wakeup = trio.Event()
        self._idle = trio.Event()
        self._busy = False
        self._token: Any = None
        self._observer: Any = None
        self._barriers: dict[str, trio.Event] = {}
        self._barrier_seq = 0
        self._counts = {"loads": 0, "spawned": 0, "swapped": 0, "removed": 0, "errors": 0, "rescans": 0}
        self._last_event = 0.0
        self._lost = False  # the folder itself was deleted or moved away
        self._inflight: set[str] = set()  # entries being loaded now
        self._reports: dict[tuple[str, str, bool], None] = {}  # from watchdog's thread, not yet seen here
        self._reports_lock = threading.Lock()
        self._nursery: trio.Nursery | None = None
        self._loads = trio.CapacityLimiter(max_concurrent_loads)  # files load side by side, this many at once
        self._applying = trio.Lock()  # spawns and swaps, one entry at a time
        self.load_deadline = load_deadline
        self.poll_interval = 0.2

    # -- public -----------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Watch the folder until cancelled. With ``nursery.start`` it returns once the
        watch is in place and the first scan is queued. If the folder is deleted or moved
        away, that is a ``drop.folder_lost`` event; the watch comes back with the folder
        (``drop.folder_back``), its files loaded again."""
        os.makedirs(self.path, exist_ok=True)
        self._token = trio.lowlevel.current_trio_token()
        self._observer = _make_observer(self)
        self._observer.start()
        try:
            self.rescan()
            task_status.started()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if not self.trusted:
                    nursery.start_soon(self._warm_loader)
                await self._loop()
        finally:
            with trio.CancelScope(shield=True):
                await self._stop_observer()

    async def _warm_loader(self) -> None:
        """Start the sandbox workers that will import this folder's files before the first
        drop needs one (a cold sandbox start is ~10x a warm one)."""
        policy = self.kernel._store.get(self.policy)
        backend = self.kernel._backends.get(policy.sandbox)
        if backend is not None:
            try:
                await backend.warm(policy)
            except Exception:  # noqa: BLE001 - an optimisation: a failure shows at the first drop
                pass

    async def _stop_observer(self) -> None:
        observer, self._observer = self._observer, None
        if observer is None:
            return

        def stop() -> None:
            observer.stop()
            observer.join(2.0)

        # Off the trio thread: watchdog's dispatch thread may be waiting on trio (in
        # `_report`) while holding the lock that `stop` needs.
        await trio.to_thread.run_sync(stop)

    async def _wait_for_folder(self) -> None:
        """The watched folder went away: wait for it to come back, then watch it again."""
        await self._stop_observer()
        while not os.path.isdir(self.path):
            await trio.sleep(self.poll_interval)
        self._observer = _make_observer(self)
        await trio.to_thread.run_sync(self._observer.start)
        self._lost = False
        self.kernel._event("drop.folder_back", None, ACTOR, folder=shown_path(self.path))
        self.rescan()

    def rescan(self) -> None:
        """Look at every entry again: those on disk and those running from here. Called at
        start and when inotify reports a queue overflow (events were lost)."""
        self._counts["rescans"] += 1
        try:
            names = os.listdir(self.path)
        except OSError:
            names = []
        now = trio.current_time()
        for entry in {*(n for n in names if is_neuro_entry(self.path, n) or self._refused(n)), *self._entries}:
            self._mark(entry, now - self.debounce)  # no quiet period: nothing is known to be mid-save
        self._wake()

    async def wait_idle(self) -> None:
        """Wait until every change made to the folder before this call has been handled.

        A hidden marker file is written and removed: once its report comes back (reports
        arrive in order), every earlier one has, and then this waits for the folder's queue
        to empty."""
        self._barrier_seq += 1
        marker = f".neuro-drop-sync-{os.getpid()}-{id(self)}-{self._barrier_seq}"
        done = self._barriers[marker] = trio.Event()
        try:
            path = os.path.join(self.path, marker)
            try:
                with open(path, "wb"):
                    pass
                os.unlink(path)
            except OSError:  # a read-only folder: no barrier, just what has arrived
                done.set()
            with trio.move_on_after(5.0):
                await done.wait()
        finally:
            self._barriers.pop(marker, None)
        while self._dirty or self._busy or self._inflight:
            await self._idle.wait()

    def broken(self) -> dict[str, Broken]:
        """The entries whose last load failed, with that error."""
        return dict(self._broken)

    def running_name(self, entry: str) -> str | None:
        """The name of the neuro that runs from `entry`, or None."""
        known = self._entries.get(entry)
        return known.name if known is not None else None

    def pin(self, name: str, how: str, version: str | None) -> Pin | None:
        """Hold neuro `name`, if it runs from this folder, as a person left it: ``stopped``
        (it stopped) or ``rolled_back`` to `version`. Returns the pin, or None if the neuro is
        not this folder's. Called by the kernel once the stop or rollback is done."""
        owners = _owners.setdefault(self.kernel, {})
        owner = owners.get(name)
        if owner is None or owner[0] != self.path:
            return None
        entry = owner[1]
        if how == "stopped":  # nothing runs from the entry now; its name is free for others
            del owners[name]
            self._entries.pop(entry, None)
        pin = self._pins.put(name, self.path, entry, how, version)  # type: ignore[arg-type]
        self.kernel._event("drop.pinned", name, ACTOR, file=shown_path(os.path.join(self.path, entry)),
                           folder=shown_path(self.path), how=how, version=version)
        return pin

    async def unpin(self, name: str) -> Pin | None:
        """Remove the pin of `name` (None if this folder holds none) and load its file's
        current version again; returns once that is done."""
        pin = self._pins.get(name)
        if pin is None or pin.folder != self.path:
            await trio.lowlevel.checkpoint()
            return None
        self._pins.pop(name)
        self.kernel._event("drop.unpinned", name, ACTOR, file=shown_path(os.path.join(self.path, pin.entry)),
                           folder=shown_path(self.path), how=pin.how)
        self._mark(pin.entry, trio.current_time() - self.debounce)
        self._wake()
        await self.wait_idle()
        return pin

    def statistics(self) -> DropFolderStatistics:
        return DropFolderStatistics(folder=self.path, files=len(self._entries), pending=len(self._dirty),
                                    last_event=self._last_event, **self._counts)

    # -- reports from watchdog's thread --------------------------------------------------------

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

    # -- the trio side ---------------------------------------------------------------------------

    async def _loop(self) -> None:
        assert self._nursery is not None
        while True:
            waiting = {e: t for e, t in self._dirty.items() if e not in self._inflight}
            if self._lost and not self._dirty and not self._inflight:  # its files are handled: wait for it
                await self._wait_for_folder()
                continue
            if not waiting:
                if not self._dirty and not self._inflight:
                    self._idle.set()
                self._wakeup = trio.Event()
                await self._wakeup.wait()
                continue
            now = trio.current_time()
            due = min(waiting.values()) + self.debounce
            if due > now:
                self._wakeup = trio.Event()
                with trio.move_on_at(due):
                    await self._wakeup.wait()
                continue
            # Removals first, so a file renamed in the folder frees its name before it is loaded again.
            ready = sorted((e for e, t in waiting.items() if t + self.debounce <= now),
                           key=lambda e: (os.path.lexists(os.path.join(self.path, e)), e))
            self._busy = True
            if self._idle.is_set():
                self._idle = trio.Event()
            try:
                for entry in ready:
                    if self._dirty.get(entry, math.inf) + self.debounce > trio.current_time():
                        continue  # changed again meanwhile: wait for its quiet period
                    del self._dirty[entry]
                    if not os.path.lexists(os.path.join(self.path, entry)):
                        await self._removed(entry)  # in order, before any load
                        continue
                    # Loads go on side by side (at most max_concurrent_loads), each entry one at a
                    # time: a change to an entry that is loading waits in _dirty until it is done.
                    await self._loads.acquire_on_behalf_of(entry)
                    self._inflight.add(entry)
                    self._nursery.start_soon(self._sync_one, entry)
            finally:
                self._busy = False

    async def _sync_one(self, entry: str) -> None:
        try:
            await self._sync(entry)
        finally:
            self._inflight.discard(entry)
            self._loads.release_on_behalf_of(entry)
            self._wake()

    async def _sync(self, entry: str) -> None:
        """Bring the kernel in step with one entry of the folder."""
        path = os.path.join(self.path, entry)
        if not os.path.lexists(path):
            await self._removed(entry)
            return
        if shown_path(entry) != entry:
            self._error(None, path, f"{shown_path(path)}: the file name is not valid UTF-8 (shown with escapes): "
                                    "rename it with a UTF-8 name", None, None, entry)
            return
        if ".." in entry:
            self._error(None, path, f"{path}: a name with '..' is refused: name neuro files plainly, inside the "
                                    "folder", None, None, entry)
            return
        if not is_neuro_entry(self.path, entry):
            await self._removed(entry)  # a folder that lost its __init__.py and neuro.toml
            return
        if entry.endswith(".net.toml"):  # a net file (issue 23): built and applied by neuro.nets
            from neuro.nets._drop import sync_net

            await sync_net(self, entry, path)
            return
        if entry.endswith(".neuro"):  # a Neuro-Lang file (issue 30): compiled and applied by neuro.lang
            from neuro.lang._drop import sync_lang

            await sync_lang(self, entry, path)
            return
        self._counts["loads"] += 1
        try:
            with trio.move_on_after(self.load_deadline) as scope:
                loaded: LoadedNeuro = await load_file(self.kernel, path, folder=self.path, trusted=self.trusted,
                                                      policy=self.policy)
            if scope.cancelled_caught:
                self._error(None, path, f"{shown_path(path)}: loading took longer than {self.load_deadline:g} s: "
                                        "keep the module's top level quick", None, None, entry)
                return
        except NeuroFileError as e:
            self._error(self._entries[entry].name if entry in self._entries else None, e.file, str(e), e.line,
                        e.traceback, entry)
            return
        except Exception as e:  # noqa: BLE001 - any loader failure is this file's error event
            self._error(None, path, f"{path}: {type(e).__name__}: {e}", None, None, entry)
            return
        async with self._applying:
            await self._apply(entry, loaded)

    async def _apply(self, entry: str, loaded: LoadedNeuro) -> None:
        owners = _owners.setdefault(self.kernel, {})
        mine = (self.path, entry)
        previous = self._entries.get(entry)
        name = loaded.name
        pin = self._pins.for_entry(self.path, entry)
        if pin is not None:  # a person stopped or rolled it back: this save does not undo that
            await self._hold(entry, loaded, pin)
            return
        running = self._running(name)
        owner = owners.get(name)
        if running and owner != mine:
            who = f"the drop folder entry {owner[0]}/{owner[1]}" if owner else "the API (or a supervisor)"
            self._error(name, loaded.path, f"{loaded.path}: a neuro named {name!r} is already running, started by "
                                           f"{who}; rename this one (its manifest's name) or stop that one first",
                        None, None, entry)
            return
        try:
            if running:
                report = await self.kernel.swap(name, loaded.cls, replay=loaded.replay, origin="file",
                                                source=loaded.files)
                if getattr(report, "stage", None) == "unchanged":
                    self._entries[entry] = _Entry(name, loaded.version)
                    self._fixed(entry, name, loaded)
                    return
                self._counts["swapped"] += 1
                self.kernel._event("drop.swapped", name, ACTOR, file=loaded.path, folder=self.path,
                                   old_version=getattr(report, "old_version", previous.version if previous else None),
                                   version=loaded.version)
            else:
                info = await self.kernel.spawn(loaded.cls, source=loaded.files)
                self._counts["spawned"] += 1
                self.kernel._event("drop.spawned", name, ACTOR, file=loaded.path, folder=self.path,
                                   version=loaded.version, pid=info.pid)
        except NeuroError as e:
            report = getattr(e, "report", None)
            err = getattr(report, "error", None)
            self._error(name, getattr(err, "file", None) or loaded.path, f"{loaded.path}: {e}",
                        getattr(err, "line", None), getattr(err, "traceback", None), entry)
            return
        owners[name] = mine
        self._entries[entry] = _Entry(name, loaded.version)
        self._fixed(entry, name, loaded)
        if previous is not None and previous.name != name:  # the manifest's name changed
            await self._stop(entry, previous.name, loaded.path)

    async def _hold(self, entry: str, loaded: LoadedNeuro, pin: Pin) -> None:
        """A pinned entry's file loaded: say it is held. After a restart, a neuro rolled back
        starts again at its pinned version (from the version store), not the file's."""
        self._fixed(entry, pin.name, loaded)
        if pin.how == "rolled_back" and pin.version and entry not in self._entries and not self._running(pin.name):
            try:
                info = await self.kernel.spawn(pin.name, version=pin.version)
            except NeuroError as e:
                self._error(pin.name, loaded.path, f"{loaded.path}: could not start {pin.name} at its pinned version "
                                                   f"{pin.version[:12]}: {e}; `neuro unpin {pin.name}` starts the "
                                                   "file's version instead", None, None, entry)
                return
            _owners.setdefault(self.kernel, {})[pin.name] = (self.path, entry)
            self._entries[entry] = _Entry(pin.name, info.version)
            self._counts["spawned"] += 1
            self.kernel._event("drop.spawned", pin.name, ACTOR, file=loaded.path, folder=self.path,
                               version=info.version, pid=info.pid)
        self.kernel._event("drop.held", pin.name, ACTOR, file=loaded.path, folder=self.path, how=pin.how,
                           version=loaded.version, pinned_version=pin.version)

    def _fixed(self, entry: str, name: str, loaded: LoadedNeuro) -> None:
        """A version of `entry` loaded: if it was broken, it is no longer, and the log says so."""
        broken = self._broken.pop(entry, None)
        if broken is not None:
            self.kernel._event("drop.fixed", name, ACTOR, file=loaded.path, folder=self.path, version=loaded.version,
                               error=broken.error)

    async def _removed(self, entry: str) -> None:
        self._broken.pop(entry, None)
        pin = self._pins.for_entry(self.path, entry)
        if pin is not None:  # its file is gone: nothing left to hold
            self._pins.pop(pin.name)
        previous = self._entries.pop(entry, None)
        if previous is not None:
            await self._stop(entry, previous.name, os.path.join(self.path, entry))

    async def _stop(self, entry: str, name: str, file: str) -> None:
        owners = _owners.setdefault(self.kernel, {})
        if owners.get(name) != (self.path, entry):
            return
        del owners[name]
        try:
            await self.kernel.stop(name, drain=True, timeout=self.stop_timeout, reason="removed")
        except NoSuchNeuro:
            pass  # stopped already (by the API): nothing left to do
        except NeuroError as e:
            self._error(name, file, f"{file}: could not stop {name}: {e}", None, None)
            return
        self._counts["removed"] += 1
        self.kernel._event("drop.removed", name, ACTOR, file=file, folder=self.path)

    def _running(self, name: str) -> bool:
        try:
            info = self.kernel.info(name)
        except NoSuchNeuro:
            return False
        return str(getattr(info.state, "value", info.state)) in LIVE

    def _error(self, name: str | None, file: str | None, error: str, line: int | None,
               traceback: str | None, entry: str | None = None) -> None:
        self._counts["errors"] += 1
        if entry is not None:  # broken until a version of it loads again
            self._broken[entry] = Broken(name=name, file=shown_path(file) if file is not None else None, line=line,
                                         error=one_line(shown_path(error)), time=time.time())
        self.kernel._event("drop.error", name, ACTOR, folder=shown_path(self.path),
                           file=shown_path(file) if file is not None else None, line=line, error=shown_path(error),
                           traceback=traceback)


def _make_observer(drop: DropFolder) -> Any:
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
        from watchdog.observers.inotify import InotifyEmitter, InotifyWatchGroup
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

    observer._emitter_class = Emitter
