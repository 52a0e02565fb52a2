"""bench/daemon: the control socket against a bare msgpack echo, `neuro ps` against a bare
interpreter, fuzzing, SIGKILL-and-restart cycles under load, and durable acknowledgements
against a raw fsync. Every speed figure is a ratio measured in the same run, interleaved.

Issue 16's figures (bench/_daemon_robustness.py measures them): calls answered for a
legitimate client while 200 connections drip their Hello, over the same without the drip;
the daemon's peak memory growth while one client pipelines big log queries and never reads;
the worst call latency of a running neuro while a package of 10^5 files is dropped, beside
the worst without the drop; and the share of the chaos run's error outcomes that name their
real cause (the chaos run of tests/chaos/test_chaos.py).
"""

from __future__ import annotations

import inspect
import os
import random
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import msgspec

from neuro._busy_poll import busy_poll_window
from neuro import _control as c
from neuro.shell import daemon as d
from neuro.client import blocking, run_blocking

from . import _daemon_robustness as robust
from ._harness import Metric, ProgressBar, Report, interleaved, summarize

REPO = Path(__file__).resolve().parent.parent
NEURO = REPO / ".venv" / "bin" / "neuro"


class Sync:
    """A blocking client, opened and closed with `with`."""

    def __init__(self, st: d.State) -> None:
        self.client = blocking(str(st.socket), timeout=30)

    def __enter__(self):
        run_blocking(self.client.__aenter__())
        return self

    def __exit__(self, *exc):
        run_blocking(self.client.__aexit__(None, None, None))

    def __getattr__(self, name):
        method = getattr(self.client, name)
        return lambda *a, **kw: run_blocking(method(*a, **kw))


# -- baselines -------------------------------------------------------------------------------

BARE_ECHO = """
import socket, sys
from neuro import _control as c
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(sys.argv[1])
listener.listen(1)
print("ready", flush=True)
conn, _ = listener.accept()
decoder = c.FrameDecoder(c.ClientFrame)
while data := conn.recv(65536):
    for frame in decoder.feed(data):
        conn.sendall(c.encode(c.Reply(id=frame.id, value=frame.payload)))
"""


def bare_echo_server(path: str) -> subprocess.Popen:
    """A msgpack echo over a Unix socket, in a process of its own like the daemon: read a
    length-prefixed frame, decode it, encode a reply, write it back. The floor for any
    protocol of this shape; what the control server adds is measured against it."""
    server = subprocess.Popen([sys.executable, "-c", BARE_ECHO, path], stdout=subprocess.PIPE, text=True)
    server.stdout.readline()
    return server


def bare_round_trips(path: str, n: int) -> float:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    decoder = c.FrameDecoder(c.ServerFrame)
    t0 = time.perf_counter()
    for i in range(n):
        sock.sendall(c.encode(c.Call(id=i, to="echo", payload={"text": "ping"})))
        got: list = []
        while not got:
            got = decoder.feed(sock.recv(65536))
    elapsed = time.perf_counter() - t0
    sock.close()
    return n / elapsed


def control_round_trips(client: Sync, n: int) -> float:
    """Calls/s with the blocking client (what the CLI uses); reported beside the main figure."""
    t0 = time.perf_counter()
    for _ in range(n):
        client.call("echo", {"text": "ping"})
    return n / (time.perf_counter() - t0)


def connect_round_trips(path: str, n: int, to: str = "echo", payload: dict | None = None) -> float:
    """Calls/s with the client API the issue names: `neuro.connect()` from trio, one call at a
    time (connecting and a short warm-up are not timed)."""
    import trio

    import neuro

    payload = payload or {"text": "ping"}

    async def main() -> float:
        async with neuro.connect(path) as client:
            for _ in range(20):
                await client.call(to, payload)
            t0 = time.perf_counter()
            for _ in range(n):
                await client.call(to, payload)
            return n / (time.perf_counter() - t0)

    return trio.run(main)


def async_echo_file(folder: str) -> str:
    """A neuro file holding neuro.testing's Echo, whose handler is `async def`: the built-in
    echo is a plain function, which an idle neuro runs in the calling task, while an async
    handler is served by the neuro's runner task. Timed beside the main figure."""
    from neuro import testing

    path = os.path.join(folder, "async_echo.py")
    classes = (testing.Ping, testing.Pong, testing.Echo)
    with open(path, "w") as f:
        f.write("from neuro import sdk\n\n\n" + "\n\n".join(inspect.getsource(c) for c in classes))
    return path

