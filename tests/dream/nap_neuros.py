"""A learner for the process sandbox whose consolidation would take a minute (this file holds no
tests; shipped as source into the sandbox: it imports only the SDK and trio)."""

from __future__ import annotations

import trio

from neuro import sdk


class Nap(sdk.Message):
    n: int = 0


class SandboxedNapper(sdk.Neuro):
    name = "napper"
    input = Nap
    output = Nap

    def handle(self, ctx, msg):
        return msg

    async def sleep(self, ctx):
        await trio.sleep(60)
        return "rested"
