"""Hooks are callable: `Kernel.hook(name, "sleep" | "selfcheck")`, the same on the client and
on `ctx.kernel`; a `sleep` hook may use its context in every backend, and each run is a
``hook.done`` event.

The neuros here are shipped as this file's source into the sandbox."""

from __future__ import annotations

import shutil

import msgspec
import pytest
import trio

import neuro
from neuro import sdk
from neuro.kernel import Policy
from neuro.kernel._policy import Capabilities

BACKENDS = [
    "inproc",
    pytest.param("process", marks=pytest.mark.skipif(shutil.which("bwrap") is None,
                                                     reason="bubblewrap is not installed: apt-get install bubblewrap")),
]


class Note(sdk.Message):
    text: str = ""


class Dreamt(sdk.Message):
    rounds: int
    heard: str


class Dreamer(sdk.Neuro, abstract=True):
    """Its sleep hook calls another neuro, publishes what it consolidated and says so."""

    name = "dreamer"
    input = Note
    output = Note

    def handle(self, ctx, msg):
        return msg

    async def sleep(self, ctx):
        heard = await ctx.call("echo", Note(text="remember"), timeout=30)
        await ctx.publish("dreams", Dreamt(rounds=3, heard=heard.text))
        return {"rounds": 3}

    def selfcheck(self):
        raise ValueError("this version forgot how to add")


class Dreamer_inproc(Dreamer):
    pass


class Dreamer_process(Dreamer):
    sandbox = "process"


DREAMERS = {"inproc": Dreamer_inproc, "process": Dreamer_process}


class Echo(sdk.Neuro):
    name = "echo"
    input = Note
    output = Note

    def handle(self, ctx, msg):
        return msg


class Plain(sdk.Neuro):
    name = "plain"
    input = Note

    def handle(self, ctx, msg):
        return None


def run(body, **options):
    async def main():
        async with neuro.Kernel(**options) as k:
            return await body(k)

    return trio.run(main)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sleep_hook_that_calls_and_publishes_works(backend):
    """Kernel.hook runs `sleep`, whose context calls and publishes, and returns what it returned."""

    async def body(k):
        await k.spawn(Echo)
        await k.spawn(DREAMERS[backend])
        async with k.subscribe("dreams") as dreams:
            result = await k.hook("dreamer", "sleep")
            _, sender, published = await dreams.receive()
        info = k.info("dreamer")
        return result, sender, msgspec.to_builtins(published), (info.state, info.restarts)

    assert ({"rounds": 3}, "dreamer", {"rounds": 3, "heard": "remember"}, ("running", 0)) == run(body)


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_hook_run_is_an_event_with_its_outcome(backend, tmp_path):
    """`hook.done` records the hook, whether it succeeded, the result or the error, and who asked."""

    async def body(k):
        await k.spawn(Echo)
        await k.spawn(DREAMERS[backend])
        await k.hook("dreamer", "sleep", origin="dream")
        with pytest.raises(neuro.RemoteError):
            await k.hook("dreamer", "selfcheck")
        rows = await k.log.events(name="hook.done")
        return [(r.neuro, r.actor, r.data["hook"], r.data["ok"], r.data.get("result"), r.data.get("error"),
                 r.data["seconds"] >= 0) for r in rows]

    assert [("dreamer", "dream", "sleep", True, {"rounds": 3}, None, True),
            ("dreamer", "api", "selfcheck", False, None, "ValueError: this version forgot how to add", True)] == run(
        body, log=tmp_path / "run.db")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hook_that_raises_is_a_remote_error_and_the_neuro_keeps_serving(backend):
    """A failing selfcheck raises RemoteError naming the neuro and the type; the neuro is not restarted."""

    async def body(k):
        await k.spawn(DREAMERS[backend])
        with pytest.raises(neuro.RemoteError) as failed:
            await k.hook("dreamer", "selfcheck")
        still = await k.call("dreamer", Note(text="still here"), timeout=30)
        return failed.value.neuro, failed.value.type, still.text, k.info("dreamer").restarts

    assert ("dreamer", "ValueError", "still here", 0) == run(body)


def test_a_hook_the_neuro_does_not_define_is_refused_saying_how_to_define_it():
    """Asking for a sleep hook the class lacks is a NeuroError naming the method to write."""

    async def body(k):
        await k.spawn(Plain)
        with pytest.raises(neuro.NeuroError) as refused:
            await k.hook("plain", "sleep")
        return str(refused.value)

    assert "plain has no sleep hook; define `async def sleep(self, ctx)` in its class" == run(body)


def test_only_sleep_and_selfcheck_can_be_called():
    """The swap's own hooks (snapshot, restore, migrate) are not callable on their own."""

    async def body(k):
        await k.spawn(Plain)
        with pytest.raises(ValueError) as refused:
            await k.hook("plain", "snapshot")
        return str(refused.value)

    assert ("hook must be one of sleep, selfcheck, got 'snapshot'; snapshot, restore and migrate run only within "
            "a swap") == run(body)


def test_the_embedded_client_runs_a_hook():
    """`client.hook(name, "sleep")` is the same call through the client API."""

    async def main():
        async with neuro.connect(embedded=True) as client:
            await client.spawn(Echo)
            await client.spawn(Dreamer_inproc)
            return await client.hook("dreamer", "sleep")

    assert {"rounds": 3} == trio.run(main)


class Night(sdk.Neuro):
    """A system neuro that puts another to sleep through ctx.kernel."""

    name = "night"
    input = Note
    output = Note
    policy = "night"

    async def handle(self, ctx, msg):
        result = await ctx.kernel.hook(msg.text, "sleep")
        return Note(text=str(result["rounds"]))


def test_a_neuro_granted_hook_puts_another_to_sleep():
    """With `hook` granted, ctx.kernel.hook runs another neuro's sleep hook; the event names the asker."""
    night = {"night": Policy(name="night", capabilities=Capabilities(control=("hook",)))}

    async def body(k):
        await k.spawn(Echo)
        await k.spawn(Dreamer_inproc)
        await k.spawn(Night)
        async with k.subscribe("kernel.events") as events:
            said = (await k.call("night", Note(text="dreamer"))).text
            event = (await events.receive())[2]
            while event.name != "hook.done":
                event = (await events.receive())[2]
        return said, event.actor

    assert ("3", "night") == run(body, policies=night)
