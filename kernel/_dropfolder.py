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

This module is the folder's loop (what to load when, side by side up to a bound); watchdog's
side is `_dropwatch`, its reports reach the loop through `_dropreports`, and what a loaded
entry does to the kernel (spawn, swap, hold, stop, the events) is `_dropapply`.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any

import msgspec
import trio

from neuro._neurofile import LoadedNeuro, NeuroFileError, shown_path

from ._dropapply import ACTOR, Applying, _Entry, _owners, owner_of
from ._dropreports import Reports, is_neuro_entry
from ._dropstate import Broken, Pin, PinStore
from ._dropwatch import make_observer
from ._loading import load_file

__all__ = ["DropFolder", "DropFolderStatistics", "is_neuro_entry", "owner_of"]


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


class DropFolder(Reports, Applying):
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
        self._observer = make_observer(self)
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
        self._observer = make_observer(self)
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
