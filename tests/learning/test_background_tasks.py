"""`ctx.start_background` and the artifact store of `ctx`: the same behaviour in-process and in
the process sandbox (a task answered around, cancelled, crashing; bytes kept and found again
after a restart)."""

from __future__ import annotations

import shutil

import pytest
import trio

import neuro

from .background_neuros import Ask, BoxedTicker, Ticker

BACKENDS = [pytest.param(Ticker, id="inproc"),
            pytest.param(BoxedTicker, id="process", marks=pytest.mark.skipif(
                shutil.which("bwrap") is None, reason="bubblewrap is not installed"))]


async def _until(k, name, pred, timeout=20.0):
    with trio.fail_after(timeout):
        while True:
            a = await k.call(name, Ask(do="count"), timeout=30)
            if pred(a):
                return a
            await trio.sleep(0.02)


@pytest.mark.parametrize("cls", BACKENDS)
def test_a_background_task_runs_while_messages_are_answered_and_cancel_ends_it(cls, tmp_path):
    """The task counts on after start returns; count messages see it grow; cancel ends it."""

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(cls)
            started = await k.call(cls.name, Ask(do="start"), timeout=30)
            seen = await _until(k, cls.name, lambda a: a.n >= 3)
            cancelled = await k.call(cls.name, Ask(do="cancel"), timeout=30)
            later = await k.call(cls.name, Ask(do="count"), timeout=30)
            return started.text, seen.done, cancelled, later

    name, done_while_running, cancelled, later = trio.run(main)
    assert ("tick", False) == (name, done_while_running)
    assert (True, "True") == (cancelled.done, cancelled.text)
    assert cancelled.n == later.n  # nothing counts after the cancel


@pytest.mark.parametrize("cls", BACKENDS)
def test_a_restart_ends_the_task_of_the_old_instance(cls, tmp_path):
    """After a restart the fresh instance's count starts at 0 and stays there."""

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(cls)
            await k.call(cls.name, Ask(do="start"), timeout=30)
            await _until(k, cls.name, lambda a: a.n >= 2)
            await k.restart(cls.name)
            await trio.sleep(0.3)
            return (await k.call(cls.name, Ask(do="count"), timeout=30)).n

    assert 0 == trio.run(main)


@pytest.mark.parametrize("cls", BACKENDS)
def test_a_task_that_raises_crashes_its_neuro_with_an_event_naming_it(cls, tmp_path):
    """An uncaught error in the task is a neuro.crashed event naming the task; it restarts."""

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            async with k.subscribe("kernel.events") as events:
                await k.spawn(cls)
                await k.call(cls.name, Ask(do="crash"), timeout=30)
                with trio.fail_after(20):
                    async for _topic, _sender, ev in events:
                        if ev.name == "neuro.crashed" and ev.neuro == cls.name:
                            return ev.data["error"]

    assert "background task 'tick': RuntimeError: failed at 5" == trio.run(main)


@pytest.mark.parametrize("cls", BACKENDS)
def test_artifacts_are_kept_by_hash_and_found_by_label_after_a_restart(cls, tmp_path):
    """put returns the sha256; get gives the bytes back; find finds them after a restart."""
    import hashlib

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(cls)
            put = await k.call(cls.name, Ask(do="put", text="hello"), timeout=30)
            await k.restart(cls.name)
            found = await k.call(cls.name, Ask(do="find", text="note"), timeout=30)
            missing = await k.call(cls.name, Ask(do="find", text="other"), timeout=30)
            got = await k.call(cls.name, Ask(do="get", text=found.text), timeout=30)
            return put.text, found.text, missing.text, got.text

    put, found, missing, got = trio.run(main)
    assert (hashlib.sha256(b"hello").hexdigest(), put, "", "hello") == (put, found, missing, got)


def test_without_a_log_put_artifact_says_to_start_the_kernel_with_one():
    """A kernel without a log has no artifact store, and the error says so."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Ticker)
            await k.call("ticker", Ask(do="put", text="x"), timeout=30)

    with pytest.raises(neuro.RemoteError, match="keeps no event log, so no artifacts; start it with one"):
        trio.run(main)
