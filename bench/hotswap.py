"""bench/hotswap: how fast a saved file serves, what a stream of calls sees while the file is
rewritten 1,000 times, and how fast the replay gate replays (issue 6).

- save -> serving: the time from a save (the close of an in-place write, or the rename of an
  atomic one) to the first reply from the new version, a caller polling all along, over the
  time from the same kind of save to a bare watchdog observer's callback on another folder.
  The two are measured in turn, save by save, in one process; per repetition the ratio of
  their 95th percentiles.
- swaps under load: the swap-under-load scenario of tests/hotswap/test_swap_under_load.py
  with 1,000 rewrites (some broken): calls lost or served by an old version after its swap
  was acknowledged; and the call rate while saves go on over the rate in the steady windows
  (no saves) that alternate with them.
- replay gate: logged calls replayed per second by ``Kernel.swap(..., replay=N)`` over the
  live call rate of the same neuro with the same callers, measured just before.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgspec
import trio

import neuro

from ._harness import RESULTS, Metric, ProgressBar, Report, summarize

_TEST = Path(__file__).resolve().parent.parent / "tests" / "hotswap" / "test_swap_under_load.py"


def _scenario():
    """The swap-under-load driver, from the test that defines it (loaded by path)."""
    name = "_neuro_swap_under_load"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, _TEST)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(0.95 * (len(xs) - 1))))]


# -- save -> serving, against save -> bare watchdog event -------------------------------------

class RawWatch:
    """A bare watchdog observer on a folder: the time its callback saw close-write or move of `target`."""

    def __init__(self, folder: Path, target: str) -> None:
        from watchdog.events import FileClosedEvent, FileMovedEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        self.seen = threading.Event()
        self.at = 0.0
        target_path = str(folder / target)
        watch = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                if ((isinstance(event, FileClosedEvent) and event.src_path == target_path)
                        or (isinstance(event, FileMovedEvent) and event.dest_path == target_path)):
                    if not watch.seen.is_set():
                        watch.at = time.perf_counter()
                        watch.seen.set()

        self.observer = Observer()
        self.observer.schedule(Handler(), str(folder), recursive=True)

    def __enter__(self) -> RawWatch:
        self.observer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.observer.stop()
        self.observer.join(5)


def save_to_serving(folder: Path, reps: int, pairs: int, label: str) -> tuple[list[list[float]], list[list[float]]]:
    """Per repetition: seconds from save to first new reply, and from save to raw event."""
    s = _scenario()
    drop_dir, raw_dir = folder / "drop", folder / "raw"
    drop_dir.mkdir(parents=True)
    raw_dir.mkdir()
    (drop_dir / s.FILE).write_bytes(s.source(0))
    (raw_dir / s.FILE).write_bytes(s.source(0))
    ours: list[list[float]] = []
    base: list[list[float]] = []
    bar = ProgressBar(reps * pairs, label)

    async def main() -> None:
        # The folder is untrusted, as drop folders are by default: each save is imported in a
        # sandbox and served from one. Its policy is `untrusted` without the message rate
        # limit, which the poller's tight loop would hit (the rate is not what is measured).
        from neuro.kernel._dropfolder import DropFolder
        from neuro.kernel._policyfiles import PolicyStore

        unlimited = msgspec.structs.replace(PolicyStore().get("untrusted"), name="untrusted-unmetered", rate=0.0,
                                            burst=0, send_rate=0.0)
        async with neuro.Kernel(log=folder / "latency.db", policies={unlimited.name: unlimited}) as k, \
                trio.open_nursery() as watching:
            drop = DropFolder(k, drop_dir, policy=unlimited.name)
            await watching.start(drop.run)
            await drop.wait_idle()
            loader = k._backends["process"]
            loader = getattr(loader, "real", loader)
            want = {"number": -1, "at": 0.0}
            served = trio.Event()
            polling = {"on": True}
            parked = trio.Event()
            resume = trio.Event()

            async def poller() -> None:
                nonlocal parked, resume
                i = 0
                while True:
                    if not polling["on"]:
                        parked.set()
                        await resume.wait()
                        continue
                    i += 1
                    reply = await k.call(s.NAME, s.Ping(n=i), timeout=10.0)
                    if reply.version == want["number"] and not served.is_set():
                        want["at"] = time.perf_counter()
                        served.set()

            with RawWatch(raw_dir, s.FILE) as raw:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(poller)
                    number = 0
                    for rep in range(reps):
                        xs, ys = [], []
                        for j in range(pairs):
                            number += 1
                            method = "in-place" if number % 2 else "atomic"
                            # Ours: the poller is calling; save, wait for the first new reply.
                            # Each save of an untrusted file uses up one sandbox worker (the one
                            # that imported it serves it); saves seconds apart, as a person's are,
                            # find the warm pool full again: wait for that, as they would.
                            while loader._pool.filling:
                                await trio.sleep(0.005)
                            served = trio.Event()
                            want["number"] = number
                            saved = await s.save(drop_dir / s.FILE, s.source(number), method)
                            with trio.fail_after(30):
                                await served.wait()
                            xs.append(want["at"] - saved)
                            await drop.wait_idle()
                            # The baseline: the poller parked, the same save on a bare observer's folder.
                            parked, resume = trio.Event(), trio.Event()
                            polling["on"] = False
                            await parked.wait()
                            raw.seen.clear()
                            saved = await s.save(raw_dir / s.FILE, s.source(number), method)
                            ok = await trio.to_thread.run_sync(raw.seen.wait, 10.0)
                            if not ok:
                                raise RuntimeError("the bare watchdog observer saw no event in 10 s")
                            ys.append(raw.at - saved)
                            polling["on"] = True
                            resume.set()
                            bar.update(rep * pairs + j + 1)
                        ours.append(xs)
                        base.append(ys)
                    nursery.cancel_scope.cancel()
            watching.cancel_scope.cancel()

    trio.run(main)
    bar.close()
    return ours, base


# -- the replay gate --------------------------------------------------------------------------

def replay_vs_live(folder: Path, reps: int, calls: int, callers: int, label: str) -> tuple[list[float], list[float]]:
    """Per repetition: live calls/s of `callers` concurrent callers, then the replay rate of
    a swap to a new version (same answers) replaying the last `calls` logged calls."""
    from neuro._neurofile import load_neuro_files

    s = _scenario()
    folder.mkdir(parents=True, exist_ok=True)

    def revision(r: int):
        files = {s.FILE: s.source(0) + f"# revision {r}: same answers, another version\n".encode()}
        return load_neuro_files(files), files

    live, replayed = [], []
    bar = ProgressBar(reps, label)

    async def main() -> None:
        async with neuro.Kernel(log=folder / "replay.db") as k:
            cls, files = revision(0)
            await k.spawn(cls, source=files)
            for i in range(200):  # warm up
                await k.call(s.NAME, s.Ping(n=i))
            for rep in range(reps):
                each = calls // callers

                async def caller(c: int) -> None:
                    for i in range(each):
                        await k.call(s.NAME, s.Ping(n=c * 1_000_000 + i), timeout=10.0)

                t0 = time.perf_counter()
                async with trio.open_nursery() as nursery:
                    for c in range(callers):
                        nursery.start_soon(caller, c)
                live.append(each * callers / (time.perf_counter() - t0))
                cls, files = revision(rep + 1)
                report = await k.swap(s.NAME, cls, replay=each * callers, source=files)
                if report.replay.agreed != report.replay.compared or report.replay.compared != each * callers:
                    raise RuntimeError(f"replay compared {report.replay.compared}, agreed {report.replay.agreed}")
                replayed.append(report.replay.calls_per_second)
                bar.update(rep + 1)

    trio.run(main)
    bar.close()
    return live, replayed


# -- the picture --------------------------------------------------------------------------------

def plot(ours: list[float], base: list[float], loaded: list[float], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dev extra
        return None
    ms = lambda xs: [x * 1000 for x in xs]  # noqa: E731
    everything = ms(ours + base + loaded)
    lo, hi = max(min(everything), 0.01), max(everything)
    import numpy as np

    bins = np.logspace(np.log10(lo * 0.9), np.log10(hi * 1.1), 60)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(ms(base), bins=bins, alpha=0.7, label=f"save -> bare watchdog event (p95 {p95(base) * 1000:.1f} ms)")
    ax.hist(ms(ours), bins=bins, alpha=0.7, label=f"save -> new version serving (p95 {p95(ours) * 1000:.1f} ms)")
    if loaded:
        ax.hist(ms(loaded), bins=bins, alpha=0.5, histtype="step", linewidth=1.5,
                label=f"save -> serving, under load (p95 {p95(loaded) * 1000:.1f} ms)")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("saves")
    ax.set_title("bench/hotswap: file saved -> new version serving vs raw watchdog")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


# -- run ------------------------------------------------------------------------------------------

def run(quick: bool) -> Report:
    s = _scenario()
    reps = 5 if quick else 7
    pairs = 10 if quick else 30
    rewrites = 60 if quick else 1000
    block = 10 if quick else 20
    replay_calls = 2000 if quick else 5000
    folder = Path(tempfile.mkdtemp(prefix="bench-hotswap-"))

    ours, base = save_to_serving(folder / "latency", reps, pairs, "save->serving vs watchdog")
    ratios = [p95(x) / p95(y) for x, y in zip(ours, base)]

    bar = ProgressBar(rewrites, f"{rewrites} rewrites under load")
    res = trio.run(lambda: s.swap_under_load(folder / "load" / "drop", folder / "load" / "run.db", rewrites,
                                             block=block, steady_cap=1.0, progress=bar.update))
    bar.close()
    swaps = [(c, t) for kind, c, t in res.windows if kind == "swaps"]
    steady = [(c, t) for kind, c, t in res.windows if kind == "steady"]
    throughput = [(a / at) / (b / bt) for (a, at), (b, bt) in zip(swaps, steady) if at > 0 and bt > 0 and b]
    loaded = res.latencies("reply")

    live, replayed = replay_vs_live(folder / "replay", reps, replay_calls, s.CALLERS, "replay vs live calls")

    flat_ours = [x for xs in ours for x in xs]
    flat_base = [y for ys in base for y in ys]
    plots = [p for p in [plot(flat_ours, flat_base, loaded, RESULTS / "hotswap.png")] if p]
    good_swaps = len(res.acked)

    metrics = {
        "save_to_serving_p95_vs_watchdog_p95": summarize(
            ratios, "ratio", goal=25.0, higher_is_better=False,
            note=f"{pairs} saves per run, in-place and atomic in turn; one caller polling"),
        "calls_lost_or_stale_after_ack": Metric(
            value=float(res.lost + res.stale), unit="calls", goal=0.0, higher_is_better=False,
            note=f"{rewrites} rewrites ({good_swaps} good swaps), {res.calls:,} calls by {s.CALLERS} callers; "
                 f"lost {res.lost}, stale {res.stale}"),
        "broken_versions_served": Metric(value=float(res.unknown), unit="replies", goal=0.0, higher_is_better=False,
                                         note=f"{sum(x.kind != 'good' for x in res.saves)} broken saves"),
        "throughput_during_swaps_vs_steady": summarize(
            throughput, "ratio", goal=0.8, note=f"{len(throughput)} windows of {block} saves vs steady windows"),
        "replay_vs_live_calls_per_second": summarize(
            [r / lv for r, lv in zip(replayed, live)], "ratio", goal=1.0,
            note=f"replay of the last {replay_calls} calls vs {s.CALLERS} live callers"),
        # For information: the absolute figures behind the ratios.
        "save_to_serving_p95_ms": summarize([p95(x) * 1000 for x in ours], "ms", higher_is_better=False),
        "watchdog_event_p95_ms": summarize([p95(y) * 1000 for y in base], "ms", higher_is_better=False),
        "save_to_serving_median_ms": summarize([statistics.median(x) * 1000 for x in ours], "ms",
                                               higher_is_better=False),
        "save_to_serving_under_load_p95_ms": Metric(value=p95(loaded) * 1000 if loaded else float("nan"),
                                                    unit="ms", higher_is_better=False,
                                                    min=min(loaded) * 1000 if loaded else None,
                                                    max=max(loaded) * 1000 if loaded else None, runs=len(loaded)),
        "calls_per_second_during_swaps": summarize([c / t for c, t in swaps], "calls/s"),
        "calls_per_second_steady": summarize([c / t for c, t in steady], "calls/s"),
        "replayed_calls_per_second": summarize(replayed, "calls/s"),
        "live_calls_per_second": summarize(live, "calls/s"),
    }
    extra = {
        "rewrites": rewrites, "good_swaps": good_swaps, "calls": res.calls, "drop_errors": res.drop_errors,
        "hung": res.hung, "errors": dict(res.errors), "problems": res.problems[:20],
        "load_seconds": round(res.seconds, 1),
        "debounce_s": 0.05,
    }
    return Report(metrics=metrics, extra=extra, plots=plots)
