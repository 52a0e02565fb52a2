"""A whole net dreamt of as one student: its logged runs are its traces, like any neuro's."""

from __future__ import annotations

import random

import trio

import neuro
from neuro import sdk


class Point(sdk.Message):
    x: float
    a: float


class Value(sdk.Message):
    y: float


class Scale(sdk.Neuro):
    name = "scale"
    input = Point
    output = Point

    def handle(self, ctx, msg):
        return Point(x=2.0 * msg.x, a=msg.a)


class Shift(sdk.Neuro):
    name = "shift"
    input = Point
    output = Value

    def handle(self, ctx, msg):
        return Value(y=msg.x + 3.0 * msg.a)


def test_a_net_with_dream_settings_is_distilled_into_one_student(tmp_path, monkeypatch):
    """scale -> shift as a net with `dream`: after 80 runs, a dream ships a student that answers
    for the whole net (2x + 3a), live under the net's name, with the net as its teacher."""
    from neuro.dream import DreamRun, start

    monkeypatch.setenv("NEURO_DREAM_DIR", str(tmp_path / "students"))

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await k.spawn(Scale)
            await k.spawn(Shift)
            net = sdk.Net("affine", input=Point, output=Value, memo=False)
            net.node("s", "scale")
            net.node("t", "shift")
            net.edge("in", "s")
            net.edge("s", "t")
            net.edge("t", "out")
            built = net.build(kernel=k)
            await k.spawn(built.neuro(dream={"agreement": 0.9, "min_traces": 60, "student": "linear",
                                             "speedup": 1, "replay": 0}))
            teacher = k.info("affine").version
            rng = random.Random(0)
            for _ in range(80):
                await k.call("affine", Point(x=rng.uniform(0, 3), a=rng.uniform(0.5, 2)))
            await start(k)
            job = (await k.call("dream", DreamRun(name="affine"), timeout=300)).job
            answer = await k.call("affine", Point(x=1.0, a=1.0))
            live = next(v for v in k.versions("affine") if v.live)
            return job.state, job.reason, teacher, live.origin, live.lineage.teacher, answer.y

    state, reason, teacher, origin, lineage_teacher, y = trio.run(main)
    assert "shipped" == state, reason
    assert ("dream", teacher) == (origin, lineage_teacher)
    assert abs(y - 5.0) < 0.25
