"""Fixtures for the dream tests: a log file, a folder for students, a kernel with the daemon."""

from __future__ import annotations

import functools
import random

import pytest
import trio

from neuro.dream import Dream


class QuickDream(Dream):
    """The dream daemon looking at its neuros often, for tests of its triggers."""

    TICK = 0.2


def trio_test(fn):
    """Run an async test under trio (its fixtures come as keywords)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        return trio.run(functools.partial(fn, *args, **kwargs))

    return run


@pytest.fixture
def log(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_DREAM_DIR", str(tmp_path / "dream"))
    return str(tmp_path / "run.db")


def points(n: int, seed: int = 0, lo: float = 0.0, hi: float = 3.0):
    from tests.dream.teachers import Point

    rng = random.Random(seed)
    return [Point(x=rng.uniform(lo, hi), a=rng.uniform(0.5, 2.0)) for _ in range(n)]


async def feed(k, name: str, msgs) -> list:
    return [await k.call(name, m) for m in msgs]



async def wait_training(k) -> dict | None:
    """Wait until the dream daemon's running job is at its train stage; that job's row (None:
    no job runs any more)."""
    from neuro.dream import DreamStatus

    while True:
        running = (await k.call("dream", DreamStatus())).status["running"]
        if not running or running[0]["stage"] == "train":
            return running[0] if running else None
        await trio.sleep(0.02)
