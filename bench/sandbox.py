"""bench/sandbox: what isolation costs, and whether it holds.

Rates are ratios against baselines measured in the same run: a bare socketpair with
length-prefixed msgpack to a child process (blocking on both sides), `python -I -c "import
msgspec, trio"` for start-up, and `docker run --rm IMAGE true` for containers. The escape
figure runs the escape suite (tests/sandbox/test_escapes.py) and counts what it blocked.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import trio

import neuro
from neuro.sandbox._process import ProcessBackend
from neuro.testing import BoxedEcho, Echo, Ping

from ._harness import Metric, ProgressBar, Report, interleaved, summarize
from ._neuros import DockerEcho, Flooder

ROOT = Path(__file__).resolve().parent.parent
_HEADER = struct.Struct(">I")
ECHO_CHILD = textwrap.dedent("""
    import socket, sys
    s = socket.socket(fileno=int(sys.argv[1]))
    while True:
        data = s.recv(65536)
        if not data:
            break
        s.sendall(data)
""")


def socketpair_ping_pong(n: int) -> float:
    """Round trips/s: length-prefixed msgpack frames to an echoing child over a socketpair."""
    ours, theirs = socket.socketpair()
    child = subprocess.Popen([sys.executable, "-c", ECHO_CHILD, str(theirs.fileno())], pass_fds=(theirs.fileno(),))
    theirs.close()
    body = msgspec.msgpack.encode({"id": 1, "payload": msgspec.msgpack.encode({"n": 1})})
    frame = _HEADER.pack(len(body)) + body
    decode = msgspec.msgpack.decode
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            ours.sendall(frame)
            got = ours.recv(65536)
            decode(got[4:])
        return n / (time.perf_counter() - t0)
    finally:
        ours.close()
        child.wait()


def backend_calls(neuro_cls: type, n: int) -> float:
    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(neuro_cls)
            for i in range(100):
                await k.call(neuro_cls.name, Ping(n=i))
            t0 = time.perf_counter()
            for i in range(n):
                await k.call(neuro_cls.name, Ping(n=i), timeout=10)
            return n / (time.perf_counter() - t0)

    return trio.run(main)


def start_to_first_reply(neuro_cls: type, backends: dict | None = None, warm: bool = False) -> float:
    """Seconds from spawn to the first reply, in a running kernel (optionally from a warm pool)."""

    async def main():
        async with neuro.Kernel(backends=backends) as k:
            if warm:
                backend = k._backends[neuro_cls.sandbox]
                await backend.warm(k._store.get(neuro_cls.policy, neuro_cls.policy_overrides))
            t0 = time.perf_counter()
            await k.spawn(neuro_cls)
            await k.call(neuro_cls.name, Ping(n=1), timeout=60)
            return time.perf_counter() - t0

    return trio.run(main)


UNTRUSTED_ECHO = textwrap.dedent("""
    from neuro import sdk

    class Ping(sdk.Message):
        n: int

    class Pong(sdk.Message):
        n: int

    class FileEcho(sdk.Neuro):
        name = "file-echo"
        input = Ping
        output = Pong
        policy = "untrusted"

        def handle(self, ctx, msg):
            return Pong(n=msg.n)
""")


def file_spawns(folder: Path, reps: int) -> tuple[list[float], list[float]]:
    """Spawn FILE to first reply, interleaved in one warm kernel: (untrusted: described in a
    sandbox, never imported here; the same file imported here as before this issue, then
    started from the warm pool). Both under the untrusted policy, in the process sandbox."""
    from neuro._neurofile import load_neuro_path

    path = folder / "file_echo.py"
    path.write_text(UNTRUSTED_ECHO)

    async def main() -> tuple[list[float], list[float]]:
        ours: list[float] = []
        base: list[float] = []
        async with neuro.Kernel(backends={"process": ProcessBackend(pool_size=2)}) as k:
            backend = k._backends["process"]
            pool = k._store.get("untrusted")

            async def settle() -> None:  # both start from a full warm pool
                await backend.warm(pool)
                while backend._pool.filling:
                    await trio.sleep(0.01)

            async def one(untrusted: bool) -> float:
                await settle()
                t0 = time.perf_counter()
                if untrusted:
                    loaded = await k.load(path)
                else:
                    loaded = load_neuro_path(path)
                await k.spawn(loaded.cls, source=loaded.files)
                await k.call("file-echo", {"n": 1}, timeout=30)
                took = time.perf_counter() - t0
                await k.stop("file-echo")
                return took

            await one(True), await one(False)  # warm-up: first imports
            for _ in range(reps):
                ours.append(await one(True))
                base.append(await one(False))
        return ours, base

    return trio.run(main)


def python_start() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-c", "import msgspec, trio"], check=True)
    return time.perf_counter() - t0


def docker_run_true() -> float:
    t0 = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", "-v", "/usr:/usr:ro", "neuro-sandbox:current", "true"],
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def docker_ready() -> str:
    """'' when the docker backend can run here, else why not."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.images.get("neuro-sandbox:current")
        client.close()
        return ""
    except Exception as e:  # noqa: BLE001 - any failure means: measure without docker
        return f"{type(e).__name__}: {e}"


