"""A sandboxed worker that dies tells every caller, and the log, why it died; one that asks
the kernel with a NaN timeout gets an error, and the kernel lives on.

Each waiter of a dead worker used to be resolved with one shared `outcome.Value`, which can be
unwrapped once: from the second waiter (or the second death in the kernel's process) on, the
reason read `outcome.AlreadyUsedError` with no message. And a sandbox's `ctx.call(timeout=nan)`
reached the kernel's deadline heap.
"""

from __future__ import annotations

import os
import shutil
import signal

import pytest
import trio

import neuro
from neuro import sdk

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (bash scripts/setup.sh installs it)")

CALLERS = 4


class P(sdk.Message):
    n: int
    how: str = "exit"


class ExitsTogether(sdk.Neuro):
    """Waits until `n` calls are in flight in the worker, then its worker exits with code 7
    (or kills itself with SIGKILL)."""

    name = "exits-together"
    input = P
    output = P
    sandbox = "process"
    policy_overrides = {"concurrency": CALLERS}
    serving = 0

    async def handle(self, ctx, msg):
        type(self).serving += 1
        while type(self).serving < msg.n:
            await trio.sleep(0.005)
        if msg.how == "signal":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(7)


class ExitsAtOnce(sdk.Neuro):
    """Its worker exits with code 9 on every call."""

    name = "exits-at-once"
    input = P
    output = P
    sandbox = "process"

    def handle(self, ctx, msg):
        os._exit(9)


class AsksWithNan(sdk.Neuro):
    """Calls another neuro with a NaN timeout from inside its sandbox."""

    name = "asks-nan"
    input = P
    output = P
    sandbox = "process"

    async def handle(self, ctx, msg):
        try:
            await ctx.call("asks-nan-target", P(n=1), timeout=float("nan"))
        except Exception as e:
            return P(n=1 if "timeout must be a number of seconds >= 0 or math.inf, got nan" in str(e) else -1)
        return P(n=0)


class Target(sdk.Neuro):
    name = "asks-nan-target"
    input = P
    output = P
    sandbox = "inproc"

    def handle(self, ctx, msg):
        return msg


async def _call_and_keep_error(k, name, n, errors, how="exit"):
    try:
        await k.call(name, P(n=n, how=how), timeout=60)
    except neuro.NeuroError as e:
        errors.append(e)


@pytest.mark.parametrize(("how", "reason"), [("exit", "the worker exited with code 7"),
                                            ("signal", "the worker was killed by signal SIGKILL")])
def test_every_concurrent_caller_of_a_dying_worker_gets_the_real_reason(log_path, how, reason):
    """Four calls in flight when the worker dies: each error and each outcome row says why."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(ExitsTogether)
            errors: list[Exception] = []
            async with trio.open_nursery() as nursery:
                for _ in range(CALLERS):
                    nursery.start_soon(_call_and_keep_error, k, "exits-together", CALLERS, errors, how)
            rows = await k.log.messages(neuro="exits-together", outcome="error")
            return errors, rows

    errors, rows = trio.run(main)
    assert [True] * CALLERS == [reason in str(e) for e in errors]
    assert [True] * CALLERS == [reason in r.error["message"] for r in rows]
    assert [] == [r for r in rows if "AlreadyUsedError" in r.error["type"]]


def test_the_second_death_says_why_as_clearly_as_the_first(log_path):
    """Two deaths in a row (the supervisor restarts it between them): both say exit code 9."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(ExitsAtOnce)
            errors: list[Exception] = []
            for n in range(2):
                with trio.fail_after(60):
                    while k.info("exits-at-once").state != "running":
                        await trio.sleep(0.01)
                await _call_and_keep_error(k, "exits-at-once", n, errors)
            rows = await k.log.messages(neuro="exits-at-once", outcome="error")
            return errors, rows

    errors, rows = trio.run(main)
    assert [True, True] == ["the worker exited with code 9" in str(e) for e in errors]
    assert [True, True] == ["the worker exited with code 9" in r.error["message"] for r in rows]


def test_a_sandboxed_neuro_calling_with_a_nan_timeout_gets_the_error_and_the_kernel_lives(log_path):
    """ctx.call(timeout=nan) from inside a sandbox is refused there; later calls with deadlines work."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Target)
            await k.spawn(AsksWithNan)
            first = await k.call("asks-nan", P(n=0), timeout=60)
            return first, await k.call("asks-nan-target", P(n=5), timeout=5)

    assert (P(n=1), P(n=5)) == trio.run(main)