# Each side of a ratio starts after a pause: the daemon writes the log rows of the calls just
# made (about 20 ms of a CPU here) and polls for 0.5 ms after its last reply. A bare echo
# timed meanwhile found one CPU busy, so its two processes shared the other and ran up to 3x
# faster than when timed alone; the pause makes each side run as it does on its own.
PAUSE_S = 0.1


def busy_poll_off_ratio(home: str, n: int, bare: Callable[[], float]) -> float:
    """The main ratio again with busy polling off in the daemon and the client (median of 3),
    so the table can say what the polling buys."""
    st = d.State(os.path.join(home, "off"))
    old = os.environ.get("NEURO_BUSY_POLL_US")
    os.environ["NEURO_BUSY_POLL_US"] = "0"
    try:
        d.start(st)
        with Sync(st) as client:
            client.spawn("neuro.neuros.echo:Echo")
        _, _, ratios = interleaved(lambda: connect_round_trips(str(st.socket), n), bare, 3, "busy polling off")
        return sorted(ratios)[1]
    finally:
        if old is None:
            os.environ.pop("NEURO_BUSY_POLL_US", None)
        else:
            os.environ["NEURO_BUSY_POLL_US"] = old
        if d.running_pid(st) is not None:
            d.stop(st)


def embedded_round_trips(n: int) -> float:
    """Calls/s into an embedded kernel with a log, as the daemon runs it: no socket at all. A
    call over the socket costs at least this plus a bare round trip, so the control/bare ratio
    cannot pass embedded/(embedded + bare), whatever the server does."""
    import trio

    import neuro
    from neuro.neuros.echo import Echo

    async def main() -> float:
        folder = tempfile.mkdtemp(prefix="nk", dir="/tmp")
        try:
            async with neuro.Kernel(log=os.path.join(folder, "log.db")) as kernel:
                await kernel.spawn(Echo)
                for _ in range(20):
                    await kernel.call("echo", {"text": "ping"})
                t0 = time.perf_counter()
                for _ in range(n):
                    await kernel.call("echo", {"text": "ping"})
                return n / (time.perf_counter() - t0)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return trio.run(main)


