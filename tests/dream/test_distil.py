"""Distillation end to end, in an embedded kernel with a real log: gates, shipping, lineage, rollback."""

from __future__ import annotations

import msgspec
import trio

import neuro
from neuro.dream import DreamJobs, DreamRun, start
from neuro import LogReader
from tests.dream.conftest import feed, points, trio_test
from tests.dream.teachers import Area, LinearOnly, Point, Summer


def dream_events(log: str) -> list:
    with LogReader(log) as reader:
        return [e for e in reader.events(limit=None) if e.name.startswith("dream.")]


@trio_test
async def test_a_student_that_misses_a_gate_is_rejected_and_the_teacher_serves_throughout(log):
    """A linear student of a curved teacher fails the agreement gate: an event with the figures, no
    new version, and every call during the dream answered by the teacher's version."""
    async with neuro.Kernel(log=log) as k:
        await k.spawn(LinearOnly)
        teacher = k.info("linear-only").version
        await feed(k, "linear-only", points(150))
        await start(k)
        served: list = []

        async def keep_calling() -> None:
            for p in points(40, seed=7):
                served.append(await k.call("linear-only", p))
                await trio.sleep(0.005)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_calling)
            reply = await k.call("dream", DreamRun(name="linear-only"), timeout=120)
        assert "rejected" == reply.job.state
        assert "agreement" == reply.job.stage
        assert reply.job.figures["agreement"] < 0.98
        assert [teacher] == [v.version for v in k.versions("linear-only")]
        assert teacher == k.info("linear-only").version
    rejected = [e for e in dream_events(log) if e.name == "dream.rejected"]
    assert ["agreement"] == [e.data["gate"] for e in rejected]
    assert rejected[0].data["figures"]["agreement"] == reply.job.figures["agreement"]
    with LogReader(log) as reader:
        calls = reader.messages(neuro="linear-only", kind="call", outcome="handled", limit=None)
    assert 190 == len(calls)
    assert {teacher} == {c.version for c in calls}
    assert 40 == len(served)


@trio_test
async def test_too_few_traces_is_a_rejection_that_says_how_many(log):
    """Fewer traces than min_traces: rejected at the traces gate, naming the count."""
    async with neuro.Kernel(log=log) as k:
        await k.spawn(Summer)
        await feed(k, "summer", points(10))
        await start(k)
        reply = await k.call("dream", DreamRun(name="summer"), timeout=60)
    assert ("rejected", "traces") == (reply.job.state, reply.job.stage)
    assert "10 traces of summer" in reply.job.reason


@trio_test
async def test_a_student_ships_with_its_lineage_which_survives_a_restart(log):
    """A student that passes every gate goes live as a version of origin dream whose lineage names
    the teacher, the trace window, the data set's hash, the figures and the job; a new kernel on the
    same log reads it back."""
    async with neuro.Kernel(log=log) as k:
        await k.spawn(Summer)
        teacher = k.info("summer").version
        await feed(k, "summer", points(120))
        await start(k)
        reply = await k.call("dream", DreamRun(name="summer"), timeout=120)
        assert "shipped" == reply.job.state, reply.job.reason
        # where its time went, stage by stage, in the order it went through them
        assert ["start", "traces", "train", "agreement", "speedup", "replay", "ship"] == list(reply.job.seconds)
        assert all(s >= 0 for s in reply.job.seconds.values())
        assert sum(reply.job.seconds.values()) <= reply.job.ended - reply.job.started + 0.01
        live = k.info("summer").version
        assert reply.job.version == live != teacher
        answer = await k.call("summer", Point(x=1.0, a=2.0))
        assert abs(8.0 - answer.y) < 0.05
        assert "large" == answer.size
        first = msgspec.to_builtins([v for v in k.versions("summer") if v.version == live][0])
    assert "dream" == first["origin"]
    assert teacher == first["lineage"]["teacher"]
    assert [teacher] == first["lineage"]["parents"]
    assert 2 == len(first["lineage"]["traces"])
    assert reply.job.id == first["lineage"]["notes"]["job"]
    assert first["lineage"]["gate"]["agreement"] >= 0.9
    assert first["lineage"]["gate"]["speedup"] >= 2
    shipped = [e for e in dream_events(log) if e.name == "dream.shipped"]
    assert [first["lineage"]["notes"]["dataset"]] == [e.data["dataset"] for e in shipped]
    async with neuro.Kernel(log=log) as k2:
        again = msgspec.to_builtins([v for v in k2.versions("summer") if v.version == live][0])
        assert first["lineage"] == again["lineage"]
        await k2.spawn("summer", version=live, as_name="summer")  # the student itself, read back from the log
        assert abs(8.0 - (await k2.call("summer", Point(x=1.0, a=2.0))).y) < 0.05
        jobs = (await start(k2), await k2.call("dream", DreamJobs()))[1].jobs
        assert [("shipped", reply.job.id)] == [(j.state, j.id) for j in jobs if j.neuro == "summer"]


@trio_test
async def test_rollback_brings_the_teacher_back(log):
    """After a student ships, `rollback` makes the teacher's version live again, answering as before."""
    async with neuro.Kernel(log=log) as k:
        await k.spawn(Summer)
        teacher = k.info("summer").version
        await feed(k, "summer", points(120))
        await start(k)
        reply = await k.call("dream", DreamRun(name="summer"), timeout=120)
        assert "shipped" == reply.job.state, reply.job.reason
        report = await k.rollback("summer")
        assert (reply.job.version, teacher) == (report.old_version, report.new_version)
        assert teacher == k.info("summer").version
        exact = await k.call("summer", Point(x=1.0, a=2.0))
        assert isinstance(exact, Area)
        assert abs(8.0 - exact.y) < 1e-9


@trio_test
async def test_a_teachers_distill_hook_chooses_its_student(log):
    """A teacher's own `distill` hook overrides the student its manifest would get: here a linear
    one only, so no MLP is trained (the figures say so) and the curve is not learnt."""
    from tests.dream.teachers import Integrator

    class Picky(Integrator):
        name = "picky"
        dream = {**Integrator.dream, "student": "auto", "min_traces": 60}

        @classmethod
        def distill(cls):
            return {"student": "linear", "tolerance": 0.01}

    async with neuro.Kernel(log=log) as k:
        await k.spawn(Picky)
        await feed(k, "picky", points(80))
        await start(k)
        reply = await k.call("dream", DreamRun(name="picky"), timeout=60)
    assert ("rejected", "agreement") == (reply.job.state, reply.job.stage)
    assert "linear_agreement" in reply.job.figures
    assert "mlp_agreement" not in reply.job.figures
