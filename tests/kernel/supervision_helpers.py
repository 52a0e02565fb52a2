"""Helpers the supervision and process-table tests share."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import neuro
from neuro import Child, SupervisorSpec
from neuro.testing import Crashy, Ping


def run(fn, *, autojump=True):
    """Run `fn` under trio; by default on a fake clock that jumps ahead whenever all tasks wait."""
    clock = trio.testing.MockClock(autojump_threshold=0) if autojump else None
    return trio.run(fn, clock=clock)


def read_log(path):
    """Everything the log holds, read with a fresh reader after the kernel exited."""
    reader = neuro.LogReader(path)
    try:
        return reader.messages(limit=None), reader.events(limit=None)
    finally:
        reader.close()


def names(events, name):
    return [e.neuro for e in events if e.name == name]


def crashy_tree(strategy, **spec):
    return SupervisorSpec(
        name="team",
        strategy=strategy,
        children=[Child(Crashy, name="a"), Child(Crashy, name="b"), Child(Crashy, name="c")],
        **spec,
    )


async def crash(k, name):
    """Make `name` crash once and let its supervisor react."""
    with pytest.raises(neuro.RemoteError):
        await k.call(name, Ping(n=-1))
    await trio.testing.wait_all_tasks_blocked()
