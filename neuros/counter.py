"""`counter`: a running total per key, kept across restarts and swaps by its hooks."""

from __future__ import annotations

from neuro import sdk


class Add(sdk.Message, tag="add"):
    key: str
    amount: int = 1


class Get(sdk.Message, tag="get"):
    key: str


class Total(sdk.Message):
    key: str
    total: int


class Counter(sdk.Neuro):
    name = "counter"
    input = Add | Get
    output = Total

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}

    async def handle(self, ctx: sdk.Context, msg: Add | Get) -> Total:
        if isinstance(msg, Add):
            self.totals[msg.key] = self.totals.get(msg.key, 0) + msg.amount
        return Total(key=msg.key, total=self.totals.get(msg.key, 0))

    def snapshot(self) -> dict[str, int]:
        return dict(self.totals)

    def restore(self, state: dict[str, int]) -> None:
        self.totals = dict(state)

    @classmethod
    def migrate(cls, old_version: str, state: dict[str, int]) -> dict[str, int]:
        return state
