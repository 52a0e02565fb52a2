"""Hyperparameter search: `grid_search` and `random_search` (seed section 8.7).

A space maps each option's name to its candidates: a list (a grid axis; random search picks one
of them) or, for random search only, a ``(low, high)`` tuple of numbers drawn uniformly (ints
when both ends are ints; ``log=True`` in the tuple's third place draws log-uniformly). The
objective takes one config (a dict) and returns a number; `maximize` says which way is better.
Every trial is recorded, in the order run.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Trial", "SearchResult", "grid_search", "random_search"]


@dataclass(frozen=True)
class Trial:
    """One config tried and its score."""

    config: dict[str, Any]
    score: float


@dataclass
class SearchResult:
    """The best config and score, and every trial in the order run."""

    best: dict[str, Any]
    best_score: float
    trials: list[Trial] = field(default_factory=list)
    maximize: bool = False


def _better(a: float, b: float, maximize: bool) -> bool:
    if not math.isfinite(a):
        return False
    return not math.isfinite(b) or (a > b if maximize else a < b)


def _run(objective: Callable[[dict[str, Any]], float], configs: Any, maximize: bool) -> SearchResult:
    trials: list[Trial] = []
    best: Trial | None = None
    for config in configs:
        t = Trial(dict(config), float(objective(dict(config))))
        trials.append(t)
        if best is None or _better(t.score, best.score, maximize):
            best = t
    if best is None:
        raise ValueError("the search space is empty: give each option at least one candidate")
    return SearchResult(best=dict(best.config), best_score=best.score, trials=trials, maximize=maximize)


def grid_search(objective: Callable[[dict[str, Any]], float], space: dict[str, list[Any]], *,
                maximize: bool = False) -> SearchResult:
    """Every combination of the candidates in `space` (each value a list), in order."""
    for name, values in space.items():
        if not isinstance(values, (list, tuple)) or isinstance(values, tuple) and _is_range(values):
            raise ValueError(f"grid_search needs a list of candidates for {name!r}, got {values!r} "
                             "(a (low, high) range is for random_search)")
    names = list(space)
    configs = (dict(zip(names, combo)) for combo in itertools.product(*(space[n] for n in names)))
    return _run(objective, configs, maximize)


def _is_range(v: Any) -> bool:
    return isinstance(v, tuple) and len(v) in (2, 3) and all(isinstance(e, (int, float)) for e in v[:2])


def random_search(objective: Callable[[dict[str, Any]], float], space: dict[str, Any], trials: int = 20, *,
                  seed: int = 0, maximize: bool = False) -> SearchResult:
    """`trials` configs drawn from `space` (lists: one candidate; (low, high[, log]) tuples: a draw)."""
    import numpy as np

    if trials < 1:
        raise ValueError(f"random_search needs trials >= 1, got {trials}")
    rng = np.random.default_rng(seed)

    def draw() -> dict[str, Any]:
        config = {}
        for name, spec in space.items():
            config[name] = _draw(rng, name, spec)
        return config

    return _run(objective, (draw() for _ in range(trials)), maximize)


def _draw(rng: Any, name: str, spec: Any) -> Any:
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"option {name!r} has no candidates")
        return spec[int(rng.integers(len(spec)))]
    if _is_range(spec):
        lo, hi = spec[0], spec[1]
        log = len(spec) == 3 and bool(spec[2])
        if hi < lo or (log and lo <= 0):
            raise ValueError(f"option {name!r}: a range needs low <= high (and low > 0 when log), got {spec!r}")
        if isinstance(lo, int) and isinstance(hi, int) and not isinstance(lo, bool):
            return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi))))) if log else int(rng.integers(lo, hi + 1))
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if log else float(rng.uniform(lo, hi))
    raise ValueError(f"option {name!r} must be a list of candidates or a (low, high) range, got {spec!r}")
