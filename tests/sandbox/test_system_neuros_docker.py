"""`ctx.kernel`, `ctx.gather`, a context-using `sleep` hook and kernel events, in a Docker
container as in-process and in the process sandbox (which tests/kernel covers)."""

from __future__ import annotations

import pytest
import trio

import neuro
from neuro.kernel import Policy
from neuro.kernel._policy import Capabilities

from .docker_support import make_backends, require_backend
from .system_neuros import Boxed, Echo, Note, Report, Watcher

pytest.importorskip("docker", reason="the docker SDK is not installed: .venv/bin/pip install 'neuro-runtime[docker]'")

BOXED = {"boxed": Policy(name="boxed", capabilities=Capabilities(control=("ps",)))}


@pytest.fixture(autouse=True)
def docker_ready():
    require_backend("docker")


def run(body):
    async def main():
        async with neuro.Kernel(policies=BOXED, backends=make_backends()) as k:
            await k.spawn(Echo)
            await k.spawn(Boxed)
            return await body(k)

    return trio.run(main)


def test_a_contained_neuro_uses_what_its_policy_grants_and_nothing_more():
    """From a container, ctx.kernel.ps() (granted) answers; stop (not granted) is refused with the key."""

    async def body(k):
        names = (await k.call("boxed", Note(text="ps"), timeout=60)).items
        refused = (await k.call("boxed", Note(text="stop"), timeout=60)).items
        return names, refused

    assert (["boxed", "echo"], ["PolicyError: boxed may not stop through ctx.kernel: its policy 'boxed' does not "
                                "grant it; grant it in that policy with capabilities.control = [\"stop\"]"]) == run(body)


def test_a_contained_neuro_gathers_with_one_failing_call():
    """ctx.gather from a container gives the reply and the failed call's RemoteError, in order."""

    async def body(k):
        return (await k.call("boxed", Note(text="gather"), timeout=60)).items

    assert ["a", "RemoteError"] == run(body)


def test_a_contained_sleep_hook_publishes():
    """A sleep hook in a container uses its context to publish, and its result comes back."""

    async def body(k):
        async with k.subscribe("dreams") as dreams:
            result = await k.hook("boxed", "sleep")
            _, sender, payload = await dreams.receive()
        return result, sender, payload

    assert ({"rounds": 1}, "boxed", {"text": "consolidated"}) == run(body)


def test_kernel_events_reach_a_contained_subscriber():
    """A subscriber in a container is sent, typed, the restart of another neuro."""

    async def body(k):
        await k.spawn(Watcher)
        await k.restart("echo")
        return [e for e in (await k.call("watcher", Report(), timeout=60)).items if e.endswith(" echo")]

    assert ["neuro.restarted echo"] == run(body)
