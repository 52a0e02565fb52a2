"""Schema induction (seed section 5.13): frequent relational triples, mined with a support
threshold and a maximum schema size, expanded until their frequency falls below the threshold.

    support(S) = share of episodes that hold every pattern of S
    L1         = {p : support({p}) >= min_support}
    L(k+1)     = {S u {p} : S in Lk, p in L1, support(S u {p}) >= min_support,
                   lift(S, p) >= min_lift},                         k + 1 <= max_size
    lift(S, p) = support(S u {p}) / (support(S) support({p}))
    schemas    = the maximal sets of the L's with at least `min_size` patterns

(Apriori: a superset of an infrequent set is infrequent, so only frequent sets are grown.) The
lift is ours, not the seed's: a pattern in most episodes co-occurs with every schema as often
as the threshold asks; lift ~ 1 says it does so by chance, and it is not let in.
`frequent_triples` is the frequency-only baseline: the `k` most frequent patterns. numpy inside.
"""

from __future__ import annotations

from typing import Any

__all__ = ["induce", "frequent_triples", "support"]


def support(x: Any, items: tuple[int, ...]) -> float:
    """The share of episodes (rows of the multi-hot x (N, V)) holding every pattern in `items`."""
    import numpy as np

    return float(np.all(x[:, list(items)] > 0, axis=1).mean()) if items else 1.0


def induce(x: Any, min_support: float = 0.1, max_size: int = 6, min_size: int = 2,
           min_lift: float = 1.5) -> list[tuple[tuple[int, ...], float]]:
    """The schemas of the multi-hot episodes x (N, V): (pattern indices, support), largest first."""
    import numpy as np

    if not 0 < min_support <= 1 or max_size < 1 or min_size < 1:
        raise ValueError(f"schema induction needs 0 < min_support <= 1, max_size >= 1 and min_size >= 1, got "
                         f"{min_support}, {max_size}, {min_size}")
    x = np.asarray(x) > 0
    single = x.mean(0)
    items = [int(i) for i in np.flatnonzero(single >= min_support)]
    level = {(i,): float(single[i]) for i in items}
    found = dict(level)
    for _ in range(1, max_size):
        grown: dict[tuple[int, ...], float] = {}
        for s in level:
            rows = np.all(x[:, list(s)], axis=1)
            for p in items:
                if p <= s[-1]:
                    continue  # each set is grown in one order only: its indices ascending
                value = float((rows & x[:, p]).mean())
                if value >= min_support and value >= min_lift * level[s] * float(single[p]):
                    grown[(*s, p)] = value
        if not grown:
            break  # no set grows above the threshold: the expansion stops
        found.update(grown)
        level = grown
    sets = sorted(found, key=len, reverse=True)
    maximal: list[tuple[int, ...]] = []
    for s in sets:
        if len(s) >= min_size and not any(set(s) < set(m) for m in maximal):
            maximal.append(s)
    return [(s, found[s]) for s in maximal]


def frequent_triples(x: Any, k: int) -> list[int]:
    """The frequency-only extractor: the `k` patterns held by most episodes."""
    import numpy as np

    counts = (np.asarray(x) > 0).sum(0)
    return [int(i) for i in np.argsort(-counts, kind="stable")[:k]]
