"""A teacher whose MLP student trains for a very long time (the kill -9 test kills its daemon)."""

import math

from neuro import sdk


class Point(sdk.Message):
    x: float
    a: float = 1.0


class Curve(sdk.Message):
    y: float


class LongDream(sdk.Neuro):
    name = "long-dream"
    input = Point
    output = Curve
    dream = {"agreement": 0.9, "speedup": 2, "min_traces": 60, "student": "mlp", "steps": 10_000_000}

    def handle(self, ctx, msg: Point) -> Curve:
        return Curve(y=msg.a * (1.0 - math.cos(msg.x)))
