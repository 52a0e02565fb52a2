"""`slow`: answers after `ms` milliseconds. A neuro file the daemon loads by path (and a class
the daemon cannot import by module), so it defines its own neuro; `neuro.testing.Slow` is the
importable one."""

import trio

from neuro import sdk


class Nap(sdk.Message):
    ms: int


class Woke(sdk.Message):
    ms: int


class Slow(sdk.Neuro):
    name = "slow"
    input = Nap
    output = Woke

    async def handle(self, ctx, msg):
        await trio.sleep(msg.ms / 1000)
        return Woke(ms=msg.ms)
