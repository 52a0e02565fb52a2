"""Teachers for the dream tests: slow numeric routines a student can learn, and ones it cannot."""

from __future__ import annotations

import math
from typing import Literal

from neuro import sdk


class Point(sdk.Message):
    x: float
    a: float = 1.0


class Area(sdk.Message):
    y: float
    size: Literal["small", "large"]


def integrate(x: float, a: float, steps: int = 12000) -> float:
    """a * (1 - cos x), the slow way: the integral of a * sin(t) over [0, x] by the midpoint rule."""
    h = x / steps
    return a * h * sum(math.sin((i + 0.5) * h) for i in range(steps))


class Integrator(sdk.Neuro):
    """A slow iterative numeric teacher: thousands of steps where a student needs one matrix product."""

    name = "integrator"
    input = Point
    output = Area
    dream = {"agreement": 0.9, "tolerance": 0.05, "speedup": 5, "min_traces": 120, "every": "1h", "replay": 20,
             "steps": 1500, "hidden": [32, 32]}

    def handle(self, ctx, msg: Point) -> Area:
        y = integrate(msg.x, msg.a)
        return Area(y=y, size="large" if y > 1.0 else "small")


class Summer(sdk.Neuro):
    """A slow teacher whose answer is linear in its inputs: a linear student learns it exactly."""

    name = "summer"
    input = Point
    output = Area
    dream = {"agreement": 0.9, "speedup": 2, "min_traces": 60, "student": "linear", "replay": 10}

    def handle(self, ctx, msg: Point) -> Area:
        y = 0.0
        for _ in range(3000):  # 2x + 3a, one small step at a time
            y += (2.0 * msg.x + 3.0 * msg.a) / 3000
        return Area(y=y, size="large" if msg.a > 1.0 else "small")


class LinearOnly(Integrator):
    """The same teacher whose student may only be linear: it cannot meet the agreement gate."""

    name = "linear-only"
    dream = {"agreement": 0.98, "tolerance": 0.01, "speedup": 5, "min_traces": 120, "student": "linear"}


class Word(sdk.Message):
    text: str


class Label(sdk.Message):
    intent: Literal["greet", "bye", "other"]


class Router(sdk.Neuro):
    """An intent router over text (hashed n-grams): categories, with a cascade."""

    name = "router"
    input = Word
    output = Label
    dream = {"agreement": 0.95, "speedup": 1.5, "min_traces": 60, "cascade": True, "student": "linear", "replay": 10}

    def handle(self, ctx, msg: Word) -> Label:
        t = msg.text.lower()
        checksum = 0
        for i in range(6000):  # work a student skips
            checksum = (checksum * 31 + i) % 1_000_003
        if "hello" in t or "hi " in t:
            return Label(intent="greet")
        if "bye" in t:
            return Label(intent="bye")
        return Label(intent="other")


GREET = ["hello", "hello there", "well hello", "hello friend", "oh hello you"]
BYE = ["bye", "bye now", "goodbye", "ok bye", "bye friend"]
OTHER = ["what time is it", "open the door", "play music", "the weather", "turn it off"]


def phrases(n: int, seed: int = 0) -> list[Word]:
    import random

    rng = random.Random(seed)
    return [Word(text=rng.choice(rng.choice([GREET, BYE, OTHER]))) for _ in range(n)]


class Sleeper(sdk.Neuro):
    """A learner in miniature: its `sleep` hook (consolidation) counts, and it answers the count."""

    name = "sleeper"
    input = Point
    output = Area

    def __init__(self) -> None:
        self.slept = 0

    def handle(self, ctx, msg: Point) -> Area:
        return Area(y=float(self.slept), size="small")

    async def sleep(self, ctx) -> dict:
        self.slept += 1
        return {"slept": self.slept}


class BoxedSummer(Summer):
    """The same slow linear teacher in a sandbox process of its own: interactive load on a core
    the kernel's process does not use (bench/dream.py saturates both cores with it)."""

    name = "boxed-summer"
    sandbox = "process"
    dream = None
