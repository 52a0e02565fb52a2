"""bench/kernel: the kernel's call and send rates against bare trio, the log writer's
headroom, start-up against importing trio and msgspec, and the cost of idle neuros; for
system neuros, a ctx.kernel operation against the embedded client's, ctx.gather against
sequential calls to sandboxed neuros, and how sandboxed CPU-bound neuros scale over cores.

Every rate is a ratio against a baseline measured in the same process, interleaved with it,
median of the repetitions (min and max beside it).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import trio

import neuro
from neuro import sdk
from neuro.kernel import Policy
from neuro.kernel._policy import Capabilities
from neuro.kernel._envelope import Envelope
from neuro.kernel._eventlog import EventLog
from neuro.testing import Echo, Idle, Ping, SyncEcho

from ._harness import ProgressBar, Report, interleaved, summarize


class Sink(sdk.Neuro):
    """Counts one-way messages; wakes the benchmark when the expected number arrived."""

    name = "sink"
    input = Ping
    policy = "flood"
    expected = 0
    done: trio.Event | None = None

    def __init__(self):
        self.count = 0

    async def handle(self, ctx, msg):
        self.count += 1
        if self.count == Sink.expected:
            Sink.done.set()


FLOOD = {"flood": Policy(name="flood", mailbox_size=1000, overflow="block")}


# -- baselines: bare trio ------------------------------------------------------------------

def trio_ping_pong(n: int) -> float:
    """Round trips/s between two tasks over two unbuffered memory channels."""

    async def main():
        req_s, req_r = trio.open_memory_channel(0)
        rep_s, rep_r = trio.open_memory_channel(0)

        async def server():
            async for x in req_r:
                await rep_s.send(x)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            t0 = time.perf_counter()
            for i in range(n):
                await req_s.send(i)
                await rep_r.receive()
            elapsed = time.perf_counter() - t0
            nursery.cancel_scope.cancel()
        return n / elapsed

    return trio.run(main)


def trio_flood(n: int) -> float:
    """One-way items/s from a producer to a consumer over a channel of capacity 1000."""

    async def main():
        send, receive = trio.open_memory_channel(1000)
        done = trio.Event()

        async def consumer():
            count = 0
            async for _ in receive:
                count += 1
                if count == n:
                    done.set()
                    return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer)
            t0 = time.perf_counter()
            for i in range(n):
                await send.send(i)
            await done.wait()
            return n / (time.perf_counter() - t0)

    return trio.run(main)


# -- the kernel -----------------------------------------------------------------------------

def kernel_calls(n: int, log: Path | None, neuro_class: type = Echo) -> float:
    """Calls/s to `neuro_class` (Echo or SyncEcho of neuro.testing), spawned as `echo`."""

    async def main():
        async with neuro.Kernel(log=log) as k:
            await k.spawn(neuro_class, name="echo")
            for i in range(200):  # warm up
                await k.call("echo", Ping(n=i))
            t0 = time.perf_counter()
            for i in range(n):
                await k.call("echo", Ping(n=i), timeout=5.0)
            return n / (time.perf_counter() - t0)

    return trio.run(main)


def kernel_sends(n: int, log: Path | None) -> float:
    async def main():
        Sink.expected = n
        Sink.done = trio.Event()
        async with neuro.Kernel(log=log, policies=FLOOD) as k:
            await k.spawn(Sink)
            t0 = time.perf_counter()
            for i in range(n):
                await k.send("sink", Ping(n=i))
            await Sink.done.wait()
            return n / (time.perf_counter() - t0)

    return trio.run(main)


def log_writer_rate(rows: int, path: Path) -> float:
    """Rows/s the writer thread commits when fed as fast as the event loop appends."""
    log = EventLog(path)
    log.open()
    payload = b"\x81\xa1n\x01"
    envelopes = [Envelope(id=i, time=0.0, sender="client", recipient="echo", kind="call", payload=None, correlation=i)
                 for i in range(rows // 2)]
    try:
        t0 = time.perf_counter()
        for env in envelopes:
            log.append_message(env, payload)
            log.append_outcome(env.id, 0.0, "handled", None, "echo", 1e-5, payload, None)
        log.flush_sync(60)
        return rows / (time.perf_counter() - t0)
    finally:
        log.close()


STARTUP = """
import sys, trio, neuro
async def main():
    async with neuro.Kernel(log=sys.argv[1]):
        pass
