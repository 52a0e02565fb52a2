"""A neuro the CLI tests spawn by this file's path (with --trusted)."""

import trio

from neuro import sdk


class Steps(sdk.Message):
    steps: int = 3
    ms: int = 50


class Done(sdk.Message):
    steps: int


class Worker(sdk.Neuro):
    """Reports progress (`ctx.progress`) after each of `steps` naps of `ms` milliseconds."""

    name = "worker"
    input = Steps
    output = Done

    async def handle(self, ctx, msg):
        for step in range(msg.steps):
            await trio.sleep(msg.ms / 1000)
            await ctx.progress("work", step + 1, msg.steps, note=f"step {step + 1}")
        await trio.sleep(msg.ms / 1000)
        return Done(steps=msg.steps)
