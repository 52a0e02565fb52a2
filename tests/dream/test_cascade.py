"""A learner's sleep, and the cascade: a student in front of its teacher, deferral and drift."""

from __future__ import annotations

import os

import trio

import neuro
from neuro import LogReader
from neuro.dream import DreamRun, DreamStatus, start
from tests.dream.conftest import QuickDream, feed, points, trio_test, wait_training
from tests.dream.teachers import Router, Sleeper, Word, phrases


@trio_test
async def test_a_learner_is_not_distilled_its_sleep_is_called(log):
    """A neuro with a `sleep` hook and no `dream` settings: dreaming of it calls its sleep on the
    running instance (a dream.slept event), and no version is made."""
    async with neuro.Kernel(log=log) as k:
        await k.spawn(Sleeper)
        await feed(k, "sleeper", points(3))
        await start(k)
        reply = await k.call("dream", DreamRun(name="sleeper"), timeout=30)
        assert ("sleep", "slept") == (reply.job.kind, reply.job.state)
        assert 1.0 == (await k.call("sleeper", points(1)[0])).y
        assert 1 == len(k.versions("sleeper"))
    with LogReader(log) as reader:
        slept = reader.events(name="dream.slept", limit=None)
        hooks = reader.events(name="hook.done", limit=None)
    assert [{"slept": 1}] == [e.data["result"] for e in slept]
    assert [("sleeper", "dream", "sleep")] == [(e.neuro, e.actor, e.data["hook"]) for e in hooks]


@trio_test
async def test_a_cascade_answers_what_it_knows_and_defers_the_rest_which_become_traces(log):
    """The cascade's student answers familiar inputs itself; an input unlike its traces goes to the
    teacher (spawned from the version store as router.teacher), whose answer the caller gets and
    whose handled call is a new trace."""
    async with neuro.Kernel(log=log) as k:
        await k.spawn(Router)
        teacher = k.info("router").version
        await feed(k, "router", phrases(120))
        await start(k)
        reply = await k.call("dream", DreamRun(name="router"), timeout=60)
        assert "shipped" == reply.job.state, reply.job.reason
        assert teacher == k.info("router.teacher").version
        assert reply.job.figures["answered"] > 0.5
        before = k.info("router.teacher").handled
        familiar = await feed(k, "router", phrases(20, seed=3))
        answered_alone = k.info("router.teacher").handled - before
        odd = await k.call("router", Word(text="ZZQX 9931 hello"))
        assert "greet" == odd.intent
        assert k.info("router.teacher").handled == before + answered_alone + 1
        assert answered_alone < 20
        assert all(r.intent in ("greet", "bye", "other") for r in familiar)
    with LogReader(log) as reader:
        deferred = reader.messages(neuro="router.teacher", kind="call", outcome="handled", limit=None)
    assert {"router"} == {m.sender for m in deferred}
    assert {teacher} == {m.version for m in deferred}


@trio_test
async def test_shifted_inputs_make_the_cascade_defer_more_a_drift_event(log):
    """When the inputs shift so the student defers far more calls than on held-out traces, the
    daemon logs dream.drift with the rate, and dreams again of the deferred calls."""
    async with neuro.Kernel(log=log) as k:
        await k.spawn(Router)
        await feed(k, "router", phrases(120))
        await k.spawn(QuickDream, policy="dream")
        reply = await k.call("dream", DreamRun(name="router"), timeout=60)
        assert "shipped" == reply.job.state, reply.job.reason
        shifted = [Word(text=f"QQ{i} ZX{i * 7} hello") for i in range(40)]
        await feed(k, "router", shifted)
        with trio.move_on_after(30):  # the daemon's own table: no log query races its swap
            while True:
                status = (await k.call("dream", DreamStatus())).status
                if status["jobs"] >= 2 and not status["running"]:
                    break
                await trio.sleep(0.1)
        drift = await k.log.events(name="dream.drift")
        assert drift  # one per window of 20 or more calls that deferred too much
        assert drift[0].data["rate"] > drift[0].data["expected"] + 0.2
        assert drift[0].data["calls"] >= 20
        again = [e for e in await k.log.events(name="dream.started") if e.data["trigger"] == "drift"]
        assert again