trio.run(main)
heavy = [m for m in ("torch", "textual", "sqlite_utils") if m in sys.modules]
if heavy:
    sys.exit("imported at start-up: " + ", ".join(heavy))
"""


def startup_pair(folder: Path, i: int) -> tuple[float, float]:
    py = sys.executable
    t0 = time.perf_counter()
    subprocess.run([py, "-c", STARTUP, str(folder / f"start{i}.db")], check=True)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([py, "-I", "-c", "import trio, msgspec"], check=True)
    base = time.perf_counter() - t0
    return ours, base


def idle_memory(n: int) -> float:
    """Bytes of Python heap per idle spawned neuro, measured with tracemalloc."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Idle, name="idle-warm")
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            for i in range(n):
                await k.spawn(Idle, name=f"idle-{i}")
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            return (after - before) / n

    return trio.run(main)


def spawn_rate(n: int) -> float:
    async def main():
        async with neuro.Kernel() as k:
            t0 = time.perf_counter()
            for i in range(n):
                await k.spawn(Idle, name=f"idle-{i}")
            return n / (time.perf_counter() - t0)

    return trio.run(main)


# -- system neuros: ctx.kernel, ctx.gather, sandboxed CPU scaling ---------------------------

class Took(sdk.Message):
    seconds: float


class Asker(sdk.Neuro):
    """Makes `n` ctx.kernel.statistics() requests in its handler and answers how long they took."""

    name = "asker"
    input = Ping
    output = Took
    policy = "controller"

    async def handle(self, ctx, msg):
        kernel = ctx.kernel
        t0 = time.perf_counter()
        for _ in range(msg.n):
            await kernel.statistics()
        return Took(seconds=time.perf_counter() - t0)


class Fan(sdk.Message):
    names: list[str]
    rounds: int
    parallel: bool
    ms: float


class Gatherer(sdk.Neuro):
    """Calls every neuro in `names`, `rounds` times: all at once (ctx.gather) or one by one."""

    name = "gatherer"
    input = Fan
    output = Took

    async def handle(self, ctx, msg):
        job = {"ms": msg.ms}
        t0 = time.perf_counter()
        for _ in range(msg.rounds):
            if msg.parallel:
                await ctx.gather([(name, job) for name in msg.names], timeout=60, limit=len(msg.names),
                                 raise_errors=True)
            else:
                for name in msg.names:
                    await ctx.call(name, job, timeout=60)
        return Took(seconds=time.perf_counter() - t0)


# A sandbox gets this file as the neuro's source: it imports only the SDK.
SPIN_SOURCE = '''
import time

from neuro import sdk


class Job(sdk.Message):
    ms: float


class Done(sdk.Message):
    ms: float


class Spin(sdk.Neuro):
    """Spins `ms` milliseconds of its own CPU time per call."""

    name = "spin"
    input = Job
    output = Done
    sandbox = "process"
    policy = "spin"

    def handle(self, ctx, msg):
        end = time.thread_time() + msg.ms / 1000
        while time.thread_time() < end:
            pass
        return Done(ms=msg.ms)
'''
# No cpu_share: the cgroup must not cap the spinners below a core each.
SYSTEM_POLICIES = {
    "controller": Policy(name="controller", capabilities=Capabilities(control=("statistics",))),
    "spin": Policy(name="spin", sandbox="process"),
}


