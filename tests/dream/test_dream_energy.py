"""A dream job is held to the `energy.per_dream_job` budget of the neuro it dreams of: past it the
job stops (its trainer killed), an `energy.budget` event says so, and the job ends rejected at the
`energy` gate with the reason; nothing changes."""

from __future__ import annotations

import sys

import pytest
import trio

import neuro
from neuro import LogReader
from neuro.dream import DreamRun, start
from neuro.dream._governor import run_governed
from neuro.kernel._governance import EnergyBudget
from tests.dream.conftest import feed, points, trio_test
from tests.dream.teachers import Summer


def budgeted(joules: float) -> dict:
    return {"thrifty": neuro.Policy(name="thrifty", energy=EnergyBudget(per_dream_job=joules))}


def events(log: str, name: str) -> list:
    with LogReader(log) as reader:
        return [e for e in reader.events(limit=None) if e.name == name]


@trio_test
async def test_a_dream_job_over_its_neuros_per_dream_job_budget_is_stopped_and_says_why(log):
    """With a budget of a microjoule, the job stops at its first step: rejected at `energy`, an
    `energy.budget` event (per_dream_job), and the teacher stays the only version."""
    async with neuro.Kernel(log=log, policies=budgeted(1e-6)) as k:
        await k.spawn(Summer, policy="thrifty")
        teacher = k.info("summer").version
        await feed(k, "summer", points(120))
        await start(k)
        reply = await k.call("dream", DreamRun(name="summer"), timeout=120)
        versions = [v.version for v in k.versions("summer")]
    job = reply.job
    assert ("rejected", "energy") == (job.state, job.stage)
    assert "over the energy budget `energy.per_dream_job` of 'summer' (policy 'thrifty')" in job.reason
    assert job.figures["joules"] > job.figures["budget"] == 1e-6
    assert [teacher] == versions
    budget = events(log, "energy.budget")
    assert [("summer", "per_dream_job", 1e-6, "stop_job")] == [
        (e.neuro, e.data["budget"], e.data["limit"], e.data["action"]) for e in budget]
    assert ["energy"] == [e.data["gate"] for e in events(log, "dream.rejected")]


@trio_test
async def test_a_dream_job_within_its_budget_ships(log):
    """A budget the job does not reach changes nothing: the student ships, and no energy event is logged."""
    async with neuro.Kernel(log=log, policies=budgeted(1e6)) as k:
        await k.spawn(Summer, policy="thrifty")
        await feed(k, "summer", points(120))
        await start(k)
        reply = await k.call("dream", DreamRun(name="summer"), timeout=120)
    assert "shipped" == reply.job.state, reply.job.reason
    assert [] == events(log, "energy.budget")


class OverBudget(Exception):
    pass


@trio_test
async def test_the_governor_kills_a_trainer_whose_cpu_seconds_its_meter_refuses():
    """`on_cpu` gets the trainer's CPU seconds as it spins; what it raises kills the trainer and is raised."""
    spent: list[float] = []

    def on_cpu(seconds: float) -> None:
        spent.append(seconds)
        if sum(spent) > 0.2:
            raise OverBudget(f"{sum(spent):.2f} CPU s")

    async def never_busy() -> bool:
        return False

    spin = [sys.executable, "-c", "while True: pass"]  # it would never end by itself
    with trio.fail_after(60):
        with pytest.raises(OverBudget):
            await run_governed(spin, busy=never_busy, share=1.0, on_line=lambda line: None, on_cpu=on_cpu)
    assert sum(spent) > 0.2


class Napper(neuro.sdk.Neuro):
    """A learner whose consolidation would take a minute."""

    name = "napper"
    input = neuro.sdk.Message
    output = neuro.sdk.Message

    def handle(self, ctx, msg):
        return msg

    async def sleep(self, ctx):
        await trio.sleep(60)
        return "rested"


@trio_test
async def test_a_learners_sleep_over_its_budget_is_cancelled(log):
    """A `sleep` job is charged its hook's seconds: past a microjoule the hook is cancelled and the job rejected."""
    async with neuro.Kernel(log=log, policies=budgeted(1e-6)) as k:
        await k.spawn(Napper, policy="thrifty")
        await start(k)
        with trio.fail_after(30):  # a guard: the hook alone would take a minute
            job = (await k.call("dream", DreamRun(name="napper"), timeout=30)).job
    assert ("sleep", "rejected", "energy") == (job.kind, job.state, job.stage)
    assert ["napper"] == [e.neuro for e in events(log, "energy.budget")]


@trio_test
async def test_a_sandboxed_learners_sleep_over_its_budget_is_ended_in_the_sandbox_too(log):
    """Cancelling the kernel's wait is not enough: the sandbox would go on running the hook,
    uncharged, and its late result would break the protocol. The worker is ended instead (as a
    cancelled call's is), and the neuro comes back and answers."""
    from tests.dream.nap_neuros import Nap, SandboxedNapper

    policies = {"thrifty": neuro.Policy(name="thrifty", sandbox="process", sandboxes=("process",),
                                        energy=EnergyBudget(per_dream_job=1e-6))}
    async with neuro.Kernel(log=log, policies=policies) as k:
        await k.spawn(SandboxedNapper, policy="thrifty")
        await start(k)
        with trio.fail_after(30):
            job = (await k.call("dream", DreamRun(name="napper"), timeout=30)).job
            assert ("sleep", "rejected", "energy") == (job.kind, job.state, job.stage)
            while True:  # it is back once its worker is restarted
                try:
                    assert (await k.call("napper", Nap(n=7), timeout=10)).n == 7
                    break
                except neuro.NeuroError:
                    await trio.sleep(0.05)
    crashes = [str(e.data) for e in events(log, "neuro.crashed")]
    assert not any("broke the protocol" in c for c in crashes), crashes
