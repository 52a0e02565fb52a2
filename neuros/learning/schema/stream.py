"""A generated knowledge stream with planted schemas. numpy only, imported inside.

The stream is a run of episodes, each a set of relational triples (head, relation, tail) over
typed entities ("person:17", "city:3"). A schema is a set of type-level triple patterns
(person works_at company, company located_in city, ...) that recur together: an episode
instantiates a planted schema with its rate (each triple dropped with `drop`, fresh entities),
on top of noise triples whose patterns are drawn Zipf-like, so the commonest noise patterns are
more frequent than any schema's: frequency alone cannot tell them apart, co-occurrence can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TYPES", "RELATIONS", "Stream", "generate", "pattern_of"]

TYPES = ("person", "company", "city", "product", "school", "country")
RELATIONS = ("works_at", "lives_in", "located_in", "makes", "studied_at", "born_in", "sells", "capital_of",
             "founded", "visits", "owns", "near")


def pattern_of(triple: tuple[str, str, str]) -> tuple[str, str, str]:
    """The type-level pattern of a concrete triple: ("person:3", "works_at", "company:9") ->
    ("person", "works_at", "company")."""
    head, rel, tail = triple
    return head.split(":")[0], rel, tail.split(":")[0]


@dataclass
class Stream:
    """`episodes` (lists of concrete triples), the `planted` schemas (frozensets of patterns) and
    which schemas each episode holds (`holds`, lists of indices into `planted`)."""

    episodes: list[list[tuple[str, str, str]]]
    planted: list[frozenset[tuple[str, str, str]]]
    holds: list[list[int]]
    vocabulary: list[tuple[str, str, str]]

    def split(self, n: int) -> tuple["Stream", "Stream"]:
        """The first `n` episodes and the rest, as two streams of the same schemas."""
        head = Stream(self.episodes[:n], self.planted, self.holds[:n], self.vocabulary)
        return head, Stream(self.episodes[n:], self.planted, self.holds[n:], self.vocabulary)

    def matrix(self) -> Any:
        """Episodes as a multi-hot (N, V) uint8 matrix over `vocabulary`."""
        return _multi_hot([[pattern_of(t) for t in ep] for ep in self.episodes], self.vocabulary)

    def truth(self) -> Any:
        """(N, V) uint8: the patterns of the schemas each episode holds (what an extractor should explain)."""
        return _multi_hot([[p for s in held for p in self.planted[s]] for held in self.holds], self.vocabulary)


def _multi_hot(rows: list[list[tuple[str, str, str]]], vocabulary: list[tuple[str, str, str]]) -> Any:
    import numpy as np

    index = {p: i for i, p in enumerate(vocabulary)}
    out = np.zeros((len(rows), len(vocabulary)), dtype=np.uint8)
    for r, row in enumerate(rows):
        for p in row:
            out[r, index[p]] = 1
    return out


def generate(episodes: int, seed: int = 0, schemas: int = 4, sizes: tuple[int, int] = (3, 4),
             rates: tuple[float, float] = (0.2, 0.3), drop: float = 0.05, noise_patterns: int = 60,
             noise_per_episode: float = 6.0, zipf: float = 1.0) -> Stream:
    """A stream of `episodes` with `schemas` planted schemas of `sizes` patterns, each in a share
    `rates` of the episodes, and Poisson(`noise_per_episode`) noise triples per episode."""
    import numpy as np

    rng = np.random.default_rng(seed)
    every = [(h, r, t) for h in TYPES for r in RELATIONS for t in TYPES]
    order = [every[i] for i in rng.permutation(len(every))]
    planted, at = [], 0
    for _ in range(schemas):
        size = int(rng.integers(sizes[0], sizes[1] + 1))
        planted.append(frozenset(order[at:at + size]))
        at += size
    noise = order[at:at + noise_patterns]
    weights = 1.0 / np.arange(1, len(noise) + 1) ** zipf
    weights /= weights.sum()
    rate = rng.uniform(rates[0], rates[1], schemas)
    counter = [0]

    def entity(kind: str) -> str:
        counter[0] += 1
        return f"{kind}:{counter[0]}"

    out, holds = [], []
    for _ in range(episodes):
        triples, held = [], []
        for s, schema in enumerate(planted):
            if rng.random() < rate[s]:
                held.append(s)
                names = {kind: entity(kind) for kind in TYPES}  # one entity per type: the schema's binding
                triples += [(names[h], r, names[t]) for h, r, t in sorted(schema) if rng.random() >= drop]
        for j in rng.choice(len(noise), rng.poisson(noise_per_episode), p=weights):
            h, r, t = noise[int(j)]
            triples.append((entity(h), r, entity(t)))
        order_ep = rng.permutation(len(triples))
        out.append([triples[i] for i in order_ep])
        holds.append(held)
    vocabulary = sorted({p for s in planted for p in s} | set(noise))
    return Stream(episodes=out, planted=planted, holds=holds, vocabulary=vocabulary)
