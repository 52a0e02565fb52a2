"""The chain's fast path: node calls the kernel handles at once skip their schedule point
(`ctx.call(..., _inline=True)`), one in 16 keeps it, and other contexts are called plainly."""

from __future__ import annotations

import trio

import neuro
from neuro import sdk
from neuro.nets import _kernelside

from netneuros import Inc, Num


def chain(name, n):
    net = sdk.Net(name, memo=False)
    net.chain("in", *[net.node(f"n{i}", "inc") for i in range(n)], "out")
    return net


def test_a_long_chain_gives_every_nodes_result_and_lets_other_tasks_run():
    """40 nodes of x+1 give x+40; a task beside the run gets more turns during it than during a
    1-node net's (the chain keeps one schedule point in 16 calls: it never holds the loop long)."""

    async def turns(k, name, x):
        ticks = []
        async with trio.open_nursery() as nursery:

            async def tick():
                while True:
                    ticks.append(1)
                    await trio.lowlevel.checkpoint()

            nursery.start_soon(tick)
            await trio.lowlevel.checkpoint()
            before = len(ticks)
            result = await k.call(name, Num(x=x))
            during = len(ticks) - before
            nursery.cancel_scope.cancel()
        return result, during

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Inc)
            await k.spawn(chain("long", 40).build(kernel=k).neuro())
            await k.spawn(chain("short", 1).build(kernel=k).neuro())
            # Summed over runs: trio shuffles each batch of runnable tasks, so in one run the
            # task beside it got 1-3 turns during the short net and 3-5 during the long one.
            long_runs = [await turns(k, "long", 2) for _ in range(10)]
            short_runs = [await turns(k, "short", 2) for _ in range(10)]
            long_turns, short_turns = (sum(t for _, t in runs) for runs in (long_runs, short_runs))
            assert ([Num(x=42)] * 10, [Num(x=3)] * 10, True) == ([r for r, _ in long_runs], [r for r, _ in short_runs],
                                                              long_turns > short_turns)

    trio.run(main)


def test_only_the_kernels_context_is_called_inline():
    """A context whose `call` takes no `_inline` (a test's, a replay's) is called plainly."""

    class Plain:
        async def call(self, to, payload, *, timeout=10.0):
            return payload

    class Kernelish:
        async def call(self, to, payload, *, timeout=10.0, _inline=False):
            return payload

    assert (False, True) == (_kernelside.inline_calls(Plain()), _kernelside.inline_calls(Kernelish()))
