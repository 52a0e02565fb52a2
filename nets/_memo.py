"""The memo: a node's result kept by (node, node version, input hash), so a run reuses it.

The key holds the version of the node that computed the result and the hash of the exact
input it got, so a hot swap of node k misses for k (its version changed) and for what lies
downstream of k whenever k's new output differs (their input hash changed), and hits for
everything upstream: invalidation follows the code and the data, with no version to keep by
hand. A stale hit would need a key of the old version, which the swapped node no longer has.
The memo is bounded (least recently used entries go first).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import msgspec

__all__ = ["Memo", "MemoStatistics", "content_hash"]

_encode = msgspec.msgpack.Encoder().encode


def content_hash(value: Any) -> str:
    """The hash of a value as it travels (msgpack): a Struct and a dict of the same fields
    hash alike. 64 bits: a collision among a memo's 10,000 entries has odds of about 1 in 10^11."""
    return hashlib.blake2b(_encode(value), digest_size=8).hexdigest()


class MemoStatistics(msgspec.Struct, frozen=True):
    entries: int
    capacity: int
    hits: int
    misses: int
    evicted: int


class Memo:
    """Results by key, at most `capacity` of them."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str, str], tuple[Any, str]] = OrderedDict()
        self.hits = self.misses = self.evicted = 0

    def get(self, node: str, version: str, input_hash: str) -> tuple[Any, str] | None:
        """(output, output hash) for the key, or None."""
        key = (node, version, input_hash)
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found

    def put(self, node: str, version: str, input_hash: str, output: Any, output_hash: str) -> None:
        entries = self._entries
        entries[(node, version, input_hash)] = (output, output_hash)
        if len(entries) > self.capacity:
            entries.popitem(last=False)
            self.evicted += 1

    def forget(self, node: str | None = None) -> int:
        """Drop every entry (of `node`); returns how many went."""
        if node is None:
            n = len(self._entries)
            self._entries.clear()
            return n
        keys = [k for k in self._entries if k[0] == node]
        for k in keys:
            del self._entries[k]
        return len(keys)

    def statistics(self) -> MemoStatistics:
        return MemoStatistics(entries=len(self._entries), capacity=self.capacity, hits=self.hits,
                              misses=self.misses, evicted=self.evicted)
