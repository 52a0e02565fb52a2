"""Every number that enters the kernel is checked where it enters, and a `block` mailbox has
a default deadline.

A NaN timeout used to be accepted: it poisoned the deadline heap, and the next call with a
deadline took the kernel's timer task, and the kernel with it, down. A sender to a full
`block` mailbox of a stuck neuro waited for ever unless it gave a timeout.
"""

from __future__ import annotations

import math
import shutil

import pytest
import trio
import trio.testing

import neuro
from neuro import Policy, sdk
from neuro.kernel._policyfiles import check_policy_file
from neuro.shell.cli import main as cli_main
from neuro.testing import Echo, Ping, Pong


NAN = float("nan")
MOCK = dict(clock=trio.testing.MockClock(autojump_threshold=0))


class Stuck(sdk.Neuro):
    """Never finishes a message: its one-slot `block` mailbox stays full."""

    name = "stuck"
    input = Ping
    policy = "one-slot"

    async def handle(self, ctx, msg):
        await trio.sleep_forever()


class AsksWithNan(sdk.Neuro):
    """Calls echo with the timeout it is given as `n` (NaN when n < 0) and reports the error."""

    name = "asks-nan"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        try:
            await ctx.call("echo", Ping(n=1), timeout=NAN)
        except ValueError as e:
            return Pong(n=len(str(e)) if "timeout must be" in str(e) else -1)
        return Pong(n=0)


ONE_SLOT = {"one-slot": Policy(name="one-slot", mailbox_size=1, overflow="block")}


async def _still_serves(k):
    """The kernel answers a call with a deadline (the one that used to find the heap poisoned)."""
    return await k.call("echo", Ping(n=7), timeout=5.0)


@pytest.mark.parametrize("method", ["call", "send"])
@pytest.mark.parametrize("timeout, error, message", [
    (NAN, ValueError, "timeout must be a number of seconds >= 0 or math.inf, got nan"),
    (-1.0, ValueError, "timeout must be a number of seconds >= 0 or math.inf, got -1.0"),
    (-math.inf, ValueError, "timeout must be a number of seconds >= 0 or math.inf, got -inf"),
    ("5", TypeError, "timeout must be a number of seconds >= 0 or math.inf, got '5'"),
    (True, TypeError, "timeout must be a number of seconds >= 0 or math.inf, got True"),
])
def test_a_bad_timeout_is_refused_where_it_enters_and_the_kernel_keeps_serving(method, timeout, error, message):
    """call/send with a NaN, negative or non-number timeout: an error naming it, and the kernel lives on."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            with pytest.raises(error) as refused:
                await getattr(k, method)("echo", Ping(n=1), timeout=timeout)
            return str(refused.value), await _still_serves(k), k.statistics().accepted

    text, reply, accepted = trio.run(main)
    assert (message, Pong(n=7), 1) == (text, reply, accepted)


def test_an_infinite_or_huge_timeout_is_no_deadline_and_is_answered():
    """timeout=math.inf (and 10**400, bigger than any float) waits for ever, and gets its answer."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            return [await k.call("echo", Ping(n=n), timeout=t) for n, t in ((1, math.inf), (2, 10**400), (3, 1e308))]

    assert [Pong(n=1), Pong(n=2), Pong(n=3)] == trio.run(main)


def test_a_neuro_calling_with_a_nan_timeout_gets_the_error_itself():
    """ctx.call(timeout=nan) inside a handler raises there; the kernel and the caller carry on."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            await k.spawn(AsksWithNan)
            reply = await k.call("asks-nan", Ping(n=1), timeout=5.0)
            return reply.n > 0, await _still_serves(k)

    assert (True, Pong(n=7)) == trio.run(main)


def test_stop_with_a_nan_timeout_is_refused_and_the_neuro_keeps_running():
    """stop(timeout=nan) is refused before anything is stopped."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            with pytest.raises(ValueError, match="timeout must be a number of seconds"):
                await k.stop("echo", timeout=NAN)
            return k.info("echo").state, await _still_serves(k)

    assert ("running", Pong(n=7)) == trio.run(main)