@trio_test
async def test_a_cancelled_dream_changes_nothing(log):
    """Cancelling a job while its student trains ends it as cancelled (an event); no version is made."""
    from neuro.dream import DreamCancel
    from tests.dream._dreamer import LongDream

    async with neuro.Kernel(log=log) as k:
        await k.spawn(LongDream)
        await feed(k, "long-dream", points(80))
        await start(k)
        job = (await k.call("dream", DreamRun(name="long-dream", wait=False))).job
        await wait_training(k)
        cancelled = (await k.call("dream", DreamCancel(job=job.id[:6]))).job
        assert ("cancelled", "train") == (cancelled.state, cancelled.stage)
        assert 1 == len(k.versions("long-dream"))
        assert [job.id] == [e.data["job"] for e in await k.log.events(name="dream.cancelled")]


@trio_test
async def test_enough_new_traces_trigger_a_dream_by_themselves(log):
    """A neuro with `new_traces = N` is dreamt of once N calls came, with no one asking."""
    from tests.dream.teachers import Summer

    class Eager(Summer):
        name = "eager"
        dream = {**Summer.dream, "new_traces": 60}

    async with neuro.Kernel(log=log) as k:
        await k.spawn(Eager)
        await k.spawn(QuickDream, policy="dream")
        await k.call("dream", DreamStatus())  # it starts watching
        await feed(k, "eager", points(70))
        with trio.move_on_after(30):
            while k.info("eager").version == Eager.version():
                await trio.sleep(0.1)
        assert "dream" == next(v for v in k.versions("eager") if v.live).origin
        started = await k.log.events(name="dream.started")
        assert ["traces"] == [e.data["trigger"] for e in started]


@trio_test
async def test_code_changes_trigger_a_dream(log, tmp_path):
    """With `changes = 1`, a new version of the neuro's code since its last dream makes the daemon
    dream again, before its schedule would."""
    source = open(os.path.join(os.path.dirname(__file__), "neurofiles", "summer.py")).read().replace(
        '"student": "linear"', '"student": "linear", "changes": 1, "every": "1h"')

    async def load(tag: str):
        path = tmp_path / f"summer_{tag}.py"
        path.write_text(source + f"\n# {tag}\n")
        return await k.load(path, trusted=True)

    async with neuro.Kernel(log=log) as k:
        first = await load("one")
        await k.spawn(first.cls, source=first.files)
        await k.spawn(QuickDream, policy="dream")
        await k.call("dream", DreamStatus())
        await feed(k, "summer", [first.cls.input(x=p.x, a=p.a) for p in points(70)])
        ended: list = []
        with trio.move_on_after(60):
            while not ended:
                ended = [e for kind in ("shipped", "rejected", "failed")
                         for e in await k.log.events(name=f"dream.{kind}")]
                await trio.sleep(0.1)
        assert ["dream.shipped"] == [e.name for e in ended], [e.data for e in ended]
        second = await load("two")
        await k.rollback("summer")  # back to the teacher: then a change of its code
        await k.swap("summer", second.cls, source=second.files)
        await feed(k, "summer", [second.cls.input(x=p.x, a=p.a) for p in points(70, seed=2)])
        with trio.move_on_after(30):
            while len(await k.log.events(name="dream.started")) < 2:
                await trio.sleep(0.1)
        started = await k.log.events(name="dream.started")
        assert ["schedule", "changes"] == [e.data["trigger"] for e in started]
        assert second.version == started[1].data["teacher"]


@trio_test
async def test_a_cascade_after_a_restart_gets_its_teacher_back(log):
    """A kernel started again on the log, with the cascade's student spawned from the store: the
    daemon starts the teacher under its other name again, and the student defers to it."""
    path = os.path.join(os.path.dirname(__file__), "neurofiles", "router.py")
    async with neuro.Kernel(log=log) as k:
        loaded = await k.load(path, trusted=True)  # a file of one neuro: its stored version loads again
        await k.spawn(loaded.cls, source=loaded.files)
        await feed(k, "router", [loaded.cls.input(text=w.text) for w in phrases(120)])
        await start(k)
        reply = await k.call("dream", DreamRun(name="router"), timeout=60)
        assert "shipped" == reply.job.state, reply.job.reason
        teacher = k.info("router.teacher").version
    async with neuro.Kernel(log=log) as k:
        await k.spawn("router", version=reply.job.version, as_name="router")
        await k.spawn(QuickDream, policy="dream")
        await k.call("dream", DreamStatus())
        with trio.move_on_after(30):
            while "router.teacher" not in {p.name for p in k.ps()}:
                await trio.sleep(0.1)
        assert teacher == k.info("router.teacher").version
        assert "greet" == (await k.call("router", {"text": "ZZQX 9931 hello"})).intent
        assert 1 == k.info("router.teacher").handled
