"""PatternWorld with switching rules: the online stream the council is measured on. numpy only.

Each of `streams` streams walks a vocabulary of `vocab` symbols under a hidden rule:

- ``+1``: x -> x + 1 (mod vocab);
- ``x2``: x -> 2x (mod vocab) (its orbits fall into 0 or the cycle 4, 8, 16, 12 for vocab 20:
  a x2 phase is the easiest one to predict once recognised);
- ``+-1``: alternately +1 and -1, starting with +1 when the rule begins.

Every `switch_every` steps a stream's rule switches to one of the other two, chosen at random.
Streams come in `groups` phase groups (group g first switches at g * switch_every / groups), so
at any step only some examples of a batch have just seen a switch: a gate must decide per
example. The stream continues from its last symbol across a switch.

`x` (S, T) holds the symbols seen, `y` (S, T) the next symbol at each step (x shifted by one):
the same layout as the ``patternworld`` sequence data set. `rules` (S, T) is the rule that
made `y`, `since` (S, T) the steps since that stream's last switch (a large number before the
first). A switch at step t means y[:, t] is the first symbol of the new rule: it cannot be
predicted from what came before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RULES", "World", "make_world", "windows_at", "NAME"]

RULES = ("+1", "x2", "+-1")
NAME = "patternworld_rules"
_BEFORE_FIRST = 10_000  # `since` before a stream's first switch


@dataclass(frozen=True)
class World:
    """One generated world: x, y, rules and since, each (S, T) int64 numpy."""

    x: Any
    y: Any
    rules: Any
    since: Any
    vocab: int
    switch_every: int

    @property
    def switches(self) -> Any:
        """(S, T) bool: the rule changed at this step."""
        return self.since == 0


def make_world(*, streams: int = 16, steps: int = 3000, vocab: int = 20, switch_every: int = 50, groups: int = 2,
               seed: int = 0) -> World:
    """A world from fixed options: the same options give the same arrays on every machine."""
    import numpy as np

    for name, value, least in (("streams", streams, 1), ("steps", steps, 1), ("vocab", vocab, 3),
                               ("switch_every", switch_every, 2), ("groups", groups, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"PatternWorld's {name} must be a whole number >= {least}, got {value!r}")
    rng = np.random.default_rng(seed)
    x = np.empty((streams, steps + 1), np.int64)
    rules = np.empty((streams, steps), np.int64)
    since = np.empty((streams, steps), np.int64)
    for s in range(streams):
        offset = (s % groups) * switch_every // groups
        rule, phase, last = int(rng.integers(len(RULES))), 0, _BEFORE_FIRST
        x[s, 0] = rng.integers(vocab)
        for t in range(steps):
            if t > 0 and (t + offset) % switch_every == 0:
                rule = int((rule + rng.integers(1, len(RULES))) % len(RULES))  # one of the other two
                phase, last = 0, 0
            v = int(x[s, t])
            if rule == 0:
                nxt = v + 1
            elif rule == 1:
                nxt = 2 * v
            else:
                nxt = v + (1 if phase % 2 == 0 else -1)
            x[s, t + 1] = nxt % vocab
            rules[s, t], since[s, t] = rule, last
            phase += 1
            last = min(last + 1, _BEFORE_FIRST)
    return World(x=x[:, :-1].copy(), y=x[:, 1:].copy(), rules=rules, since=since, vocab=vocab,
                 switch_every=switch_every)


def windows_at(x: Any, t: int, window: int) -> Any:
    """The last `window` symbols of each stream at step t, (S, window); before the stream has
    that many, its first symbol repeated on the left."""
    import numpy as np

    idx = np.clip(np.arange(t - window + 1, t + 1), 0, None)
    return x[:, idx]
