"""Messaging: call, send, publish, validation at the boundary, typed errors, overflow rules."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import neuro
from neuro.kernel import Policy
from neuro.testing import Crashy, Echo, Ping, Pong, Relay, Slow, SyncEcho

from .neuros_for_tests import Listener


def run(fn):
    return trio.run(fn)


def test_call_returns_the_handlers_reply(log_path):
    """A call to a spawned neuro returns what its handler returned."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            return await k.call("echo", Ping(n=7), timeout=1.0)

    assert Pong(n=7) == run(main)


def test_sync_handlers_are_served_like_async_ones():
    """A neuro whose handle is a plain function is served the same way."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(SyncEcho)
            return await k.call("sync-echo", Ping(n=3))

    assert Pong(n=3) == run(main)


def test_invalid_payload_names_the_field_and_never_reaches_the_handler(log_path):
    """A payload of the wrong type is refused with the field's path; nothing is accepted."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            with pytest.raises(neuro.InvalidPayload) as err:
                await k.call("echo", {"n": "seven"})
            return err.value, k.info("echo"), await k.log.messages(), await k.log.events(name="message.rejected")

    err, info, messages, rejected = run(main)
    assert "$.n" == err.path
    assert "Expected `int`, got `str` - at `$.n`" in str(err)
    assert 0 == info.received
    assert [] == messages
    assert len(rejected) == 1


def test_unknown_fields_are_refused():
    """A dict with a field the input type does not have is refused, not silently dropped."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            with pytest.raises(neuro.InvalidPayload, match="unknown field `extra`"):
                await k.call("echo", {"n": 1, "extra": 2})

    run(main)


def test_a_dict_payload_is_converted_to_the_input_type():
    """A JSON-like dict that fits the input type is delivered as that type."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            return await k.call("echo", {"n": 5})

    assert Pong(n=5) == run(main)


def test_unknown_recipient_says_which_neuros_run():
    """Calling a name nobody runs raises NoSuchNeuro listing what does run."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            with pytest.raises(neuro.NoSuchNeuro, match=r"no neuro named 'nobody' is running \(running: echo\)"):
                await k.call("nobody", Ping(n=1))

    run(main)


def test_oversized_payload_is_refused_with_the_limit():
    """A payload over the policy's max_message_bytes is refused and names the limit."""

    async def main():
        policies = {"tiny": Policy(name="tiny", max_message_bytes=16)}
        async with neuro.Kernel(policies=policies) as k:
            await k.spawn(Echo, policy="tiny")
            with pytest.raises(neuro.MessageTooLarge, match="exceeds the 16 byte limit of policy 'tiny'"):
                await k.send("echo", {"n": 1, "pad": "x" * 100})

    run(main)


def test_handler_error_comes_back_typed_with_traceback(log_path):
    """An exception in a handler reaches the caller as RemoteError with type and traceback."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Crashy)
            with pytest.raises(neuro.RemoteError) as err:
                await k.call("crashy", Ping(n=-1))
            rows = await k.log.messages(neuro="crashy")
            return err.value, rows

    err, rows = run(main)
    assert ("crashy", "ValueError", "negative: -1") == (err.neuro, err.type, err.message)
    assert "raise ValueError" in err.traceback
    assert ["error"] == [r.outcome for r in rows]
    assert "ValueError" == rows[0].error["type"]


def test_call_timeout_leaves_the_message_to_get_its_outcome(log_path):
    """A call that times out raises CallTimeout; the message is still handled and logged."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Slow)
            with pytest.raises(neuro.CallTimeout, match="no reply from 'slow' within 0.01 s"):
                await k.call("slow", Ping(n=50), timeout=0.01)
            await trio.sleep(0.1)
            return await k.log.messages(neuro="slow")

    rows = run(main)
    assert ["handled"] == [r.outcome for r in rows]


def test_message_past_its_deadline_is_dead_lettered_not_handled(log_path):
    """A queued message whose deadline passed before delivery ends as a dead letter."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Slow)
            await k.send("slow", Ping(n=50))
            with pytest.raises(neuro.CallTimeout):
                await k.call("slow", Ping(n=1), timeout=0.01)
            await trio.sleep(0.1)
            return await k.log.messages(neuro="slow")

    rows = run(main)
    assert [("handled", None), ("dead", "deadline passed before delivery")] == [(r.outcome, r.reason) for r in rows]


def test_cancelled_caller_does_not_lose_the_message(log_path):
    """Cancelling a caller leaves its message to be handled and logged once."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Slow)
            with trio.move_on_after(0.01):
                await k.call("slow", Ping(n=30), timeout=None)
            await trio.sleep(0.1)
            return await k.log.messages(neuro="slow")

    assert ["handled"] == [r.outcome for r in run(main)]


