"""Yielding in a real kernel: calls a plain in-process handler answers in its caller's task are
interactive work the trainer pauses for; the trainer's rest keeps its CPU to its share."""

from __future__ import annotations

import os
import time

import trio

import neuro
from neuro.dream import DreamRun, start
from neuro.dream import _trainer as trainer
from neuro.dream._trainer import _Control
from tests.dream.conftest import feed, points, trio_test, wait_training
from tests.dream.teachers import Integrator, Summer


class Trained(Integrator):
    """A teacher whose student is an MLP, trained for a little while."""

    name = "trained"
    dream = {"agreement": 0.5, "speedup": 1.0, "min_traces": 60, "student": "mlp", "steps": 100, "hidden": [8],
             "replay": 0}


class Plain(Summer):
    """The same teacher, not dreamt of."""

    name = "plain"
    dream = None


@trio_test
async def test_training_pauses_while_direct_calls_keep_coming(log):
    """Calls to a plain in-process neuro never wait in its mailbox (they are handled in the
    caller's task), yet while they come the governor pauses the trainer: the job counts yields."""
    async with neuro.Kernel(log=log) as k:
        await k.spawn(Trained)
        await k.spawn(Summer)
        await feed(k, "trained", points(80))
        await start(k)
        job = (await k.call("dream", DreamRun(name="trained", wait=False))).job
        await wait_training(k)
        for p in points(300, seed=2):  # interactive calls, one after another
            await k.call("summer", p)
            await trio.sleep(0.001)
        done = (await k.call("dream", DreamRun(name="trained"), timeout=120)).job
    assert job.id == done.id
    assert done.figures["yields"] >= 1
    assert done.figures["yielded_seconds"] > 0


def _control(share: float) -> _Control:
    control = _Control.__new__(_Control)  # without its stdin reader: the rest alone
    control.share = share
    control.running = type("Running", (), {"wait": staticmethod(lambda: True)})()
    return control


def test_the_rest_after_a_step_keeps_its_cpu_to_the_share(monkeypatch):
    """At share 0.5 a step of 10 ms of CPU in 10 ms rests 10 ms more; one that took 20 ms
    (the core was contended) already kept to the share and rests not at all."""
    rests: list[float] = []
    monkeypatch.setattr(time, "sleep", rests.append)
    monkeypatch.setattr(trainer, "contended", lambda: True)
    control = _control(0.5)
    control.step_done(0.010, 0.010)
    control.step_done(0.010, 0.020)
    _control(1.0).step_done(0.010, 0.010)
    assert 1 == len(rests)
    assert abs(rests[0] - 0.010) < 1e-9


def test_on_an_idle_machine_the_trainer_does_not_rest(monkeypatch):
    """The share is a weight, as a cgroup's: with nothing else runnable a step rests not at all."""
    rests: list[float] = []
    monkeypatch.setattr(time, "sleep", rests.append)
    monkeypatch.setattr(trainer, "contended", lambda: False)
    _control(0.5).step_done(0.010, 0.010)
    assert [] == rests


def test_contended_reads_the_kernels_count_of_runnable_threads(tmp_path):
    """More runnable threads than this process's CPUs is contention; fewer is not; no file: keep the share."""
    cpus = len(os.sched_getaffinity(0))
    for running, expected in ((cpus + 1, True), (1, False)):
        stat = tmp_path / f"stat{running}"
        stat.write_text(f"cpu  1 2 3\nprocs_running {running}\nprocs_blocked 0\n")
        assert expected == trainer.contended(str(stat))
    assert trainer.contended(str(tmp_path / "missing"))


@trio_test
async def test_describe_gives_the_dream_settings_the_daemon_reads(log):
    """The daemon reads a neuro's opt-in through ctx.kernel.describe: its manifest carries the
    checked settings (every key, defaults filled), and None for a neuro that does not dream."""
    async with neuro.Kernel(log=log) as k:
        await k.spawn(Trained)
        settings = (await k.describe("trained", log=False)).manifest["dream"]
        assert 100 == settings["steps"]
        assert 0.05 == settings["tolerance"]
        await k.spawn(Plain)
        assert None is (await k.describe("plain", log=False)).manifest["dream"]
