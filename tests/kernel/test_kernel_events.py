"""Kernel events reach the neuros that subscribe to ``kernel.events``: typed, under the
subscriber's mailbox rule, with a marker saying how many it missed when it fell behind.

The neuros here are shipped as this file's source into the sandbox."""

from __future__ import annotations

import shutil

import pytest
import trio
import trio.testing

import neuro
from neuro import sdk
from neuro.kernel import Policy
from neuro.testing import Echo

BACKENDS = [
    "inproc",
    pytest.param("process", marks=pytest.mark.skipif(shutil.which("bwrap") is None,
                                                     reason="bubblewrap is not installed: apt-get install bubblewrap")),
]


class Report(sdk.Message, tag="report"):
    pass


class Seen(sdk.Message):
    events: list[tuple[str, str, int]]  # (name, neuro, data["missed"] or 0)


class Watcher(sdk.Neuro, abstract=True):
    """Keeps every kernel event it is sent; a Report asks for them."""

    name = "watcher"
    input = sdk.KernelEvent | Report
    output = Seen
    subscribe = ("kernel.events",)
    gate: trio.Event | None = None  # in-process only: hold the first event until it is set

    def __init__(self):
        self.seen = []

    async def handle(self, ctx, msg):
        if isinstance(msg, Report):
            return Seen(events=self.seen)
        if type(self).gate is not None and not self.seen:
            await type(self).gate.wait()
        self.seen.append((msg.name, msg.neuro or "", msg.data.get("missed", 0)))
        return Seen(events=[])


class Watcher_inproc(Watcher):
    pass


class Watcher_process(Watcher):
    sandbox = "process"


class Slow(Watcher):
    """A watcher with room for two messages, held on its first event."""

    policy = "tight"


class Ping(sdk.Message):
    pass


def run(body, **options):
    async def main():
        async with neuro.Kernel(**options) as k:
            return await body(k)

    return trio.run(main)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_subscribed_neuro_receives_typed_events_when_others_restart(backend):
    """A neuro subscribed to kernel.events is sent `neuro.spawned` and `neuro.restarted` of another neuro."""
    watcher = {"inproc": Watcher_inproc, "process": Watcher_process}[backend]

    async def body(k):
        await k.spawn(watcher)
        await k.spawn(Echo)
        await k.restart("echo")
        seen = await k.call("watcher", Report(), timeout=30)
        return [(name, about) for name, about, _ in seen.events if about == "echo"]

    assert [("neuro.spawned", "echo"), ("neuro.restarted", "echo")] == run(body)


def test_a_subscriber_is_never_sent_events_about_itself():
    """Events about the subscriber (its own rejected message here) go to the log, not to it."""

    async def body(k):
        await k.spawn(Watcher_inproc)
        await k.spawn(Echo)
        with pytest.raises(neuro.InvalidPayload):
            await k.send("watcher", {"bogus": 1})
        with pytest.raises(neuro.InvalidPayload):
            await k.send("echo", {"bogus": 1})
        seen = await k.call("watcher", Report())
        return [(name, about) for name, about, _ in seen.events]

    assert [("neuro.spawned", "echo"), ("message.rejected", "echo")] == run(body)


def test_a_subscriber_that_falls_behind_is_told_how_many_events_it_missed():
    """With a full mailbox, events are missed, then one `events.missed` marker says how many."""
    tight = {"tight": Policy(name="tight", mailbox_size=2, overflow="block")}

    async def body(k):
        Slow.gate = trio.Event()
        try:
            await k.spawn(Slow)
            for i in range(6):  # the first is held in the handler, two wait, three are missed
                await k.spawn(Echo, name=f"echo{i}")
            Slow.gate.set()
            await trio.testing.wait_all_tasks_blocked()  # it has caught up: the Report is not an overflow
            seen = await k.call("watcher", Report())
        finally:
            Slow.gate = None
        return seen.events

    assert [("neuro.spawned", "echo0", 0), ("neuro.spawned", "echo1", 0), ("neuro.spawned", "echo2", 0),
            ("events.missed", "watcher", 3)] == run(body, policies=tight)


def test_a_drop_oldest_subscriber_drops_its_oldest_and_counts_missed_events():
    """Under drop_oldest the rule makes room by dropping the oldest event, counted in the marker."""
    tight = {"tight": Policy(name="tight", mailbox_size=2, overflow="drop_oldest")}

    async def body(k):
        Slow.gate = trio.Event()
        try:
            await k.spawn(Slow)
            for i in range(6):  # echo0 is held; echo1..echo3 are dropped as echo3..echo5 arrive
                await k.spawn(Echo, name=f"echo{i}")
            Slow.gate.set()
            await trio.testing.wait_all_tasks_blocked()  # it has caught up: the Report is not an overflow
            seen = await k.call("watcher", Report())
        finally:
            Slow.gate = None
        return seen.events

    assert [("neuro.spawned", "echo0", 0), ("neuro.spawned", "echo4", 0), ("neuro.spawned", "echo5", 0),
            ("events.missed", "watcher", 3)] == run(body, policies=tight)


def test_naming_kernel_events_without_taking_them_is_refused_at_spawn():
    """A neuro that subscribes to kernel.events but whose input takes no KernelEvent cannot start."""

    class Deaf(sdk.Neuro):
        name = "deaf"
        input = Ping
        subscribe = ("kernel.events",)

        def handle(self, ctx, msg):
            return None

    async def body(k):
        with pytest.raises(neuro.ManifestError) as refused:
            await k.spawn(Deaf)
        return str(refused.value), k.ps()

    assert ("deaf subscribes to 'kernel.events', but its input type 'Ping' takes no KernelEvent; make it "
            "`input = sdk.KernelEvent` (or a union with it)", []) == run(body)


def test_the_sdk_event_type_is_the_kernels():
    """neuro.sdk.KernelEvent and neuro.KernelEvent are one class."""
    assert neuro.KernelEvent is sdk.KernelEvent
