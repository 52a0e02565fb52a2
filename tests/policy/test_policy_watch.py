"""The policy watcher reloads once per real change of a file, and rests in between.

It used to re-read every policy file 10-20 times a second for ever once one was written (its
own reads were reported as changes), logging `policy.invalid` on each pass for a bad file.
These tests count rows over a quiet second of real time; they assert counts, never durations.
"""

from __future__ import annotations

import trio

import neuro
from neuro import sdk
from neuro.testing import Ping

QUIET_SECONDS = 1.0  # the old watcher reloaded 10-20 times in this


class Worker(sdk.Neuro):
    name = "worker"
    input = Ping
    output = Ping
    policy = "mine"

    async def handle(self, ctx, msg):
        return msg


async def rows(k, name):
    return len(await k.log.events(name=name))


async def wait_for_rows(k, name, count):
    with trio.fail_after(20):
        while await rows(k, name) < count:
            await trio.sleep(0.02)


def watched_kernel(tmp_path, log_path):
    return neuro.Kernel(log=log_path, policy_dirs=[str(tmp_path)], watch_policies=True)


def test_one_change_of_a_valid_file_is_one_reload(tmp_path, log_path):
    """A policy file rewritten once: one policy.changed, and none more over a quiet second."""
    policy = tmp_path / "mine.toml"
    policy.write_text('inherit = "default"\nmailbox_size = 8\n')

    async def main():
        async with watched_kernel(tmp_path, log_path) as k:
            await k.spawn(Worker)
            policy.write_text('inherit = "default"\nmailbox_size = 64\n')
            await wait_for_rows(k, "policy.changed", 1)
            await trio.sleep(QUIET_SECONDS)
            return await rows(k, "policy.changed"), await rows(k, "policy.applied"), k.info("worker").mailbox_capacity

    assert (1, 1, 64) == trio.run(main)


def test_a_broken_file_is_reported_once_not_on_every_pass(tmp_path, log_path):
    """An invalid file saved once logs one policy.invalid, however long it stays there."""
    policy = tmp_path / "mine.toml"
    policy.write_text('inherit = "default"\nmailbox_size = 8\n')

    async def main():
        async with watched_kernel(tmp_path, log_path) as k:
            await k.spawn(Worker)
            policy.write_text('inherit = "default"\nmailbox_size = "lots"\n')
            await wait_for_rows(k, "policy.invalid", 1)
            await trio.sleep(QUIET_SECONDS)
            return await rows(k, "policy.invalid"), k.info("worker").mailbox_capacity

    assert (1, 8) == trio.run(main)


def test_saving_a_file_unchanged_does_not_reload_it(tmp_path, log_path):
    """Writing the same bytes again is no change: the broken file is not reported a second time."""
    policy = tmp_path / "mine.toml"
    policy.write_text('inherit = "default"\nmailbox_size = 8\n')
    broken = 'inherit = "default"\nmailbox_size = "lots"\n'

    async def main():
        async with watched_kernel(tmp_path, log_path) as k:
            await k.spawn(Worker)
            policy.write_text(broken)
            await wait_for_rows(k, "policy.invalid", 1)
            policy.write_text(broken)  # an editor's save with nothing changed
            await trio.sleep(QUIET_SECONDS)
            policy.write_text('inherit = "default"\nmailbox_size = 16\n')  # then a real fix
            await wait_for_rows(k, "policy.changed", 1)
            return await rows(k, "policy.invalid"), await rows(k, "policy.changed"), k.info("worker").mailbox_capacity

    assert (1, 1, 16) == trio.run(main)


def test_a_policy_number_that_is_not_finite_is_refused_by_the_watcher(tmp_path, log_path):
    """`wall_time = nan` in a watched file is one policy.invalid naming the key; the kernel keeps serving."""
    policy = tmp_path / "mine.toml"
    policy.write_text('inherit = "default"\nwall_time = 5.0\n')

    async def main():
        async with watched_kernel(tmp_path, log_path) as k:
            await k.spawn(Worker)
            policy.write_text('inherit = "default"\nwall_time = nan\n')
            await wait_for_rows(k, "policy.invalid", 1)
            (event,) = await k.log.events(name="policy.invalid")
            reply = await k.call("worker", Ping(n=3), timeout=5)
            return event.data["error"], reply, k.policies()["mine"].wall_time

    error, reply, wall_time = trio.run(main)
    assert "`wall_time` must be 0 (unlimited) or more, got nan" in error
    assert (Ping(n=3), 5.0) == (reply, wall_time)