def ctx_kernel_vs_client(n: int, reps: int) -> tuple[list[float], list[float], list[float]]:
    """Seconds per statistics() through ctx.kernel in an in-process neuro, and through the
    embedded client, interleaved; and their ratios."""

    async def main():
        ours, theirs, ratios = [], [], []
        async with neuro.connect(embedded=True, log=None, policies=SYSTEM_POLICIES) as client:
            await client.spawn(Asker)
            await client.call("asker", Ping(n=500))  # warm up both
            for _ in range(500):
                await client.statistics()
            bar = ProgressBar(reps, "ctx.kernel vs client")
            for i in range(reps):
                took = (await client.call("asker", Ping(n=n), timeout=120)).seconds / n
                t0 = time.perf_counter()
                for _ in range(n):
                    await client.statistics()
                direct = (time.perf_counter() - t0) / n
                ours.append(took)
                theirs.append(direct)
                ratios.append(took / direct)
                bar.update(i + 1)
            bar.close()
        return ours, theirs, ratios

    return trio.run(main)


def sandboxed_fanout(reps: int, rounds: int, seconds: float, folder: Path) -> dict[str, list[float]]:
    """In one kernel with max(8, cores) process-sandboxed spinners: ctx.gather of 8 calls of
    5 ms each against 8 sequential calls, and the calls/s of `cores` spinners driven at once
    against one, each pair interleaved."""
    cores = os.cpu_count() or 1
    (folder / "spin.py").write_text(SPIN_SOURCE)

    async def rate(k: Any, names: list[str]) -> float:
        count = 0
        until = time.perf_counter() + seconds

        async def drive(name: str) -> None:
            nonlocal count
            while time.perf_counter() < until:
                await k.call(name, {"ms": 10.0}, timeout=60)
                count += 1

        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(drive, name)
        return count / (time.perf_counter() - t0)

    async def main():
        out: dict[str, list[float]] = {"gather": [], "sequential": [], "gather_ratio": [], "one": [], "many": [],
                                       "scaling": []}
        async with neuro.Kernel(policies=SYSTEM_POLICIES) as k:
            spin = await k.load(folder / "spin.py", trusted=True)
            names = [f"spin{i}" for i in range(max(8, cores))]
            for name in names:
                await k.spawn(spin.cls, name=name, source=spin.files)
            await k.spawn(Gatherer)
            eight = names[:8]
            await k.call("gatherer", Fan(names=eight, rounds=2, parallel=True, ms=5.0), timeout=120)  # warm up
            bar = ProgressBar(reps, "gather vs sequential")
            for i in range(reps):
                par = (await k.call("gatherer", Fan(names=eight, rounds=rounds, parallel=True, ms=5.0),
                                    timeout=120)).seconds
                seq = (await k.call("gatherer", Fan(names=eight, rounds=rounds, parallel=False, ms=5.0),
                                    timeout=120)).seconds
                out["gather"].append(par / rounds)
                out["sequential"].append(seq / rounds)
                out["gather_ratio"].append(par / seq)
                bar.update(i + 1)
            bar.close()
            bar = ProgressBar(reps, f"{cores} spinners vs one")
            for i in range(reps):
                one = await rate(k, names[:1])
                many = await rate(k, names[:cores])
                out["one"].append(one)
                out["many"].append(many)
                out["scaling"].append(many / one)
                bar.update(i + 1)
            bar.close()
        return out

    return trio.run(main)


def system_neuro_metrics(quick: bool, reps: int, folder: Path) -> dict[str, Any]:
    ours, theirs, ctx_ratio = ctx_kernel_vs_client(2000 if quick else 20000, reps)
    fan = sandboxed_fanout(reps, 10 if quick else 50, 0.6 if quick else 2.0, folder)
    cores = os.cpu_count() or 1
    return {
        "ctx_kernel_op_vs_embedded_client": summarize(ctx_ratio, "ratio", goal=1.5, higher_is_better=False,
                                                      note="statistics(): ctx.kernel in an in-process neuro / "
                                                           "the embedded client"),
        "gather_vs_sequential_sandboxed": summarize(fan["gather_ratio"], "ratio", goal=0.6, higher_is_better=False,
                                                    note=f"8 calls to 8 process-sandboxed neuros spinning 5 ms of "
                                                         f"CPU each, on {cores} cores"),
        "sandboxed_cpu_scaling": summarize(fan["scaling"], "ratio", goal=1.7 if cores == 2 else None,
                                           note=f"calls/s of {cores} process-sandboxed neuros spinning 10 ms each "
                                                "/ one such neuro (goal for 2 cores)"),
        # For information: the absolute figures behind the ratios.
        "ctx_kernel_statistics_seconds": summarize(ours, "s"),
        "client_statistics_seconds": summarize(theirs, "s"),
        "gather_8_sandboxed_seconds": summarize(fan["gather"], "s"),
        "sequential_8_sandboxed_seconds": summarize(fan["sequential"], "s"),
        "sandboxed_spinner_calls_per_second": summarize(fan["one"], "calls/s"),
        "sandboxed_spinners_calls_per_second": summarize(fan["many"], "calls/s", note=f"{cores} at once"),
    }


