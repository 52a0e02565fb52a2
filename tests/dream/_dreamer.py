"""A kernel that dreams, in a process of its own, for the kill -9 test: `python _dreamer.py LOG`.

It prints `training` once the MLP trainer runs (the test then kills this process)."""

from __future__ import annotations

import sys

import trio

import neuro
from neuro.dream import DreamRun, DreamStatus, start
from tests.dream.conftest import feed, points
from tests.dream.teachers import Integrator


class LongDream(Integrator):
    """A teacher whose student trains for a long while (the test kills it part way)."""

    name = "long-dream"
    dream = {"agreement": 0.9, "speedup": 2, "min_traces": 60, "student": "mlp", "steps": 10_000_000}


async def main(log: str) -> None:
    async with neuro.Kernel(log=log) as k:
        await k.spawn(LongDream)
        await feed(k, "long-dream", points(80))
        await start(k)
        await k.call("dream", DreamRun(name="long-dream", wait=False))
        while True:
            running = (await k.call("dream", DreamStatus())).status["running"]
            if running and running[0]["stage"] == "train":
                break
            await trio.sleep(0.05)
        print("training", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