def others_under_attack(n: int, reps: int) -> list[tuple[float, float]]:
    """An in-process echo's call rate without, then with, a sandboxed neuro flooding sends:
    `reps` pairs of windows back to back in one kernel, so each ratio compares neighbours.

    The flooder is spawned first and the warm pool's replacement worker (a Python start-up
    on the other core) is waited for, so the figure is the attack's steady state. Each flood
    runs for a fixed time and ends by itself (cancelling it would kill its worker)."""
    async def rate(k: Any) -> float:
        t0 = time.perf_counter()
        for i in range(n):
            await k.call("echo", Ping(n=i))
        return n / (time.perf_counter() - t0)

    async def main() -> list[tuple[float, float]]:
        async with neuro.Kernel() as k:
            await k.spawn(Echo, policy="trusted")
            await k.spawn(Echo, name="sink", policy="trusted")
            await k.spawn(Flooder)
            pool = k._backends["process"].real._pool
            with trio.move_on_after(10):
                while pool.filling:
                    await trio.sleep(0.01)
            pairs = []
            bar = ProgressBar(reps, "others under attack")
            for i in range(reps):
                calm = await rate(k)
                flood_ms = 300 + 3000 * n / calm  # outlasts the attacked window
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(partial(k.call, "flooder", Ping(n=int(flood_ms)), timeout=None))
                    await trio.sleep(0.3)
                    pairs.append((calm, await rate(k)))
                bar.update(i + 1)
            bar.close()
            return pairs

    return trio.run(main)


# The escape suite and every attack of the security issue (15), each a test that passes only
# while its attempt stays blocked: per backend where a test is parametrised by one, and
# "kernel" for attacks on the kernel itself (its loader, its control socket).
ATTACKS = [
    "tests/sandbox/test_escapes.py", "tests/sandbox/test_hardening_host.py", "tests/sandbox/test_hardening_grants.py",
    "tests/sandbox/test_quota_evidence.py", "tests/hotswap/test_untrusted_drop.py", "tests/daemon/test_peer_checks.py",
]


def escapes(backends: list[str]) -> dict[str, tuple[int, int]]:
    """Run the attack suites; per backend (and "kernel"), (attempts blocked, attempts made)."""
    files = [str(ROOT / f) for f in ATTACKS if (ROOT / f).exists()]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *files],
        capture_output=True, text=True, cwd=ROOT)
    counts = {b: [0, 0] for b in [*backends, "kernel"]}
    for line in out.stdout.splitlines():
        m = re.match(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+)", line)
        if not m:
            continue
        param = re.search(r"\[([\w-]+)\]$", m.group(2))
        key = param.group(1) if param and param.group(1) in counts else None
        if key is None and param is None:
            key = "kernel"
        if key is None:
            continue  # another parametrisation, or a backend not measured here
        counts[key][1] += 1
        counts[key][0] += m.group(1) == "PASSED"
    return {b: (c[0], c[1]) for b, c in counts.items()}


