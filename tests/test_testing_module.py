"""`neuro.testing`: the shared test neuros export exactly what its docstring lists, and each
does what the list says, in a real kernel."""

from __future__ import annotations

import re
import shutil

import pytest
import trio
import trio.testing

import neuro
import neuro.testing
from neuro.testing import BoxedEcho, Crashy, Echo, Idle, Ping, Pong, Relay, Slow, SyncEcho


def documented() -> list[str]:
    """The names the module docstring lists, one ``- `Name`: ...`` line each, in order."""
    return re.findall(r"^- `(\w+)`", neuro.testing.__doc__, flags=re.MULTILINE)


def run(body, **options):
    async def main():
        async with neuro.Kernel(**options) as k:
            return await body(k)

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_testing_exports_exactly_the_names_its_docstring_lists():
    """neuro.testing.__all__ is the docstring's list, in order."""
    assert documented() == neuro.testing.__all__


@pytest.mark.parametrize("name", neuro.testing.__all__)
def test_every_exported_name_has_a_one_line_docstring(name):
    """Each exported class says in one line what it is."""
    doc = getattr(neuro.testing, name).__doc__ or ""
    assert (True, 1) == (bool(doc.strip()), len(doc.strip().splitlines()))


def test_each_neuro_runs_under_the_name_its_docstring_line_gives():
    """Each neuro's line in the docstring starts with the name it is spawned under."""
    said = dict(re.findall(r'^- `(\w+)`: "([\w-]+)"', neuro.testing.__doc__, flags=re.MULTILINE))
    neuros = {name: getattr(neuro.testing, name) for name in neuro.testing.__all__}
    actual = {name: cls.__manifest__.name for name, cls in neuros.items() if issubclass(cls, neuro.sdk.Neuro)}
    assert actual == said


def test_echo_and_sync_echo_answer_pong_with_the_same_number():
    """Echo and SyncEcho answer Ping(n) with Pong(n)."""

    async def body(k):
        await k.spawn(Echo)
        await k.spawn(SyncEcho)
        return [await k.call("echo", Ping(n=7)), await k.call("sync-echo", Ping(n=8))]

    assert [Pong(n=7), Pong(n=8)] == run(body)


def test_slow_answers_after_n_milliseconds():
    """Slow answers Ping(250) with Pong(250) no sooner than 250 ms later (on a mock clock)."""

    async def body(k):
        await k.spawn(Slow)
        t0 = trio.current_time()
        reply = await k.call("slow", Ping(n=250), timeout=5)
        return reply, trio.current_time() - t0 >= 0.25

    assert (Pong(n=250), True) == run(body)


def test_crashy_raises_on_a_negative_number_and_its_restart_answers_with_a_new_instance():
    """Crashy's error reaches the caller as RemoteError; restarted, it answers from a new instance
    (its supervisor's restart after the crash and the explicit one may both have run)."""
    Crashy.instances = 0

    async def body(k):
        await k.spawn(Crashy)
        first = await k.call("crashy", Ping(n=1))
        with pytest.raises(neuro.RemoteError) as error:
            await k.call("crashy", Ping(n=-1))
        await k.restart("crashy")
        return first, "negative: -1" in str(error.value), (await k.call("crashy", Ping(n=1))).n > 1

    assert (Pong(n=1), True, True) == run(body)


def test_relay_calls_echo_with_one_more():
    """Relay answers Ping(n) with echo's answer to Ping(n + 1)."""

    async def body(k):
        await k.spawn(Echo)
        await k.spawn(Relay)
        return await k.call("relay", Ping(n=41))

    assert Pong(n=42) == run(body)


def test_idle_takes_a_ping_and_answers_nothing():
    """A call to Idle is handled and returns None."""

    async def body(k):
        await k.spawn(Idle)
        return await k.call("idle", Ping(n=1))

    assert None is run(body)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed: apt-get install bubblewrap")
def test_boxed_echo_answers_from_the_process_sandbox():
    """BoxedEcho runs in the process sandbox (neuro/testing.py shipped there as its source) and answers Pong(n)."""

    async def main():
        async with neuro.Kernel() as k:
            info = await k.spawn(BoxedEcho)
            return info.sandbox, await k.call("boxed-echo", Ping(n=3), timeout=30)

    assert ("process", Pong(n=3)) == trio.run(main)
