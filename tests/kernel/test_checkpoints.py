"""trio's checkpoint rule on every messaging operation: `send`, `call` and `publish` (the
kernel's and a handler's `ctx`) are always a cancel point and a schedule point, whatever the
state, the direct-call path included; cancelled before they start, they do nothing. The
`_nowait` forms never checkpoint."""

from __future__ import annotations

import contextlib

import pytest
import trio
import trio.testing

import neuro
from neuro import sdk
from neuro.kernel import Policy
from neuro.testing import Ping, Pong


class Plain(sdk.Neuro):
    """A plain-function handler: an idle one serves a call in the caller's task."""

    name = "plain"
    input = Ping
    output = Pong
    served: list[int] = []

    def handle(self, ctx, msg):
        Plain.served.append(msg.n)
        return Pong(n=msg.n)


class Waiting(sdk.Neuro):
    """An async handler: served by its runner task."""

    name = "waiting"
    input = Ping
    output = Pong
    subscribe = ("news",)

    async def handle(self, ctx, msg):
        return Pong(n=msg.n)


class Checks(sdk.Neuro):
    """Answers with the ctx operations that did not checkpoint (empty: all did)."""

    name = "checks"
    input = Ping
    output = Pong
    missed: list[str] = []

    async def handle(self, ctx, msg):
        ops = {"ctx.send": lambda: ctx.send("waiting", Ping(n=1)),
               "ctx.call direct": lambda: ctx.call("plain", Ping(n=2)),
               "ctx.call": lambda: ctx.call("waiting", Ping(n=3)),
               "ctx.publish": lambda: ctx.publish("news", Ping(n=4))}
        for name, op in ops.items():
            try:
                with trio.testing.assert_checkpoints():
                    await op()
            except AssertionError:
                Checks.missed.append(name)
        return Pong(n=len(Checks.missed))


@pytest.fixture(autouse=True)
def _fresh():
    Plain.served = []
    Checks.missed = []


def kernel_ops(k):
    return {"send": lambda: k.send("waiting", Ping(n=1)),
            "send to a full block mailbox": lambda: k.send("waiting", Ping(n=1), timeout=0.0),
            "call direct": lambda: k.call("plain", Ping(n=2)),
            "call": lambda: k.call("waiting", Ping(n=3)),
            "publish": lambda: k.publish("news", Ping(n=4)),
            "publish to nobody": lambda: k.publish("nobody-listens", Ping(n=5))}


def test_every_kernel_messaging_operation_is_a_checkpoint():
    """send, call (direct or through a runner) and publish each pass a cancel and a schedule point."""

    async def main():
        missed = []
        async with neuro.Kernel() as k:
            await k.spawn(Plain)
            await k.spawn(Waiting)
            for name, op in kernel_ops(k).items():
                if name == "send to a full block mailbox":
                    continue
                try:
                    with trio.testing.assert_checkpoints():
                        await op()
                except AssertionError:
                    missed.append(name)
        return missed

    assert [] == trio.run(main)


def test_a_call_on_the_direct_path_in_a_cancelled_scope_runs_no_handler():
    """Kernel.call to an idle plain-function neuro, already cancelled: Cancelled, and nothing served."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Plain)
            with trio.CancelScope() as scope:
                scope.cancel()
                await k.call("plain", Ping(n=1))
            return scope.cancelled_caught, k.info("plain").received

    assert (True, 0) == trio.run(main)
    assert [] == Plain.served


@pytest.mark.parametrize("op", ["send", "call", "publish"])
def test_an_operation_cancelled_before_it_starts_accepts_no_message(op):
    """send, call and publish in a cancelled scope raise Cancelled and the kernel accepts nothing."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Waiting)
            with trio.CancelScope() as scope:
                scope.cancel()
                await kernel_ops(k)[op]()
            return scope.cancelled_caught, k.statistics().accepted

    assert (True, 0) == trio.run(main)


def test_a_durable_send_cancelled_before_it_starts_writes_nothing(log_path):
    """A durable send in a cancelled scope raises Cancelled; the log holds no message."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Waiting)
            with trio.CancelScope() as scope:
                scope.cancel()
                await k.send("waiting", Ping(n=1), durable=True)
            return scope.cancelled_caught, await k.log.messages()

    assert (True, []) == trio.run(main)


def test_a_send_that_waits_for_room_is_a_checkpoint():
    """A send to a full `block` mailbox checkpoints while it waits for room or its timeout."""

    async def main():
        policies = {"tiny": Policy(name="tiny", mailbox_size=1, overflow="block")}
        async with neuro.Kernel(policies=policies) as k:
            await k.spawn(Waiting, policy="tiny")
            k.send_nowait("waiting", Ping(n=0))  # fills it: its runner has not run yet
            with trio.testing.assert_checkpoints():
                with contextlib.suppress(neuro.MailboxFull):  # or room came first: either way it waited
                    await kernel_ops(k)["send to a full block mailbox"]()
            return True

    assert trio.run(main)


def test_every_ctx_messaging_operation_in_process_is_a_checkpoint():
    """A handler's ctx.send, ctx.call (direct or not) and ctx.publish each checkpoint."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Plain)
            await k.spawn(Waiting)
            await k.spawn(Checks)
            await k.call("checks", Ping(n=0))
        return Checks.missed

    assert [] == trio.run(main)


def test_send_nowait_never_checkpoints():
    """Kernel.send_nowait passes no cancel or schedule point, even in a cancelled scope."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Waiting)
            with trio.CancelScope() as scope:
                scope.cancel()
                with trio.testing.assert_no_checkpoints():
                    k.send_nowait("waiting", Ping(n=1))
            return k.statistics().accepted

    assert 1 == trio.run(main)


def test_send_nowait_to_a_full_block_mailbox_raises_would_block():
    """When a `block` mailbox is full, send_nowait raises trio.WouldBlock and accepts nothing."""

    async def main():
        policies = {"tiny": Policy(name="tiny", mailbox_size=1, overflow="block")}
        async with neuro.Kernel(policies=policies) as k:
            await k.spawn(Waiting, policy="tiny")
            k.send_nowait("waiting", Ping(n=0))
            with pytest.raises(trio.WouldBlock):
                k.send_nowait("waiting", Ping(n=1))
            return k.statistics().accepted

    assert 1 == trio.run(main)


def test_publish_nowait_never_checkpoints():
    """Kernel.publish_nowait passes no cancel or schedule point and reaches the subscriber."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Waiting)
            with trio.testing.assert_no_checkpoints():
                reached = k.publish_nowait("news", Ping(n=1))
            return reached

    assert 1 == trio.run(main)
