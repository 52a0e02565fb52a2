"""`neuro tail -f` on a log file with no daemon: a header saying so; a kernel in another
process starting on the file (a line says so), its rows, its kernel.stopped; and with
--outcome, a message shown once its outcome comes, even when later messages came first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from ..daemon.test_log_commands import Lines
from .conftest import NEURO
from .test_logs_file import written  # noqa: F401  (the fixture: a log of two kernel runs)


def follower(path, *args, home):
    return subprocess.Popen([str(NEURO), "tail", "-f", "-n", "1", "--log", str(path), *args], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "NEURO_HOME": str(home)})


MAKE_CALL = """
import sys, trio, neuro
from neuro.testing import Echo, Ping

async def main():
    async with neuro.Kernel(log=sys.argv[1]) as k:
        await k.spawn(Echo)
        await k.call("echo", Ping(n=4242))

trio.run(main)
"""


def test_follow_without_a_daemon_sees_a_kernel_start_write_and_stop(written, tmp_path):  # noqa: F811
    """`neuro tail -f --log PATH` with nobody on the file: a header saying so, then a kernel in
    another process starts on it (a line says so), its call, and its kernel.stopped."""
    path = tmp_path / "copy.db"
    shutil.copy(written[0], path)
    proc = follower(path, home=tmp_path)
    try:
        lines = Lines(proc)
        header = lines.until("-- following messages")
        subprocess.run([sys.executable, "-c", MAKE_CALL, str(path)], check=True, timeout=60)
        seen = lines.until("kernel.stopped")
    finally:
        proc.kill()
        proc.wait()
    started = [i for i, line in enumerate(seen) if "a kernel started on the log again" in line]
    call = [i for i, line in enumerate(seen) if '{"n":4242}' in line]
    assert (True, 1, 1) == ("(no kernel runs on it (stopped at" in header[-1], len(started), len(call))
    assert started[0] < len(seen) - 1 and call[0] < len(seen) - 1


SLOW_AND_FAST_ERRORS = """
import sys, trio, neuro
from neuro import sdk
from neuro.testing import Crashy, Ping

class Late(sdk.Neuro):
    name = "late"
    input = Ping

    async def handle(self, ctx, msg):
        await trio.sleep(msg.n / 1000)
        raise ValueError(f"late by {msg.n} ms")

async def main():
    async with neuro.Kernel(log=sys.argv[1]) as k:
        await k.spawn(Late)
        await k.spawn(Crashy)
        await k.send("late", Ping(n=600))          # logged now, its error in 0.6 s
        await trio.sleep(0.2)
        try:
            await k.call("crashy", Ping(n=-1))     # a later message, its error at once
        except neuro.RemoteError:
            pass
        await trio.sleep(1.0)

trio.run(main)
"""


def test_follow_with_an_outcome_shows_a_message_once_it_has_that_outcome(written, tmp_path):  # noqa: F811
    """`tail -f --outcome error`: a slow handler's error comes after a later message's error;
    both are shown, each once, as their errors come."""
    path = tmp_path / "copy.db"
    shutil.copy(written[0], path)
    proc = follower(path, "--outcome", "error", "--jsonl", home=tmp_path)
    try:
        lines = Lines(proc)
        lines.next()  # the newest error before: the first run's
        subprocess.run([sys.executable, "-c", SLOW_AND_FAST_ERRORS, str(path)], check=True, timeout=60)
        first, second = lines.next(), lines.next()
    finally:
        proc.kill()
        proc.wait()
    assert [("crashy", "negative: -1"), ("late", "late by 600 ms")] == [
        (r["recipient"], r["error"]["message"]) for r in (first, second)]
    assert first["id"] > second["id"] and [] == [line for line in lines.left() if line.strip()]