@pytest.mark.parametrize("field, value, message", [
    ("wall_time", NAN, "`wall_time` must be 0 (unlimited) or more, got nan"),
    ("rate", math.inf, "`rate` must be at most 1,000,000,000,000, got inf"),
    ("send_timeout", -1, "`send_timeout` must be 0 (unlimited) or more, got -1"),
    ("mailbox_size", 1.5, "`mailbox_size` must be a whole number, got 1.5"),
    ("memory", 1 << 70, "`memory` must be at most 9,223,372,036,854,775,807"),
    ("concurrency", True, "`concurrency` must be a whole number, got True"),
    ("overflow", "spill", "`overflow` must be one of 'block', 'reject', 'drop_oldest', 'drop_newest', got 'spill'"),
])
def test_a_bad_policy_value_is_refused_naming_the_field(field, value, message):
    """A Policy made in Python with a non-finite, negative, huge or mistyped value is refused."""
    with pytest.raises((ValueError, TypeError)) as refused:
        Policy(name="bad", **{field: value})
    assert message in str(refused.value)


def test_a_nan_in_policy_overrides_is_refused_at_spawn():
    """A manifest's policy_overrides with wall_time = NaN: spawn raises PolicyError naming it; nothing runs."""

    class NanWall(Echo):
        name = "nan-wall"
        policy_overrides = {"wall_time": NAN}

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            with pytest.raises(neuro.PolicyError) as refused:
                await k.spawn(NanWall)
            return str(refused.value), [p.name for p in k.ps()], await _still_serves(k)

    text, names, reply = trio.run(main)
    assert "`wall_time` must be 0 (unlimited) or more, got nan" in text
    assert (["echo"], Pong(n=7)) == (names, reply)


@pytest.mark.parametrize("text, message", [
    ("wall_time = nan\n", "`wall_time` must be 0 (unlimited) or more, got nan"),
    ("cpu_share = inf\n", "`cpu_share` must be at most 1,000,000,000,000, got inf"),
    ("memory = 99999999999999999999\n", "`memory` must be at most 9,223,372,036,854,775,807"),
    (f'memory = "{"9" * 400}"\n', "key `memory`: a size must be at most 9,223,372,036,854,775,807 bytes"),
    (f"rate = {'9' * 5000}\n", "not valid TOML"),
])
def test_a_policy_file_with_a_number_out_of_range_names_the_file_and_key(tmp_path, text, message):
    """TOML's nan and inf, and numbers too big for the OS, are refused with the file and the key."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(neuro.PolicyError) as refused:
        check_policy_file(str(path), [])
    assert str(path) in str(refused.value)
    assert message in str(refused.value)


def test_a_policy_file_that_is_not_utf8_is_an_error_not_a_crash(tmp_path):
    """Bytes that are not UTF-8 inside a policy file get a PolicyError naming the file."""
    path = tmp_path / "latin.toml"
    path.write_bytes(b'description = "caf\xe9"\n')
    with pytest.raises(neuro.PolicyError, match="not valid UTF-8"):
        check_policy_file(str(path), [])


def test_subscribe_with_a_nan_buffer_is_refused():
    """subscribe(buffer=nan) names the argument."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(TypeError, match="buffer must be a whole number"):
                async with k.subscribe("news", buffer=NAN):
                    pass

    trio.run(main)


# -- a `block` mailbox's default deadline -----------------------------------------------------


async def _fill(k):
    """One message stuck in the handler, one filling the one-slot mailbox."""
    await k.spawn(Stuck)
    await k.send("stuck", Ping(n=1))
    await trio.testing.wait_all_tasks_blocked()
    await k.send("stuck", Ping(n=2))


def test_a_send_to_a_full_block_mailbox_gets_the_policys_default_deadline():
    """With no timeout, a sender to a stuck neuro's full mailbox gets MailboxFull after send_timeout (30 s)."""

    async def main():
        async with neuro.Kernel(policies=ONE_SLOT) as k:
            await _fill(k)
            start = trio.current_time()
            with trio.fail_after(3600):  # the old kernel waited for ever
                with pytest.raises(neuro.MailboxFull) as full:
                    await k.send("stuck", Ping(n=3))
            return trio.current_time() - start, str(full.value)

    waited, text = trio.run(main, **MOCK)
    assert 30.0 == pytest.approx(waited)
    assert "send_timeout" in text and "math.inf" in text


