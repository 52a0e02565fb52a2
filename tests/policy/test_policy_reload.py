"""Policies reload live: a running neuro picks up a changed file; a bad file changes nothing."""

from __future__ import annotations

import trio

import neuro
from neuro import sdk
from neuro.testing import Ping


class Worker(sdk.Neuro):
    name = "worker"
    input = Ping
    output = Ping
    policy = "mine"

    async def handle(self, ctx, msg):
        return msg


async def wait_for(condition, timeout=10.0):
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.01)


def test_a_changed_policy_file_reaches_the_running_neuro_without_a_restart(tmp_path, log_path):
    """Editing the policy file raises the running neuro's mailbox bound; the change is logged."""
    policy = tmp_path / "mine.toml"
    policy.write_text('inherit = "default"\nmailbox_size = 8\n')

    async def main():
        async with neuro.Kernel(log=log_path, policy_dirs=[str(tmp_path)], watch_policies=True) as k:
            await k.spawn(Worker)
            before = k.info("worker")
            policy.write_text('inherit = "default"\nmailbox_size = 64\n')
            await wait_for(lambda: k.info("worker").mailbox_capacity == 64)
            after = k.info("worker")
            reply = await k.call("worker", Ping(n=1))
            return before, after, reply, [e.name for e in await k.log.events(name="policy.*")]

    before, after, reply, events = trio.run(main)
    assert (8, 64) == (before.mailbox_capacity, after.mailbox_capacity)
    assert before.pid == after.pid  # not restarted
    assert Ping(n=1) == reply
    assert ["policy.changed", "policy.applied"] == events


def test_a_broken_policy_file_is_an_event_and_the_old_policy_stays(tmp_path, log_path):
    """Saving an invalid policy logs policy.invalid naming the key; the neuro keeps its quotas."""
    policy = tmp_path / "mine.toml"
    policy.write_text('inherit = "default"\nmailbox_size = 8\n')

    async def main():
        async with neuro.Kernel(log=log_path, policy_dirs=[str(tmp_path)], watch_policies=True) as k:
            await k.spawn(Worker)
            policy.write_text('inherit = "default"\nmailbox_size = "lots"\n')

            async def invalid():
                return await k.log.events(name="policy.invalid")

            found = []
            with trio.fail_after(10):
                while not found:
                    found = await invalid()
                    await trio.sleep(0.01)
            return k.info("worker").mailbox_capacity, found[0].data["error"]

    capacity, error = trio.run(main)
    assert 8 == capacity
    assert "Expected `int`, got `str` - at `mailbox_size`" in error
    assert str(tmp_path / "mine.toml") in error