def run(quick: bool) -> Report:
    reps = 5
    n = 1000 if quick else 5000
    why_no_docker = docker_ready()
    metrics: dict[str, Metric] = {}
    extra: dict = {}

    proc, pair, ratio = interleaved(lambda: backend_calls(BoxedEcho, n), lambda: socketpair_ping_pong(n), reps,
                                    "process calls vs socketpair")
    metrics["process_calls_vs_socketpair"] = summarize(ratio, "ratio", goal=0.5)
    metrics["process_calls_per_second"] = summarize(proc, "calls/s")
    metrics["socketpair_round_trips_per_second"] = summarize(pair, "round trips/s")
    # The breakdown of that ratio: the kernel's own cost of a call to a handler that awaits (no
    # sandbox: the ceiling any sandbox's ratio lives under), and what the sandbox adds to it.
    _, _, floor = interleaved(lambda: backend_calls(Echo, n), lambda: socketpair_ping_pong(n), reps,
                              "in-process calls vs socketpair")
    metrics["inproc_async_calls_vs_socketpair"] = summarize(
        floor, "ratio", note="an in-process async echo through the same kernel: the ceiling of process_calls_vs_socketpair")
    _, _, boxed = interleaved(lambda: backend_calls(BoxedEcho, n), lambda: backend_calls(Echo, n), reps,
                              "process calls vs in-process calls")
    metrics["process_calls_vs_inproc_async_calls"] = summarize(
        boxed, "ratio", note="what the process sandbox (socket, worker, seccomp) costs a call, the kernel's share aside")

    cold_backends = lambda: {"process": ProcessBackend(pool_size=0)}  # noqa: E731 - a fresh one each run
    cold, base, cold_ratio = interleaved(lambda: start_to_first_reply(BoxedEcho, cold_backends()), python_start,
                                         reps, "process cold start vs python")
    metrics["process_cold_start_vs_python_import"] = summarize(cold_ratio, "ratio", goal=1.3, higher_is_better=False)
    metrics["process_cold_start_seconds"] = summarize(cold, "s")
    metrics["python_import_trio_msgspec_seconds"] = summarize(base, "s")

    warm, cold2, warm_ratio = interleaved(
        lambda: start_to_first_reply(BoxedEcho, {"process": ProcessBackend(pool_size=1)}, warm=True),
        lambda: start_to_first_reply(BoxedEcho, cold_backends()), reps, "warm pool vs cold start")
    metrics["warm_start_vs_cold_start"] = summarize(warm_ratio, "ratio", goal=0.1, higher_is_better=False)
    metrics["warm_start_seconds"] = summarize(warm, "s")

    with tempfile.TemporaryDirectory() as folder:
        ours, base = file_spawns(Path(folder), 5 if quick else 15)
    ratios = [a / b for a, b in zip(ours, base)]
    metrics["untrusted_file_spawn_vs_warm_pool_spawn"] = summarize(
        ratios, "ratio", goal=2.0, higher_is_better=False,
        note="Kernel.load (described in a sandbox) + spawn + first reply, over in-kernel import + warm-pool spawn "
             "+ first reply of the same file; interleaved, one kernel")
    metrics["untrusted_file_spawn_seconds"] = summarize(ours, "s")
    metrics["warm_pool_file_spawn_seconds"] = summarize(base, "s")

    pairs = others_under_attack(4 * n, reps)
    metrics["others_rate_under_attack_vs_calm"] = summarize([b / a for a, b in pairs], "ratio", goal=0.8,
                                                            note="calm and attacked windows back to back, one kernel")

    backends = ["process"]
    if why_no_docker:
        extra["docker"] = f"not measured: {why_no_docker}"
    else:
        backends.append("docker")
        dock, proc2, d_ratio = interleaved(lambda: backend_calls(DockerEcho, n), lambda: backend_calls(BoxedEcho, n),
                                           reps, "docker calls vs process")
        metrics["docker_calls_vs_process_calls"] = summarize(d_ratio, "ratio", goal=0.5)
        metrics["docker_calls_per_second"] = summarize(dock, "calls/s")
        from neuro.sandbox._docker import DockerBackend

        dcold, drun, dc_ratio = interleaved(
            lambda: start_to_first_reply(DockerEcho, {"docker": DockerBackend(pool_size=0)}), docker_run_true,
            3 if quick else reps, "docker cold start vs docker run")
        metrics["docker_cold_start_vs_docker_run"] = summarize(dc_ratio, "ratio", goal=1.5, higher_is_better=False)
        metrics["docker_cold_start_seconds"] = summarize(dcold, "s")
        metrics["docker_run_true_seconds"] = summarize(drun, "s")

    bar = ProgressBar(1, "escape suite")
    blocked = escapes(backends)
    bar.update(1)
    bar.close()
    for backend, (ok, total) in blocked.items():
        metrics[f"escapes_blocked_{backend}"] = Metric(value=ok / total if total else 0.0, unit="fraction",
                                                       goal=1.0, runs=1, note=f"{ok} of {total} attempts blocked")
    extra["escapes"] = {b: {"blocked": ok, "attempts": total} for b, (ok, total) in blocked.items()}
    return Report(metrics=metrics, extra=extra)
