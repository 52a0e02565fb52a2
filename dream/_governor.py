"""Yielding: a training process that pauses while interactive calls wait and never holds more
than its CPU share (architecture invariant 5).

`run_governed` runs a child process (the MLP trainer, dream/_trainer.py) and steers it
through its stdin, which the trainer reads between steps:

- ``share F`` once: after each step the trainer rests so its CPU time keeps to F of one core;
- ``pause`` while `busy()` says interactive calls wait (the daemon's `_busy`: queued, being
  handled or newly arrived), ``go`` once none do (checked every `POLL` seconds): the trainer
  waits between two steps, or before it imports torch;
- with `on_cpu`, the trainer's CPU seconds (from /proc, every `METER_EVERY` seconds) go to
  it as they are used; what it raises (a job over its energy budget) kills the trainer and
  is raised by `run_governed`.

OS priority alone is not enough (the issue measured a ``nice 19`` trainer costing interactive
p99 1.6x under saturating load), so the trainer is also niced, but the pauses are what yield.
Not SIGSTOP: a stopped trainer whose daemon is killed would stay stopped for ever; this one
exits when its stdin ends. `GovernorStats` says how often and how long it yielded.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from typing import Any, Awaitable, Callable

import msgspec
import trio

__all__ = ["run_governed", "GovernorStats", "TrainerFailed", "POLL", "METER_EVERY"]

POLL = 0.01
METER_EVERY = 0.1


class TrainerFailed(RuntimeError):
    """The training process exited with an error (its last lines of stderr are the message)."""


class GovernorStats(msgspec.Struct):
    yields: int = 0  # times it was paused because interactive calls waited
    yielded_seconds: float = 0.0


async def run_governed(argv: list[str], *, busy: Callable[[], Awaitable[bool]], share: float,
                       on_line: Callable[[str], None], env: dict[str, str] | None = None,
                       on_cpu: Callable[[float], None] | None = None) -> GovernorStats:
    """Run `argv` to its end under the governor; raise `TrainerFailed` if it fails, or what
    `on_cpu` raised (having killed it). A cancellation kills it."""
    share = min(1.0, max(0.01, share))
    stats = GovernorStats()
    stopped: list[BaseException] = []  # what on_cpu raised
    errfile = tempfile.TemporaryFile()  # its stderr, read back when it fails
    proc = await trio.lowlevel.open_process(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errfile,
                                            env=env, preexec_fn=_nice)
    try:
        await proc.stdin.send_all(f"share {share}\n".encode())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_read, proc, on_line)
            nursery.start_soon(_govern, proc, busy, stats)
            if on_cpu is not None:
                nursery.start_soon(_meter, proc, on_cpu, stopped, nursery.cancel_scope)
            await proc.wait()
            nursery.cancel_scope.cancel()
    finally:
        if proc.returncode is None:
            proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()
        with trio.CancelScope(shield=True):
            await proc.stdin.aclose()
    errfile.seek(0)
    tail = errfile.read()[-2000:].decode("utf-8", "replace")
    errfile.close()
    if stopped:
        raise stopped[0]
    if proc.returncode != 0:
        raise TrainerFailed(f"the trainer exited with status {proc.returncode}: {tail.strip() or '(no output)'}")
    return stats


def _nice() -> None:
    try:
        os.nice(19)
    except OSError:
        pass


async def _read(proc: Any, on_line: Callable[[str], None]) -> None:
    buf = b""
    async for chunk in proc.stdout:
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            on_line(line.decode("utf-8", "replace"))


async def _meter(proc: Any, on_cpu: Callable[[float], None], stopped: list[BaseException],
                 scope: trio.CancelScope) -> None:
    """Give `on_cpu` the trainer's CPU seconds as they are used; stop everything if it raises."""
    counted, last = 0.0, time.monotonic()
    while proc.returncode is None:
        await trio.sleep(METER_EVERY)
        cpu, now = cpu_seconds(proc.pid), time.monotonic()
        if cpu is None:
            if proc.returncode is not None:
                return  # it ended (and was reaped) meanwhile
            cpu = counted + (now - last)  # no /proc here: its wall time, an upper bound
        last = now
        try:
            on_cpu(cpu - counted)
        except Exception as e:  # noqa: BLE001 - the caller's reason to stop it, raised by run_governed
            stopped.append(e)
            scope.cancel()
            return
        counted = cpu


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds process `pid` has used (Linux /proc), or None where unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15
    except (OSError, ValueError, IndexError):
        return None


async def _say(proc: Any, word: str) -> None:
    try:
        await proc.stdin.send_all(f"{word}\n".encode())
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # it has ended: nothing to steer


async def _govern(proc: Any, busy: Callable[[], Awaitable[bool]], stats: GovernorStats) -> None:
    while proc.returncode is None:
        if await busy():
            await _say(proc, "pause")
            stats.yields += 1
            began = time.monotonic()
            while await busy():
                await trio.sleep(POLL)
            stats.yielded_seconds += time.monotonic() - began
            await _say(proc, "go")
        await trio.sleep(POLL)
