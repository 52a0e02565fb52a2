"""The wander cache and the subpath cache: TTL and LRU (section 4.8).

The clock is the count of wanders, not wall time, so two runs with one seed stay identical;
an entry older than `ttl` wanders is expired when read, and the least recently used entry is
evicted when the cache is full.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable

__all__ = ["TTLCache"]


class TTLCache:
    """`get(key, now)` / `put(key, value, now)`; `hits`, `misses`, `expired`, `evicted`."""

    def __init__(self, size: int, ttl: int) -> None:
        self.size, self.ttl = size, ttl
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.hits = self.misses = self.expired = self.evicted = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable, now: int) -> Any:
        found = self._items.get(key)
        if found is None:
            self.misses += 1
            return None
        value, stamp = found
        if now - stamp > self.ttl:
            del self._items[key]
            self.expired += 1
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Hashable, value: Any, now: int) -> None:
        self._items[key] = (value, now)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
            self.evicted += 1

    def clear(self) -> None:
        self._items.clear()
