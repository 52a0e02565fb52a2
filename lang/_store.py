"""`lang.store`: the system neuro that holds the named stores of Neuro-Lang (`store NAME: T`).

A net's `get` and `put` are calls to it, like any node, so they go through the kernel: logged,
under its policy, with the labels the caller carries. It handles one message at a time, so
each get or put is atomic; a get and a later put of two runs may interleave (the last put
wins). Each store is a table of keys (str) to values (plain data). The tables live in this
neuro's memory, move to a new version at a swap (`snapshot` / `restore`), and, where the
kernel keeps a log, each put also writes the store's table as an artifact labelled with the
store's name, which the first use of the store after a restart reads back. A store is for
small shared state (counters, settings): a put writes its whole table.
"""

from __future__ import annotations

from typing import Any

import msgspec

from neuro import sdk
from neuro._errors import AlreadyRunning, NeuroError, NoSuchNeuro

__all__ = ["StoreHost", "StoreOp", "Stored", "NAME", "SPEC", "MAX_KEYS", "start_system"]

NAME = "lang.store"
SPEC = "neuro.lang._store:StoreHost"
MAX_KEYS = 10_000  # per store: a put of a new key past it is refused


class StoreOp(sdk.Message):
    """`get` the value of `key` in store `store` (`default` when it has none), or `put` `value` there."""

    op: str  # get or put (a str: a net's lambda writes it, and its type is str)
    store: str
    key: str
    value: Any = None
    default: Any = None


class Stored(sdk.Message):
    value: Any = None


class StoreHost(sdk.Neuro):
    name = NAME
    input = StoreOp
    output = Stored

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}
        self.durable = True  # False once the kernel says it keeps no log (no artifacts)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return self.tables

    def restore(self, state: dict[str, dict[str, Any]]) -> None:
        self.tables = dict(state)

    async def _table(self, ctx: Any, store: str) -> dict[str, Any]:
        table = self.tables.get(store)
        if table is not None:
            return table
        table = {}
        if self.durable:
            try:
                found = await ctx.find_artifact(_label(store))
                if found is not None:
                    table = msgspec.msgpack.decode(await ctx.get_artifact(found))
            except NeuroError:
                self.durable = False  # an embedded kernel without a log: the stores live in memory only
        self.tables[store] = table
        return table

    async def handle(self, ctx: Any, msg: StoreOp) -> Stored:
        if msg.op not in ("get", "put"):
            raise sdk.Reject(f"a store takes op `get` or `put`, got {msg.op!r}")
        table = await self._table(ctx, msg.store)
        if msg.op == "get":
            return Stored(value=table.get(msg.key, msg.default))
        if msg.key not in table and len(table) >= MAX_KEYS:
            raise sdk.Reject(f"store {msg.store!r} holds {MAX_KEYS} keys already: a store is for small shared state")
        value = msgspec.to_builtins(msg.value)
        table[msg.key] = value
        if self.durable:
            try:
                await ctx.put_artifact(msgspec.msgpack.encode(table), label=_label(msg.store))
            except NeuroError:
                self.durable = False
        return Stored(value=value)


def _label(store: str) -> str:
    return f"store.{store}"


async def start_system(kernel: Any, cls: type) -> None:
    """Spawn the system neuro `cls` in `kernel` (an embedded Kernel) unless it runs already."""
    try:
        kernel.info(cls.name)
        return
    except NoSuchNeuro:
        pass
    try:
        await kernel.spawn(cls)
    except AlreadyRunning:
        pass  # another file of the folder started it meanwhile
