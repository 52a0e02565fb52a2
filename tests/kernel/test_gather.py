"""`ctx.gather`: parallel calls from a neuro, with no trio in the neuro's code, bounded, one
outcome per call; in-process and from a process sandbox.

The neuros here are shipped as this file's source into the sandbox."""

from __future__ import annotations

import shutil

import pytest
import trio
import trio.testing

import neuro
from neuro import sdk
from neuro.kernel import Policy

BACKENDS = [
    "inproc",
    pytest.param("process", marks=pytest.mark.skipif(shutil.which("bwrap") is None,
                                                     reason="bubblewrap is not installed: apt-get install bubblewrap")),
]


class N(sdk.Message):
    n: int


class Fan(sdk.Message):
    to: list[str]
    limit: int = 16
    raise_errors: bool = False


class Outcomes(sdk.Message):
    items: list[str]


class Double(sdk.Neuro):
    name = "double"
    input = N
    output = N

    def handle(self, ctx, msg):
        if msg.n < 0:
            raise KeyError(msg.n)
        return N(n=2 * msg.n)


class Fanout(sdk.Neuro, abstract=True):
    """Gathers one call per name in the order (payload: its position; "fail": a call to double
    that raises) and describes each outcome."""

    name = "fanout"
    input = Fan
    output = Outcomes

    async def handle(self, ctx, msg):
        calls = [("double", N(n=-1)) if to == "fail" else (to, N(n=i)) for i, to in enumerate(msg.to)]
        try:
            results = await ctx.gather(calls, timeout=30, limit=msg.limit, raise_errors=msg.raise_errors)
        except neuro.RemoteError as e:
            return Outcomes(items=[f"raised {e.type}"])
        return Outcomes(items=[f"{type(r).__name__} {r.type}" if isinstance(r, neuro.RemoteError)
                               else type(r).__name__ if isinstance(r, Exception) else str(r.n) for r in results])


class Fanout_inproc(Fanout):
    pass


class Fanout_process(Fanout):
    sandbox = "process"


FANOUTS = {"inproc": Fanout_inproc, "process": Fanout_process}


def run(body, **options):
    async def main():
        async with neuro.Kernel(**options) as k:
            return await body(k)

    return trio.run(main)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_failing_call_does_not_fail_the_others(backend):
    """Each call has its outcome in order: replies, the failed call's RemoteError, a missing neuro's error."""

    async def body(k):
        await k.spawn(Double)
        await k.spawn(FANOUTS[backend])
        return (await k.call("fanout", Fan(to=["double", "fail", "double", "nobody"]), timeout=60)).items

    assert ["0", "RemoteError KeyError", "4", "NoSuchNeuro"] == run(body)


@pytest.mark.parametrize("backend", BACKENDS)
def test_raise_errors_raises_the_first_failed_call(backend):
    """With raise_errors the gather raises the first failed call's error instead of returning."""

    async def body(k):
        await k.spawn(Double)
        await k.spawn(FANOUTS[backend])
        return (await k.call("fanout", Fan(to=["double", "fail"], raise_errors=True), timeout=60)).items

    assert ["raised KeyError"] == run(body)


class Gauge(sdk.Neuro):
    """Records how many calls it serves at once (it may serve many: concurrency 32)."""

    name = "gauge"
    input = N
    output = N
    policy = "wide"
    now = peak = 0

    async def handle(self, ctx, msg):
        Gauge.now += 1
        Gauge.peak = max(Gauge.peak, Gauge.now)
        await trio.sleep(0.01)
        Gauge.now -= 1
        return msg


def test_no_more_than_limit_calls_are_in_flight_at_once():
    """Ten calls gathered with limit=3 never have more than three in flight, and all complete."""
    wide = {"wide": Policy(name="wide", concurrency=32)}

    async def body(k):
        Gauge.now = Gauge.peak = 0
        await k.spawn(Gauge)
        await k.spawn(Fanout_inproc)
        done = (await k.call("fanout", Fan(to=["gauge"] * 10, limit=3))).items
        return done, Gauge.peak

    async def main():
        async with neuro.Kernel(policies=wide) as k:
            return await body(k)

    assert ([str(i) for i in range(10)], 3) == trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


class Bad(sdk.Neuro):
    name = "bad"
    input = N
    output = Outcomes

    async def handle(self, ctx, msg):
        try:
            await ctx.gather(["double"])
        except TypeError as e:
            return Outcomes(items=[str(e)])
        return Outcomes(items=[])


def test_a_call_that_is_not_a_pair_is_refused_naming_its_position():
    """gather takes (name, payload) pairs; anything else is a TypeError naming the index."""

    async def body(k):
        await k.spawn(Bad)
        return (await k.call("bad", N(n=0))).items

    assert ["gather takes (neuro name, payload) pairs; calls[0] is 'double'"] == run(body)