def test_a_per_call_timeout_overrides_the_policys_send_timeout():
    """timeout=5 waits 5 s of the fake clock, not the policy's 30; a policy's own send_timeout applies too."""
    policies = {**ONE_SLOT, "brief": Policy(name="brief", mailbox_size=1, send_timeout=2.0)}

    class StuckBrief(Stuck):
        name = "stuck-brief"
        policy = "brief"

    async def main():
        waits = []
        async with neuro.Kernel(policies=policies) as k:
            await _fill(k)
            for name, timeout in (("stuck", 5.0), ("stuck-brief", None)):
                if name == "stuck-brief":
                    await k.spawn(StuckBrief)
                    await k.send(name, Ping(n=1))
                    await trio.testing.wait_all_tasks_blocked()
                    await k.send(name, Ping(n=2))
                start = trio.current_time()
                with pytest.raises(neuro.MailboxFull):
                    await k.send(name, Ping(n=3), timeout=timeout)
                waits.append(trio.current_time() - start)
        return waits

    assert [5.0, 2.0] == pytest.approx(trio.run(main, **MOCK))


def test_timeout_inf_waits_for_room_for_ever_and_is_accepted_when_room_comes():
    """An explicit timeout=math.inf sender is still waiting after an hour, and gets in once room is made."""

    async def main():
        async with neuro.Kernel(policies=ONE_SLOT) as k:
            await _fill(k)
            sent = []

            async def sender():
                sent.append(await k.send("stuck", Ping(n=3), timeout=math.inf))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender)
                await trio.sleep(3600)
                waiting = (sent == [], k.mailbox_statistics("stuck").blocked_senders)
                await k.restart("stuck")  # a fresh instance: the queue drains into it, room comes
            return waiting, len(sent)

    assert ((True, 1), 1) == trio.run(main, **MOCK)


def test_send_timeout_zero_in_a_policy_means_no_default_deadline():
    """send_timeout = 0 keeps the old rule (wait for room until the sender's own deadline)."""
    policies = {"one-slot": Policy(name="one-slot", mailbox_size=1, send_timeout=0)}

    async def main():
        async with neuro.Kernel(policies=policies) as k:
            await _fill(k)
            with trio.move_on_after(3600) as waited:
                await k.send("stuck", Ping(n=3))
            return waited.cancelled_caught

    assert trio.run(main, **MOCK) is True


# -- the CLI ----------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["call", "slow", "text=x", "--timeout", "nan"],
    ["send", "slow", "text=x", "--timeout", "-1"],
    ["stop", "slow", "--timeout", "nan"],
    ["daemon", "start", "--wait", "nan"],
    ["swap", "slow", "x.py", "--replay", "-3"],
])
def test_the_cli_refuses_a_bad_number_before_sending(tmp_path, capsys, argv):
    """`--timeout nan` and friends: a usage error (exit 2) in the one JSON error shape, and no daemon asked."""
    code = cli_main([*argv, "--json", "--home", str(tmp_path / "no-daemon")])
    out = capsys.readouterr().out
    assert 2 == code
    error = __import__("json").loads(out)["error"]
    assert ("UsageError", 2) == (error["type"], error["exit_code"])
    assert f"argument {argv[-2]}: expected" in error["message"]


def test_a_swap_whose_origin_is_not_a_str_is_refused_and_the_log_keeps_working(log_path):
    """swap(origin=None) used to reach the log as a NULL actor and stop its writer (found by the fuzz test)."""

    class EchoV2(Echo):
        async def handle(self, ctx, msg):
            return Pong(n=msg.n + 1)

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            with pytest.raises(TypeError, match="origin must be a str"):
                await k.swap("echo", EchoV2, origin=None)
            reply = await _still_serves(k)
            return reply, len(await k.log.messages(neuro="echo"))

    assert (Pong(n=7), 1) == trio.run(main)
