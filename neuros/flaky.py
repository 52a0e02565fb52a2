"""`flaky`: crashes on request, so supervision can be seen (and tested) doing its work."""

from __future__ import annotations

from neuro import sdk


class Work(sdk.Message):
    n: int
    crash: bool = False


class Done(sdk.Message):
    n: int
    served_by_instance: int


_instances = 0


class Flaky(sdk.Neuro):
    name = "flaky"
    input = Work
    output = Done

    def __init__(self) -> None:
        global _instances
        _instances += 1
        self.instance = _instances

    async def handle(self, ctx: sdk.Context, msg: Work) -> Done:
        if msg.crash:
            raise RuntimeError(f"asked to crash on work item {msg.n}")
        return Done(n=msg.n, served_by_instance=self.instance)