def test_neuro_to_neuro_calls_are_linked_in_the_trace(log_path):
    """A call a neuro makes while handling a message has that message as its parent."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            await k.spawn(Relay)
            reply = await k.call("relay", Ping(n=1))
            first = (await k.log.messages(neuro="relay"))[0]
            return reply, await k.log.trace(first.id)

    reply, trace = run(main)
    assert Pong(n=2) == reply
    assert ["echo"] == [c.message.recipient for c in trace.children]
    assert trace.message.correlation == trace.children[0].message.correlation
    assert {"n": 2} == trace.children[0].message.payload


def test_publish_reaches_neuro_and_client_subscribers():
    """An event on a topic reaches the neuros that subscribe and clients that subscribe."""

    async def main():
        Listener.seen = []
        async with neuro.Kernel() as k:
            await k.spawn(Listener)
            async with k.subscribe("news") as events:
                reached = await k.publish("news", Ping(n=9))
                topic, sender, payload = events.receive_nowait()
            await trio.testing.wait_all_tasks_blocked()
            return reached, topic, payload, Listener.seen

    assert (2, "news", Ping(n=9), [9]) == run(main)


def _overflow_kernel(rule):
    return neuro.Kernel(policies={"small": Policy(name="small", mailbox_size=2, overflow=rule)})


def test_overflow_reject_raises_mailbox_full():
    """With rule `reject`, a send to a full mailbox raises MailboxFull and is not accepted."""

    async def main():
        async with _overflow_kernel("reject") as k:
            await k.spawn(Slow, policy="small")
            k.send_nowait("slow", Ping(n=20))
            await trio.testing.wait_all_tasks_blocked()  # one in flight, then two queued
            for _ in range(2):
                k.send_nowait("slow", Ping(n=20))
            with pytest.raises(neuro.MailboxFull, match="is full"):
                k.send_nowait("slow", Ping(n=20))
            return k.info("slow").received

    assert 3 == run(main)


@pytest.mark.parametrize("rule, survivors", [("drop_oldest", [1, 3, 4]), ("drop_newest", [1, 2, 3])])
def test_overflow_drop_rules_dead_letter_with_a_reason(log_path, rule, survivors):
    """drop_oldest and drop_newest accept, then dead-letter one message with a reason."""

    async def main():
        async with neuro.Kernel(log=log_path, policies={"small": Policy(name="small", mailbox_size=2, overflow=rule)}) as k:
            await k.spawn(Slow, policy="small")
            k.send_nowait("slow", Ping(n=1))
            await trio.testing.wait_all_tasks_blocked()  # 1 is in flight
            for n in (2, 3, 4):
                k.send_nowait("slow", Ping(n=n))
            await trio.sleep(0.1)
            return await k.log.messages(neuro="slow")

    rows = run(main)
    assert survivors == [r.payload["n"] for r in rows if r.outcome == "handled"]
    dead = [r for r in rows if r.outcome == "dead"]
    assert len(dead) == 1
    assert dead[0].reason.startswith("mailbox full")


def test_overflow_block_makes_the_sender_wait_for_room():
    """With rule `block`, send waits until the mailbox has room; send_nowait raises WouldBlock."""

    async def main():
        async with _overflow_kernel("block") as k:
            await k.spawn(Slow, policy="small")
            for _ in range(3):
                await k.send("slow", Ping(n=10))
            with pytest.raises(trio.WouldBlock):
                k.send_nowait("slow", Ping(n=10))
            start = trio.current_time()
            await k.send("slow", Ping(n=10))  # waits for the first to finish
            return trio.current_time() - start

    assert run(main) >= 0.005


def test_overflow_block_times_out_with_mailbox_full():
    """A blocked sender whose deadline passes gets MailboxFull and its message is not accepted."""

    async def main():
        async with _overflow_kernel("block") as k:
            await k.spawn(Slow, policy="small")
            for _ in range(3):
                await k.send("slow", Ping(n=200))
            with pytest.raises(neuro.MailboxFull, match="stayed full"):
                await k.send("slow", Ping(n=1), timeout=0.01)
            return k.info("slow").received

    assert 3 == run(main)


def test_crash_does_not_affect_other_neuros():
    """One neuro crashing leaves the others serving."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Crashy)
            await k.spawn(Echo)
            with pytest.raises(neuro.RemoteError):
                await k.call("crashy", Ping(n=-1))
            return await k.call("echo", Ping(n=1)), await k.call("crashy", Ping(n=1))

    echo, crashy = run(main)
    assert Pong(n=1) == echo
    assert crashy.n >= 2  # a fresh instance


def test_a_subscription_ends_when_the_kernel_stops():
    """A task reading a subscription gets kernel.stopped, then its `async for` ends: it does
    not wait forever for a kernel that is gone (embedded client and kernel API alike)."""
    got = []

    async def listen(client, ready):
        async with client.subscribe("*") as events:
            ready.set()
            async for topic, _sender, payload in events:
                got.append(getattr(payload, "name", topic))
        got.append("ended")

    async def main():
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                async with neuro.connect(embedded=True) as client:
                    ready = trio.Event()
                    nursery.start_soon(listen, client, ready)
                    await ready.wait()
                    await client.publish("news", Ping(n=1))

    trio.run(main)
    assert ["news", "kernel.stopped", "ended"] == got
