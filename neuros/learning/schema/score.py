"""Precision, recall and F1 of recovered triples and schemas against the planted ones; which
schemas an episode holds. numpy inside."""

from __future__ import annotations

from typing import Any

__all__ = ["prf", "schema_prf", "present", "explained"]


def prf(found: set, truth: set) -> dict[str, float]:
    """Precision, recall and F1 of the set `found` against `truth`."""
    tp = len(found & truth)
    p = tp / len(found) if found else 0.0
    r = tp / len(truth) if truth else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def schema_prf(found: list[tuple[int, ...]], planted: list[tuple[int, ...]]) -> dict[str, float]:
    """The same, a recovered schema counting only when it equals a planted one exactly."""
    return prf({frozenset(s) for s in found}, {frozenset(s) for s in planted})


def present(x: Any, schemas: list[tuple[int, ...]], match_share: float) -> Any:
    """(B, S): the share of each schema's patterns in each episode of x (B, V), 0 below `match_share`."""
    import numpy as np

    x = np.asarray(x) > 0
    share = np.array([x[:, list(s)].mean(1) for s in schemas]).T.reshape(len(x), len(schemas))
    return np.where(share >= match_share - 1e-9, share, 0.0)


def explained(x: Any, schemas: list[tuple[int, ...]], match_share: float) -> Any:
    """(B, V) uint8: the patterns of the schemas present in each episode."""
    import numpy as np

    x = np.asarray(x)
    out = np.zeros(x.shape, dtype=np.uint8)
    hits = present(x, schemas, match_share) > 0
    for k, s in enumerate(schemas):
        out[np.ix_(hits[:, k], list(s))] = 1
    return out