def wall(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


# -- fuzzing ---------------------------------------------------------------------------------

def fuzz_frames(rng: random.Random, count: int) -> list[bytes]:
    tags = ["ping", "call", "send", "spawn", "subscribe", "cancel", "messages", "reply", "nope", "hello"]
    out = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.4:  # a frame with the right shape and wrong contents
            body = msgspec.msgpack.encode({"frame": rng.choice(tags), "id": rng.choice([1, "x", None, -1, 2**70 - 1 >> 8]),
                                           rng.choice(["to", "payload", "topic", "x"]): rng.choice([1, "a", [1], {}, None])})
            out.append(struct.pack(">I", len(body)) + body)
        elif kind < 0.8:  # random bytes, correctly framed
            body = rng.randbytes(rng.randrange(0, 64))
            out.append(struct.pack(">I", len(body)) + body)
        else:  # random bytes, unframed
            out.append(rng.randbytes(rng.randrange(1, 64)))
    return out


def fuzz(st: d.State, total: int, rng: random.Random) -> tuple[int, int]:
    """Send `total` fuzzed frames over many connections; return (sent, crashes)."""
    pid = d.running_pid(st)
    sent = crashes = 0
    bar = ProgressBar(total, "fuzzed frames")
    while sent < total:
        batch = fuzz_frames(rng, min(500, total - sent))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        try:
            sock.connect(str(st.socket))
            if rng.random() < 0.9:
                sock.sendall(c.encode(c.Hello(protocol=c.PROTOCOL, client="fuzz")))
            if rng.random() < 0.05:  # a huge length
                batch.append(struct.pack(">I", rng.randrange(c.MAX_FRAME + 1, 2**32)))
            sock.sendall(b"".join(batch))
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except OSError:
            pass
        finally:
            sock.close()
        sent += len(batch)
        bar.update(min(sent, total))
        if d.running_pid(st) != pid:
            crashes += 1
            d.start(st)
            pid = d.running_pid(st)
    bar.close()
    with Sync(st) as client:
        if client.ping() != "pong":
            crashes += 1
    return sent, crashes


# -- crash cycles ----------------------------------------------------------------------------

LOAD = """
import sys, trio
from neuro.client import connect
async def main():
    async with connect(sys.argv[1]) as client:
        i = 0
        while True:
            await client.send("counter", {"type": "add", "key": "k"}, durable=i % 2 == 0)
            i += 1
            if i == 100:
                print("loaded", flush=True)
trio.run(main)
"""


def crash_cycles(st: d.State, cycles: int) -> tuple[int, int]:
    """SIGKILL the daemon under load `cycles` times; return (messages without an outcome, integrity ok count)."""
    ok = 0
    bar = ProgressBar(cycles, "SIGKILL cycles")
    for i in range(cycles):
        with Sync(st) as client:
            if "counter" not in [p["name"] for p in client.ps()]:
                client.spawn("neuro.neuros.counter:Counter")
        load = subprocess.Popen([sys.executable, "-c", LOAD, str(st.socket)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        load.stdout.readline()
        os.kill(d.running_pid(st), signal.SIGKILL)
        load.wait(30)
        while d.running_pid(st) is not None:
            time.sleep(0.01)
        d.start(st)
        with Sync(st) as client:  # recovery ran at start; give durable ones their neuro again
            client.spawn("neuro.neuros.counter:Counter")
            client.messages(limit=1)  # flushes the log
        db = sqlite3.connect(st.log)
        try:
            ok += db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            db.close()
        bar.update(i + 1)
    bar.close()
    d.stop(st)
    db = sqlite3.connect(st.log)
    try:
        missing = db.execute("SELECT COUNT(*) FROM messages m LEFT JOIN outcomes o ON o.id = m.id "
                             "WHERE o.id IS NULL").fetchone()[0]
    finally:
        db.close()
    return missing, ok


# -- durable acknowledgements ------------------------------------------------------------------

# The first requests after a pause are timed apart: on a virtual machine a process that has
# slept wakes slowly (about 0.5 ms here for each of client and daemon), which is a cost of
# idling, not of a durable commit. Both sides get the same untimed start.
WARM_UP = 3


def durable_latencies(client: Sync, n: int) -> list[float]:
    """`WARM_UP` + `n` durable sends back to back; the latencies of all of them."""
    out = []
    for i in range(WARM_UP + n):
        t0 = time.perf_counter()
        client.send("counter", {"type": "add", "key": "d"}, durable=True)
        out.append(time.perf_counter() - t0)
    return out


def fsync_latencies(folder: str, n: int) -> list[float]:
    path = os.path.join(folder, "fsync.bin")
    out = []
    with open(path, "ab") as f:
        for _ in range(WARM_UP + n):
            t0 = time.perf_counter()
            f.write(b"x" * 100)
            f.flush()
            os.fsync(f.fileno())
            out.append(time.perf_counter() - t0)
    return out


def p99(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def run(quick: bool) -> Report:
    reps = 5
    calls = 300 if quick else 3000
    fuzz_total = 5_000 if quick else 100_000
    cycles = 3 if quick else 30
    durable_n = 100 if quick else 1000
    rng = random.Random(7)
    home = tempfile.mkdtemp(prefix="nb", dir="/tmp")
    st = d.State(home)
    metrics: dict[str, Metric] = {}
    extra: dict = {}
    try:
        d.start(st)
        with Sync(st) as client:
            client.spawn("neuro.neuros.echo:Echo")
            client.spawn("neuro.neuros.counter:Counter")
            control_round_trips(client, 50)  # warm up

            def ours() -> float:
                time.sleep(PAUSE_S)
                return connect_round_trips(str(st.socket), calls)

            def bare() -> float:
                time.sleep(PAUSE_S)
                path = os.path.join(home, f"bare{rng.randrange(10**9)}.sock")
                server = bare_echo_server(path)
                try:
                    return bare_round_trips(path, calls)
                finally:
                    server.wait(10)

            xs, ys, ratios = interleaved(ours, bare, reps, "control vs bare echo")
            metrics["call_ratio_vs_bare_msgpack_echo"] = summarize(ratios, "ratio", goal=0.5)
            extra["control_calls_per_s"] = sorted(xs)[len(xs) // 2]
            extra["bare_echo_per_s"] = sorted(ys)[len(ys) // 2]
            extra["control_client"] = "neuro.connect() from trio (TrioTransport), one call at a time"
            client.spawn(async_echo_file(home), name="echo-async", trusted=True)  # our own code: in-process
            xs, ys, ratios = interleaved(lambda: (time.sleep(PAUSE_S), connect_round_trips(
                str(st.socket), calls, "echo-async", {"n": 1}))[1], bare, 3, "async handler vs bare echo")
            extra["control_calls_per_s_async_handler"] = sorted(xs)[1]
            extra["call_ratio_async_handler"] = sorted(ratios)[1]
            extra["busy_poll_window_us"] = busy_poll_window() * 1e6
            extra["call_ratio_busy_poll_off"] = busy_poll_off_ratio(home, calls, bare)
            blocking_rates, embedded_rates, ceilings = [], [], []
            for _ in range(3):  # context for the ratio: the CLI's client, and the ceiling
                blocking_rates.append(control_round_trips(client, calls))
                embedded_rates.append(embedded_round_trips(calls))
                bare_rate = bare()
                ceilings.append(embedded_rates[-1] / (embedded_rates[-1] + bare_rate))
            extra["blocking_client_calls_per_s"] = sorted(blocking_rates)[1]
            extra["embedded_kernel_calls_per_s"] = sorted(embedded_rates)[1]
            extra["ratio_ceiling_embedded_over_embedded_plus_bare"] = sorted(ceilings)[1]

            env = {**os.environ, "NEURO_HOME": home}
            xs, ys, ratios = interleaved(lambda: wall([str(NEURO), "ps"], env),
                                         lambda: wall([sys.executable, "-c", "pass"], env), reps, "neuro ps vs python")
            metrics["ps_wall_ratio_vs_python_pass"] = summarize(ratios, "ratio", goal=2.0, higher_is_better=False)
            extra["ps_seconds"] = sorted(xs)[len(xs) // 2]

            ratios, cold_ratios, firsts = [], [], []
            for _ in range(reps):
                durable = durable_latencies(client, durable_n // reps)
                raw = fsync_latencies(home, durable_n // reps)
                ratios.append(p99(durable[WARM_UP:]) / p99(raw[WARM_UP:]))
                cold_ratios.append(p99(durable) / p99(raw))
                firsts += durable[:WARM_UP]
                extra.setdefault("durable_p99_ms", []).append(p99(durable[WARM_UP:]) * 1e3)
                extra.setdefault("fsync_p99_ms", []).append(p99(raw[WARM_UP:]) * 1e3)
            metrics["durable_ack_p99_ratio_vs_fsync_p99"] = summarize(ratios, "ratio", goal=3.0, higher_is_better=False)
            extra["durable_warm_up_sends_per_rep"] = WARM_UP
            extra["durable_p99_ratio_with_warm_up_timed"] = sorted(cold_ratios)[len(cold_ratios) // 2]
            extra["durable_first_sends_after_pause_median_ms"] = sorted(firsts)[len(firsts) // 2] * 1e3

        sent, crashes = fuzz(st, fuzz_total, rng)
        metrics["fuzzed_frames_sent"] = Metric(value=sent, unit="frames", goal=100_000)
        metrics["daemon_crashes_under_fuzzing"] = Metric(value=crashes, unit="crashes", goal=0, higher_is_better=False)

        missing, ok = crash_cycles(st, cycles)
        metrics["messages_without_outcome_after_sigkill_cycles"] = Metric(
            value=missing, unit="messages", goal=0, higher_is_better=False, note=f"{cycles} cycles")
        metrics["integrity_check_ok"] = Metric(value=ok, unit=f"of {cycles}", goal=cycles)

        robustness(home, quick, metrics, extra)
        logs_without_daemon(quick, metrics, extra)
    finally:
        if d.running_pid(st) is not None:
            d.stop(st)
        shutil.rmtree(home, ignore_errors=True)
    return Report(metrics=metrics, extra=extra)


# -- issue 19: `neuro logs -n 100` on a big log, no daemon ----------------------------------------

def logs_without_daemon(quick: bool, metrics: dict[str, Metric], extra: dict, reps: int = 7) -> None:
    """`neuro logs -n 100` wall time over `python -c pass`, interleaved, with no daemon: the
    state folder's log.db is (a link to) the generated log of 1 M messages (100 k with
    --quick). Modules get their .pyc first (a run without PYTHONDONTWRITEBYTECODE), as an
    installed Neuro has them."""
    from ._logdata import log_with

    n = 100_000 if quick else 1_000_000
    home = Path(tempfile.mkdtemp(prefix="nl", dir="/tmp"))
    try:
        path, info = log_with(n, home, cache=True)
        (home / "log.db").symlink_to(path)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["NEURO_HOME"] = str(home)
        command = [str(NEURO), "logs", "-n", "100"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 or len(done.stdout.splitlines()) != 102:  # a header, dashes, 100 rows
            raise RuntimeError(f"`neuro logs -n 100` failed ({done.returncode}): {done.stderr[-500:]}")
        xs, ys, ratios = interleaved(lambda: wall(command, env), lambda: wall([sys.executable, "-c", "pass"], env),
                                     reps, f"neuro logs -n 100 ({n:,} messages) vs python")
        metrics["logs_n100_1m_wall_ratio_vs_python_pass"] = summarize(
            ratios, "ratio", goal=3.0, higher_is_better=False,
            note=f"{n:,} messages, no daemon" + (" (--quick: fewer messages)" if quick else ""))
        extra["logs_n100_seconds"] = sorted(xs)[len(xs) // 2]
        extra["python_pass_seconds"] = sorted(ys)[len(ys) // 2]
        extra["logs_log"] = info
    finally:
        shutil.rmtree(home, ignore_errors=True)


# -- issue 16: one client or one drop cannot starve the others; errors keep their reasons --------

def robustness(home: str, quick: bool, metrics: dict[str, Metric], extra: dict) -> None:
    """Issue 16's four figures, on daemons of their own (and the chaos run's own daemon)."""
    unread_client(home, quick, metrics, extra)
    st = d.State(os.path.join(home, "r16"))
    d.start(st)
    try:
        with Sync(st) as client:
            client.spawn("neuro.neuros.echo:Echo")
        drip(st, quick, metrics, extra)
        huge_drop(st, Path(home), quick, metrics, extra)
    finally:
        if d.running_pid(st) is not None:
            d.stop(st)
    chaos(home, quick, metrics, extra)


def unread_client(home: str, quick: bool, metrics: dict[str, Metric], extra: dict) -> None:
    """A fresh daemon for each repetition, its log filled so that a query for every call
    returns ~15 MiB."""
    reps, queries = (1, 830) if quick else (3, 830)
    growths, facts = [], {}
    bar = ProgressBar(reps, "unread client")
    for i in range(reps):
        st = d.State(os.path.join(home, f"rss{i}"))
        d.start(st)
        try:
            with Sync(st) as client:
                client.spawn("neuro.neuros.echo:Echo")
            robust.fill_log(st)
            growth, facts_i = robust.unread_client_growth(st, queries)
        finally:
            if d.running_pid(st) is not None:
                d.stop(st)
        growths.append(growth)
        for k, v in facts_i.items():
            facts.setdefault(k, []).append(v)
        bar.update(i + 1)
    bar.close()
    metrics["unread_client_rss_growth_mb"] = summarize(
        growths, "MB", goal=64.0, higher_is_better=False,
        note=f"daemon peak RSS (VmHWM) growth while one client pipelines {queries} log queries of "
             f"{max(facts['reply_mib']):.1f} MiB replies and never reads, until cut off; a fresh daemon each run")
    extra.update({f"unread_client_{k}": v for k, v in facts.items()})
    extra["unread_client_queries_pipelined"] = queries


def drip(st: d.State, quick: bool, metrics: dict[str, Metric], extra: dict) -> None:
    reps, seconds = 5, 2.0 if quick else 5.0
    withs, withouts, facts = robust.drip_windows(st, reps, seconds, "drip vs no drip")
    metrics["drip_calls_ratio"] = summarize(
        [w / wo if wo else 0.0 for w, wo in zip(withs, withouts)], "ratio", goal=0.9,
        note=f"one-connection calls answered in {seconds:g} s windows while 200 connections drip a Hello "
             "at 1 byte/s and reconnect, over the same without them, windows alternating")
    extra["drip_calls_answered"] = withs
    extra["no_drip_calls_answered"] = withouts
    extra.update(facts)


def huge_drop(st: d.State, folder: Path, quick: bool, metrics: dict[str, Metric], extra: dict) -> None:
    files, reps, least_s = (20_000, 3, 3.0) if quick else (100_000, 5, 6.0)
    bar = ProgressBar(1, f"{files:,}-file package")
    package = robust.make_package(folder / "huge-src", files)
    bar.update(1)
    bar.close()
    try:
        withs, withouts, facts = robust.huge_drop_latencies(st, package, reps, least_s, "huge drop vs none")
    finally:
        shutil.rmtree(package.parent, ignore_errors=True)
    metrics["worst_call_ms_during_huge_package_drop"] = summarize(
        withs, "ms", goal=50.0, higher_is_better=False,
        note=f"worst in-process echo latency per window from the move of a {files:,}-file package into the "
             f"drop folder to its drop.error (at least {least_s:g} s); median of {reps} windows. Without a "
             "drop, in a window as long: extra.worst_call_ms_without_drop")
    extra["worst_call_ms_without_drop"] = summarize(withouts, "ms", higher_is_better=False).to_json()
    extra["worst_call_ratio_huge_drop_vs_none"] = summarize([w / wo for w, wo in zip(withs, withouts)],
                                                            "ratio", higher_is_better=False).to_json()
    extra["huge_drop_package_files"] = files
    extra["huge_drop_window_s"] = facts["window_s"]
    extra["huge_drop_refused_in_window"] = facts["refused_in_window"]
    extra["huge_drop_error"] = facts["error"]


def chaos(home: str, quick: bool, metrics: dict[str, Metric], extra: dict) -> None:
    seconds = 30.0 if quick else 60.0
    result = robust.chaos(home, seconds)
    fraction = result.errors_with_cause / result.error_outcomes if result.error_outcomes else 1.0
    metrics["chaos_error_outcomes_with_real_reason"] = Metric(
        value=fraction, unit="fraction", goal=1.0,
        note=f"{result.errors_with_cause} of {result.error_outcomes} error outcomes in a {seconds:g} s chaos run "
             f"({result.messages:,} messages, {result.rewrites} rewrites of which {result.broken_rewrites} broken, "
             f"{result.kills} kills, {result.breaches} memory breaches)")
    extra["chaos"] = {
        "seconds": seconds, "messages": result.messages, "requests": result.requests,
        "without_one_outcome": len(result.without_one_outcome), "late": len(result.late), "hung": len(result.hung),
        "error_outcomes": result.error_outcomes, "error_types": dict(result.error_causes),
        "dead_without_reason": len(result.dead_without_reason),
        "errors_without_cause": [f"{to}: {kind}: {message}"
                                 for _, to, kind, message in result.errors_without_cause[:5]],
        "rewrites": result.rewrites, "broken_rewrites": result.broken_rewrites, "drop_errors": result.drop_errors,
        "kills": result.kills, "handler_exceptions": result.fails, "memory_breaches": result.breaches,
        "gave_up": result.gave_up, "client_errors": dict(result.client_errors),
    }


def huge_drop_only(quick: bool) -> Report:
    """Only the huge-drop figure, on a daemon of its own: `python -m bench.daemon huge_drop
    [--quick]` prints it and writes no results file (bench/results/daemon.json stays the whole
    benchmark's). The metric is measured exactly as in `run`."""
    home = tempfile.mkdtemp(prefix="nh", dir="/tmp")
    st = d.State(os.path.join(home, "r16"))
    metrics: dict[str, Metric] = {}
    extra: dict = {}
    d.start(st)
    try:
        with Sync(st) as client:
            client.spawn("neuro.neuros.echo:Echo")
        huge_drop(st, Path(home), quick, metrics, extra)
    finally:
        if d.running_pid(st) is not None:
            d.stop(st)
        shutil.rmtree(home, ignore_errors=True)
    return Report(metrics=metrics, extra=extra)


if __name__ == "__main__":
    import json

    if sys.argv[1:2] != ["huge_drop"]:
        sys.exit("usage: python -m bench.daemon huge_drop [--quick]   (the whole benchmark: python -m bench daemon)")
    report = huge_drop_only("--quick" in sys.argv[2:])
    print(json.dumps({"metrics": {k: m.to_json() for k, m in report.metrics.items()}, "extra": report.extra},
                     indent=1, default=str))
