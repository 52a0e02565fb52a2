"""bench/daemon's issue 16 figures: what one careless or hostile local client, or one huge drop,
costs everybody else, and whether the chaos run's errors keep their reasons.

- drip: calls a legitimate client (one connection per call, as the CLI) gets answered while
  200 connections drip a Hello at 1 byte/s and reconnect when closed, over the calls it gets
  in a window of the same length without them; windows alternate.
- unread client: the daemon's peak RSS (VmHWM, reset through /proc/PID/clear_refs) while one
  connection pipelines log queries of ~15 MiB replies and never reads, over its RSS before
  (a fresh daemon each time: memory a process once had stays mapped).
- huge drop: the worst latency of calls to a running in-process echo while a package folder
  of 10^5 files is moved into the drop folder, beside the worst in a window of the same
  length without a drop, just after (the package moved out again).
- chaos: the share of error outcomes of tests/chaos's chaos run that name their real cause.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import trio

import neuro
from neuro import _control as c
from neuro.shell import daemon as d
from neuro.client import blocking, run_blocking

from ._harness import ProgressBar

MiB = 1 << 20
_CHAOS = Path(__file__).resolve().parent.parent / "tests" / "chaos" / "test_chaos.py"


def _ask(st: d.State, method: str, *args: Any, **kwargs: Any) -> Any:
    """One request on a connection of its own (the CLI's blocking client)."""
    client = blocking(str(st.socket), timeout=30)
    run_blocking(client.__aenter__())
    try:
        return run_blocking(getattr(client, method)(*args, **kwargs))
    finally:
        run_blocking(client.__aexit__(None, None, None))


# -- drip: 200 connections sending a Hello a byte a second --------------------------------------

HELLO = c.encode(c.Hello(protocol=c.PROTOCOL, client="dripper"))


class Drip(threading.Thread):
    """`n` connections, each sending its Hello one byte every `every` s and never the last byte;
    one the daemon closes is opened again the next round."""

    def __init__(self, path: str, n: int = 200, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.path, self.n, self.every = path, n, every
        self.stop = threading.Event()
        self.connects = 0
        self.closed_by_daemon = 0

    def run(self) -> None:
        socks: list[socket.socket | None] = [None] * self.n
        sent = [0] * self.n
        try:
            while not self.stop.is_set():
                for i in range(self.n):
                    s = socks[i]
                    if s is None:
                        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        s.setblocking(False)
                        try:
                            s.connect(self.path)
                        except OSError:  # the backlog is full: next round
                            s.close()
                            continue
                        socks[i], sent[i] = s, 0
                        self.connects += 1
                    try:
                        if sent[i] < len(HELLO) - 1:
                            sent[i] += s.send(HELLO[sent[i]:sent[i] + 1])
                        gone = s.recv(4096) == b""
                    except BlockingIOError:
                        gone = False
                    except OSError:
                        gone = True
                    if gone:
                        s.close()
                        socks[i] = None
                        self.closed_by_daemon += 1
                self.stop.wait(self.every)
        finally:
            for s in socks:
                if s is not None:
                    s.close()


def one_shot_calls(st: d.State, seconds: float) -> int:
    """Calls answered in `seconds` for a client that opens a connection per call, as the CLI does."""
    answered = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            client = blocking(str(st.socket), timeout=max(0.1, end - time.monotonic()))
            run_blocking(client.__aenter__())
            try:
                if {"text": "drip"} == run_blocking(client.call("echo", {"text": "drip"})):
                    answered += 1
            finally:
                run_blocking(client.__aexit__(None, None, None))
        except Exception:  # refused, timed out: not answered
            time.sleep(0.01)
    return answered


def drip_windows(st: d.State, reps: int, seconds: float, label: str) -> tuple[list[int], list[int], dict]:
    """Per repetition: calls answered during the drip, and in a window without it next to it
    (after it in even repetitions, before it in odd ones, so a drift in the machine's load
    falls on both sides)."""
    withs, withouts = [], []
    facts = {"drip_connects": 0, "drip_closed_by_daemon": 0}
    bar = ProgressBar(reps, label)
    for i in range(reps):
        if i % 2:
            withouts.append(one_shot_calls(st, seconds))
        drip = Drip(str(st.socket))
        drip.start()
        end = time.monotonic() + 30
        while drip.connects < drip.n and time.monotonic() < end:  # every dripper in place first
            time.sleep(0.05)
        time.sleep(2.5)  # past the 2 s Hello deadline: the daemon is closing them and they reconnect
        try:
            withs.append(one_shot_calls(st, seconds))
        finally:
            drip.stop.set()
            drip.join(10)
        facts["drip_connects"] += drip.connects
        facts["drip_closed_by_daemon"] += drip.closed_by_daemon
        time.sleep(0.5)  # the daemon sees the drippers' sockets close
        if not i % 2:
            withouts.append(one_shot_calls(st, seconds))
        bar.update(i + 1)
    bar.close()
    return withs, withouts, facts


# -- one client that pipelines big log queries and never reads -----------------------------------

def fill_log(st: d.State, calls: int = 1100) -> None:
    """About 15 MiB of call messages (7 KB payloads, their replies as large) in the log."""

    async def main() -> None:
        async with neuro.connect(str(st.socket)) as client:
            text = "x" * 7000
            for _ in range(calls):
                await client.call("echo", {"text": text})

    trio.run(main)


def proc_status(pid: int, field: str) -> int:
    """A /proc/PID/status field (VmRSS, VmHWM) in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def _recv_frame(sock: socket.socket) -> Any:
    decoder = c.FrameDecoder(c.ServerFrame)
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return None
        frames = decoder.feed(data)
        if frames:
            return frames[0]


def _hello(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(120)
    sock.connect(path)
    sock.sendall(HELLO)
    _recv_frame(sock)
    return sock


def unread_client_growth(st: d.State, queries: int) -> tuple[float, dict]:
    """The daemon's peak RSS growth (MB) while one connection pipelines `queries` log queries
    and never reads, until the daemon cuts it off. Once per daemon: memory a process has had
    stays mapped, so a second measure on the same daemon would find the room already there."""
    pid = d.running_pid(st)
    path = str(st.socket)
    reader = _hello(path)  # one answer, read: the daemon's working size for such a query
    reader.sendall(c.encode(c.Messages(id=1, kind="call", limit=None)))
    reply_bytes = len(c.encode(_recv_frame(reader)))
    reader.close()
    facts: dict[str, Any] = {"reply_mib": reply_bytes / MiB, "hwm_reset": True}
    slow_before = _ask(st, "status")["slow_clients"]
    before = proc_status(pid, "VmRSS")
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # VmHWM starts again from VmRSS: from here it is the peak of what follows
    except OSError:
        facts["hwm_reset"] = False  # not allowed here: the peak is the daemon's lifetime peak
    hog = _hello(path)
    t0 = time.monotonic()
    hog.sendall(b"".join(c.encode(c.Messages(id=j, kind="call", limit=None)) for j in range(2, 2 + queries)))
    while _ask(st, "status")["slow_clients"] <= slow_before and time.monotonic() - t0 < 120:
        time.sleep(0.5)
    facts["seconds_to_cut_off"] = round(time.monotonic() - t0, 1)
    growth = (proc_status(pid, "VmHWM") - before) / 1e6
    hog.close()
    facts["slow_client_events"] = len(_ask(st, "events", name="control.slow_client", limit=None))
    return growth, facts


# -- a package of 10^5 files moved into the drop folder -------------------------------------------

def make_package(folder: Path, files: int) -> Path:
    """A package folder of `files` files (an `__init__.py` and small modules), made outside the
    drop folder on the same file system, so that moving it in is one rename."""
    package = folder / "huge"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from neuro import sdk\n")
    for i in range(files - 1):
        with open(package / f"m{i:06d}.py", "w") as f:
            f.write("X = 1\n")
    return package


async def _worst_latency(path: str, until: Callable[[], bool], ready: Callable[[], None] = lambda: None,
                         ) -> float:
    """Calls to `echo` one after another, from `ready()` (called once connected and warm) until
    `until()`; the slowest, in seconds."""
    worst = 0.0
    async with neuro.connect(path) as client:
        for _ in range(20):
            await client.call("echo", {"text": "warm"})
        ready()
        while not until():
            t0 = time.perf_counter()
            await client.call("echo", {"text": "ping"})
            worst = max(worst, time.perf_counter() - t0)
    return worst


def _drop_errors(st: d.State, file: str) -> int:
    return sum(1 for e in _ask(st, "events", name="drop.error", limit=None) if file in e["data"].get("file", ""))


def huge_drop_latencies(st: d.State, package: Path, reps: int, least_s: float,
                        label: str) -> tuple[list[float], list[float], dict]:
    """Per repetition: the worst echo latency (ms) in a window from the move of `package` into
    the drop folder until its drop.error is logged (at least `least_s`, at most 30 s more),
    then, with the package moved out again, in a window of the same length without a drop."""
    path = str(st.socket)
    inside = st.neuros / package.name
    withs, withouts, windows, refused = [], [], [], 0
    bar = ProgressBar(reps, label)
    for i in range(reps):
        seen = _drop_errors(st, str(inside))
        window = {"start": 0.0, "refused_at": None}

        def move_in() -> None:
            window["start"] = time.monotonic()
            os.rename(package, inside)

        def over() -> bool:
            elapsed = time.monotonic() - window["start"]
            return elapsed > least_s + 30 or (window["refused_at"] is not None and elapsed >= least_s)

        async def during() -> float:
            async def watch() -> None:
                while True:
                    await trio.sleep(0.25)
                    if await trio.to_thread.run_sync(_drop_errors, st, str(inside)) > seen:
                        window["refused_at"] = time.monotonic()
                        return

            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                worst = await _worst_latency(path, over, move_in)
                nursery.cancel_scope.cancel()
            return worst

        withs.append(trio.run(during) * 1e3)
        length = time.monotonic() - window["start"]
        refused += window["refused_at"] is not None
        os.rename(inside, package)
        time.sleep(2.0)  # the drop folder sees the package go
        end = {"at": 0.0}
        withouts.append(trio.run(_worst_latency, path, lambda: time.monotonic() > end["at"],
                                 lambda: end.update(at=time.monotonic() + length)) * 1e3)
        windows.append(round(length, 2))
        bar.update(i + 1)
    bar.close()
    return withs, withouts, {"window_s": windows, "refused_in_window": refused,
                             "error": _last_drop_error(st, str(inside))}


def _last_drop_error(st: d.State, file: str) -> str:
    errors = [e["data"].get("error", "") for e in _ask(st, "events", name="drop.error", limit=None)
              if file in e["data"].get("file", "")]
    return errors[-1] if errors else ""


# -- the chaos run of tests/chaos -----------------------------------------------------------------

def chaos_module() -> Any:
    """The chaos driver, from the test that defines it (loaded by path)."""
    name = "_neuro_chaos_run"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, _CHAOS)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def chaos(folder: str, seconds: float) -> Any:
    """One chaos run of `seconds` in a state folder under `folder`; its ChaosResult."""
    home = os.path.join(folder, "chaos")
    os.makedirs(home)
    try:
        print(f"  chaos run of {seconds:.0f} s (8 clients, rewrites, kills, memory breaches) ...",
              file=sys.stderr, flush=True)
        return chaos_module().chaos_run(home, seconds)
    finally:
        shutil.rmtree(home, ignore_errors=True)