def run(quick: bool) -> Report:
    reps = 5
    calls = 3000 if quick else 20000
    sends = 5000 if quick else 50000
    neuros = 2000 if quick else 10000
    folder = Path(tempfile.mkdtemp(prefix="bench-kernel-"))
    logs = iter(folder / f"log{i}.db" for i in range(10_000))

    k_calls, t_calls, call_ratio = interleaved(
        lambda: kernel_calls(calls, next(logs)), lambda: trio_ping_pong(calls), reps, "calls vs trio ping-pong")
    d_calls, _, direct_ratio = interleaved(
        lambda: kernel_calls(calls, next(logs), SyncEcho), lambda: trio_ping_pong(calls), reps,
        "direct calls vs ping-pong")
    on, off, log_ratio = interleaved(
        lambda: kernel_calls(calls, next(logs)), lambda: kernel_calls(calls, None), reps, "calls log on vs off")
    k_sends, t_sends, send_ratio = interleaved(
        lambda: kernel_sends(sends, next(logs)), lambda: trio_flood(sends), reps, "sends vs trio flood")
    writer, rate, headroom = interleaved(
        lambda: log_writer_rate(4 * calls, next(logs)), lambda: kernel_calls(calls, next(logs)), reps,
        "log writer vs 2x call rate")
    headroom = [w / (2 * r) for w, r in zip(writer, rate)]

    bar = ProgressBar(reps, "start-up vs import trio")
    pairs = []
    for i in range(reps):
        pairs.append(startup_pair(folder, i))
        bar.update(i + 1)
    bar.close()

    mem = [idle_memory(neuros) for _ in range(3 if quick else reps)]
    spawns = [spawn_rate(neuros) for _ in range(3 if quick else reps)]

    metrics = {
        "call_ratio_vs_trio_channel": summarize(call_ratio, "ratio", goal=0.5),
        "call_direct_ratio_vs_trio_channel": summarize(direct_ratio, "ratio", goal=0.5,
                                                       note="a plain-function neuro: the direct-call path"),
        "call_log_on_vs_off": summarize(log_ratio, "ratio", goal=0.8),
        "send_ratio_vs_trio_flood": summarize(send_ratio, "ratio", goal=0.5),
        "log_writer_headroom": summarize(headroom, "ratio", goal=2.0),
        "startup_vs_import_trio_msgspec": summarize([a / b for a, b in pairs], "ratio", goal=1.2,
                                                    higher_is_better=False),
        "idle_neuro_memory": summarize([m / 1024 for m in mem], "KB", goal=10.0, higher_is_better=False,
                                       note=f"{neuros:,} idle neuros, tracemalloc"),
        "spawns_per_second": summarize(spawns, "spawns/s", goal=10_000.0, note=f"{neuros:,} neuros"),
        # For information: the absolute figures behind the ratios.
        "kernel_calls_per_second": summarize(k_calls, "calls/s"),
        "kernel_direct_calls_per_second": summarize(d_calls, "calls/s"),
        "trio_ping_pong_per_second": summarize(t_calls, "round trips/s"),
        "kernel_sends_per_second": summarize(k_sends, "sends/s"),
        "log_writer_rows_per_second": summarize(writer, "rows/s"),
        "startup_seconds": summarize([a for a, _ in pairs], "s"),
        "import_trio_msgspec_seconds": summarize([b for _, b in pairs], "s"),
    }
    metrics.update(system_neuro_metrics(quick, reps, folder))
    return Report(metrics=metrics, extra={"calls": calls, "sends": sends, "neuros": neuros})
