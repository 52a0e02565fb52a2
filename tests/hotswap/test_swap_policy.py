"""A swap keeps the policy a neuro was spawned under while the new version declares what the old one did."""

from __future__ import annotations

import pytest
import trio

import neuro
from neuro import sdk


class Ping(sdk.Message):
    n: int


class Pong(sdk.Message):
    n: int
    version: int


def version(cls, tag):
    """Give a class of this file its own version hash, as a file change would."""
    cls.__version_cache__ = tag
    return cls


class Doubler(sdk.Neuro):
    name = "calc"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        return Pong(n=msg.n * 2, version=1)


Doubler = version(Doubler, "v1")


class Adder(Doubler):
    async def handle(self, ctx, msg):
        return Pong(n=msg.n + msg.n, version=2)


Adder = version(Adder, "v2")


class AsksForTrust(Doubler):
    policy = "trusted"


AsksForTrust = version(AsksForTrust, "asks-for-trust")


@pytest.fixture
def policies(tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "granted.toml").write_text('inherit = "default"\nmailbox_size = 17\n')
    return folder


def test_a_swap_runs_the_new_version_under_the_spawn_policy_not_its_manifests(log_path, policies):
    """Spawned with policy="granted" (the class says "default"): after the swap it still runs under granted."""

    async def main():
        async with neuro.Kernel(log=log_path, policy_dirs=[policies]) as k:
            await k.spawn(Doubler, policy="granted")
            report = await k.swap("calc", Adder)
            info = k.info("calc")
            return report.ok, info.policy, info.mailbox_capacity, (await k.call("calc", Ping(n=2))).version

    assert (True, "granted", 17, 2) == trio.run(main)


def test_a_new_version_that_declares_another_policy_runs_under_the_one_it_declares(log_path, policies):
    """Spawned with policy="granted": a new version that declares `trusted` runs under trusted (its own
    declaration, as at a spawn), not under granted."""

    async def main():
        async with neuro.Kernel(log=log_path, policy_dirs=[policies]) as k:
            await k.spawn(Doubler, policy="granted")
            report = await k.swap("calc", AsksForTrust)
            return report.ok, k.info("calc").policy, (await k.call("calc", Ping(n=2))).version

    assert (True, "trusted", 1) == trio.run(main)
