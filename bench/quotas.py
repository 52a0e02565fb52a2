"""bench/quotas: what enforcing quotas costs, and what they protect.

- interactive call latency p99 while background neuros saturate both cores, over the same
  p99 without them (each background neuro is its own sandboxed process, spinning);
- call throughput with every in-process quota on (mailbox bound, rate, wall time,
  concurrency, message size) over the same neuro with them off;
- seconds from a memory breach (a sandboxed neuro allocating past its cgroup limit) to the
  neuro restarted and serving again.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import trio

import neuro
from neuro.kernel import Policy
from neuro.testing import Echo, Ping

from ._harness import Metric, ProgressBar, Report, interleaved, summarize
from ._neuros import Hog, Spinner


QUOTAS_ON = Policy(name="quotas-on", mailbox_size=1024, overflow="block", rate=10_000_000, burst=1_000_000,
                   wall_time=30.0, concurrency=1, max_message_bytes=1 << 20)
QUOTAS_OFF = Policy(name="quotas-off", mailbox_size=1 << 30, overflow="block", concurrency=1,
                    max_message_bytes=1 << 30)


async def _latencies(k: neuro.Kernel, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await k.call("echo", Ping(n=i))
        out.append(time.perf_counter() - t0)
        if i % 50 == 0:
            await trio.sleep(0.001)  # an interactive user pauses; the background never does
    return out


async def _spin(k: neuro.Kernel, name: str) -> None:
    try:
        await k.call(name, Ping(n=100_000), timeout=None)
    except neuro.NeuroError:
        pass  # cancelled from the outside when the measurement ends


def p99(xs: list[float]) -> float:
    return sorted(xs)[int(len(xs) * 0.99) - 1]


def interactive_p99_ratio(calls: int, repeats: int) -> tuple[list[float], list[float], list[float]]:
    """p99 of interactive calls with two spinning background neuros, and without, interleaved."""

    async def main():
        with_bg, without = [], []
        async with neuro.Kernel() as k:
            await k.spawn(Echo, policy="trusted")
            await k.spawn(Spinner, name="spin-a")
            await k.spawn(Spinner, name="spin-b")
            await _latencies(k, 200)  # warm up
            bar = ProgressBar(repeats, "interactive p99 vs background")
            for r in range(repeats):
                without.append(p99(await _latencies(k, calls)))
                async with trio.open_nursery() as nursery:
                    for name in ("spin-a", "spin-b"):
                        nursery.start_soon(_spin, k, name)
                    await trio.sleep(0.3)  # let them saturate both cores
                    with_bg.append(p99(await _latencies(k, calls)))
                    nursery.cancel_scope.cancel()
                await k.restart("spin-a")  # the spinners were cancelled mid-message: fresh ones
                await k.restart("spin-b")
                bar.update(r + 1)
            bar.close()
        return with_bg, without

    with_bg, without = trio.run(main)
    return with_bg, without, [a / b for a, b in zip(with_bg, without)]


def throughput(policy: Policy, calls: int) -> float:
    async def main():
        async with neuro.Kernel(policies={policy.name: policy}) as k:
            await k.spawn(Echo, policy=policy.name)
            for i in range(200):
                await k.call("echo", Ping(n=i))
            t0 = time.perf_counter()
            for i in range(calls):
                await k.call("echo", Ping(n=i), timeout=5.0)
            return calls / (time.perf_counter() - t0)

    return trio.run(main)


def memory_breach_to_serving(repeats: int, folder: Path) -> list[float]:
    """Seconds from the breaching call's error to the first reply of the restarted neuro."""

    async def main():
        times = []
        async with neuro.Kernel(log=folder / "breach.db") as k:
            # Its own supervisor, with room for every breach the benchmark makes on purpose.
            await k.supervise(neuro.SupervisorSpec("hogs", [neuro.Child(Hog)], max_restarts=100, period=5.0))
            await k._backends["process"].warm(k._router.procs["hog"].policy)
            bar = ProgressBar(repeats, "memory breach -> serving")
            for r in range(repeats):
                await k.call("hog", Ping(n=0))
                try:
                    await k.call("hog", Ping(n=400), timeout=30)
                except neuro.RemoteError:
                    pass
                t0 = time.perf_counter()
                while True:
                    try:
                        await k.call("hog", Ping(n=0), timeout=5)
                        break
                    except (neuro.RemoteError, neuro.NoSuchNeuro):
                        await trio.sleep(0.001)
                times.append(time.perf_counter() - t0)
                bar.update(r + 1)
            bar.close()
            events = await k.log.events(name="quota.memory")
        return times, len(events)

    times, events = trio.run(main)
    if events < repeats:
        raise RuntimeError(f"expected {repeats} quota.memory events, saw {events}")
    return times


def run(quick: bool) -> Report:
    reps = 5
    folder = Path(tempfile.mkdtemp(prefix="bench-quotas-"))
    calls = 2000 if quick else 20000
    with_bg, without, p99_ratio = interactive_p99_ratio(300 if quick else 2000, reps)
    on, off, q_ratio = interleaved(lambda: throughput(QUOTAS_ON, calls), lambda: throughput(QUOTAS_OFF, calls),
                                   reps, "quotas on vs off")
    breach = memory_breach_to_serving(3 if quick else reps, folder)
    metrics: dict[str, Metric] = {
        "interactive_p99_with_background_vs_without": summarize(p99_ratio, "ratio", goal=1.5, higher_is_better=False),
        "throughput_quotas_on_vs_off": summarize(q_ratio, "ratio", goal=0.8),
        "memory_breach_to_serving_seconds": summarize(breach, "s", goal=0.5, higher_is_better=False),
        "interactive_p99_with_background_ms": summarize([x * 1e3 for x in with_bg], "ms"),
        "interactive_p99_without_background_ms": summarize([x * 1e3 for x in without], "ms"),
        "calls_per_second_quotas_on": summarize(on, "calls/s"),
        "calls_per_second_quotas_off": summarize(off, "calls/s"),
    }
    return Report(metrics=metrics, extra={"median_breach_s": statistics.median(breach)})
