"""A slow teacher a linear student learns exactly (one neuro in its file, for the daemon tests)."""

from typing import Literal

from neuro import sdk


class Point(sdk.Message):
    x: float
    a: float = 1.0


class Area(sdk.Message):
    y: float
    size: Literal["small", "large"]


class Summer(sdk.Neuro):
    name = "summer"
    input = Point
    output = Area
    dream = {"agreement": 0.9, "speedup": 2, "min_traces": 60, "student": "linear", "replay": 10}

    def handle(self, ctx, msg: Point) -> Area:
        y = 0.0
        for _ in range(3000):
            y += (2.0 * msg.x + 3.0 * msg.a) / 3000
        return Area(y=y, size="large" if msg.a > 1.0 else "small")
