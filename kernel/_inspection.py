"""What the Kernel tells about its processes: the table, one row, details, resource use, counters.
The Kernel inherits these (as it does `Lifecycle`); they read its tables and change nothing.
"""

from __future__ import annotations

from typing import Any

import msgspec

from neuro._errors import NoSuchNeuro

from ._process import ProcessInfo, State

__all__ = ["Inspection", "KernelStatistics"]


class KernelStatistics(msgspec.Struct, frozen=True):
    processes: int
    running: int
    supervisors: int
    accepted: int
    handled: int
    errors: int
    dead_letters: int
    in_flight: int
    queued: int
    pending_deadlines: int
    log_rows_written: int
    log_rows_queued: int
    log_forced_flushes: int = 0  # the writer's flushes asked for by readers (live followers ask for none)


class Inspection:
    """The read-only half of the Kernel's process table API."""

    _router: Any
    _supervisors: dict[str, Any]
    _drop_folders: Any
    _eventlog: Any
    _deadlines: Any

    def ps(self) -> list[ProcessInfo]:
        """The process table, in start order; then drop-folder files that do not load (state
        ``broken``, pid 0), and `error` on a row whose file no longer loads."""
        rows = [p.info() for p in self._router.procs.values()]
        if self._drop_folders:
            from ._dropstate import ps_rows

            rows = ps_rows(self, rows)
        return rows

    def info(self, name: str) -> ProcessInfo:
        proc = self._router.procs.get(name)
        if proc is None:
            raise NoSuchNeuro(f"no neuro named {name!r} is running")
        return proc.info()

    async def describe(self, name: str, *, log: bool = True) -> Any:
        """Everything about running neuro `name` (a `NeuroDetails`, kernel/_info.py): its
        manifest, input and output types as JSON Schema, the policy in force, backend, origin
        file, version, the last error the log holds (not read without `log`) and its quota use."""
        from ._info import describe

        return await describe(self, name, log=log)

    def usage(self) -> list[Any]:
        """Each neuro's CPU time and memory now (a `ResourceUsage`), from its sandbox's cgroup
        or its worker's /proc; None figures for a neuro in the kernel's own process."""
        from ._info import usage

        return usage(self)

    def mailbox_statistics(self, name: str) -> Any:
        proc = self._router.procs.get(name)
        if proc is None:
            raise NoSuchNeuro(f"no neuro named {name!r} is running")
        return proc.mailbox_statistics()

    def statistics(self) -> KernelStatistics:
        procs = self._router.procs.values()
        log = self._eventlog.statistics() if self._eventlog else {"rows_written": 0, "queued": 0}
        return KernelStatistics(
            processes=len(procs), running=sum(p.state is State.RUNNING for p in procs),
            supervisors=len(self._supervisors), accepted=self._router.accepted,
            handled=self._router.outcomes["handled"], errors=self._router.outcomes["error"],
            dead_letters=self._router.outcomes["dead"], in_flight=sum(p.in_flight for p in procs),
            queued=sum(len(p.queue) for p in procs), pending_deadlines=len(self._deadlines),
            log_rows_written=log["rows_written"], log_rows_queued=log["queued"],
            log_forced_flushes=log.get("forced_flushes", 0),
        )
