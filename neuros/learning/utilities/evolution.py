"""`EvolutionTrainer`: explore a config space by mutation and selection, with a lineage graph
(seed section 8.11). The space is `search.py`'s (lists of candidates, or (low, high[, log])
ranges); fitness is a callable config -> number, higher is better.

Each generation keeps the `elite` best individuals unchanged (their fitness is not recomputed)
and fills the rest with children: a parent picked by a tournament of `tournament`, each option
mutated with probability `mutation_rate` (a list option moves to a neighbouring candidate, a
range option by a Gaussian step of `step` of its width, in log space for log ranges, clipped).
So the best fitness never falls from one generation to the next. Fitness is evaluated in up to
`workers` threads (1: in order, deterministic whatever the fitness does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from .search import _draw, _is_range

__all__ = ["Individual", "EvolutionTrainer"]


@dataclass
class Individual:
    """One config in the population: its `id`, the `generation` it was born in, its `parent`'s id
    (None for the first generation) and its `fitness` once evaluated."""

    id: int
    config: dict[str, Any]
    generation: int
    parent: int | None = None
    fitness: float = float("nan")


@dataclass
class EvolutionTrainer:
    """Evolve configs of `space` to maximise `fitness`; `run()` returns the best `Individual`."""

    fitness: Callable[[dict[str, Any]], float]
    space: dict[str, Any]
    population: int = 8
    generations: int = 5
    elite: int = 2
    tournament: int = 3
    mutation_rate: float = 0.5
    step: float = 0.15
    workers: int = 1
    seed: int = 0
    history: list[float] = field(default_factory=list)  # the best fitness after each generation
    everyone: list[Individual] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.population < 2 or not 0 < self.elite < self.population:
            raise ValueError(f"evolution needs population >= 2 and 0 < elite < population, got population="
                             f"{self.population}, elite={self.elite}")
        if not 0.0 <= self.mutation_rate <= 1.0 or self.generations < 1 or self.tournament < 1:
            raise ValueError("evolution needs 0 <= mutation_rate <= 1, generations >= 1 and tournament >= 1")

    def run(self) -> Individual:
        import numpy as np

        rng = np.random.default_rng(self.seed)
        pop = [self._born({n: _draw(rng, n, s) for n, s in self.space.items()}, 0, None) for _ in range(self.population)]
        self._evaluate(pop)
        self.history = [max(i.fitness for i in pop)]
        for gen in range(1, self.generations):
            ranked = sorted(pop, key=_key, reverse=True)
            children = []
            for _ in range(self.population - self.elite):
                parent = self._pick(rng, ranked)
                children.append(self._born(self._mutate(rng, parent.config), gen, parent.id))
            self._evaluate(children)
            pop = ranked[:self.elite] + children
            self.history.append(max(i.fitness for i in pop))
        return max(pop, key=_key)

    def lineage(self) -> list[tuple[int, int]]:
        """(parent id, child id) edges of everyone born: the lineage graph."""
        return [(i.parent, i.id) for i in self.everyone if i.parent is not None]

    def to_dot(self) -> str:
        """The lineage graph in Graphviz's dot language, each node labelled with its fitness."""
        nodes = [f'  n{i.id} [label="{i.id}: {i.fitness:.4g}"];' for i in self.everyone]
        edges = [f"  n{a} -> n{b};" for a, b in self.lineage()]
        return "digraph lineage {\n" + "\n".join(nodes + edges) + "\n}\n"

    # ------------------------------------------------------------------------------ inside

    def _born(self, config: dict[str, Any], generation: int, parent: int | None) -> Individual:
        ind = Individual(id=len(self.everyone), config=config, generation=generation, parent=parent)
        self.everyone.append(ind)
        return ind

    def _pick(self, rng: Any, ranked: list[Individual]) -> Individual:
        """Tournament selection: the fittest of `tournament` drawn at random."""
        drawn = [ranked[int(j)] for j in rng.integers(0, len(ranked), self.tournament)]
        return max(drawn, key=_key)

    def _mutate(self, rng: Any, config: dict[str, Any]) -> dict[str, Any]:
        child = dict(config)
        for name, spec in self.space.items():
            if rng.random() >= self.mutation_rate:
                continue
            child[name] = _nudge(rng, spec, child[name], self.step)
        return child

    def _evaluate(self, individuals: list[Individual]) -> None:
        def score(ind: Individual) -> float:
            value = float(self.fitness(dict(ind.config)))
            return value if math.isfinite(value) else float("-inf")

        if self.workers <= 1:
            for ind in individuals:
                ind.fitness = score(ind)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.workers) as pool:
            for ind, value in zip(individuals, pool.map(score, individuals)):
                ind.fitness = value


def _key(ind: Individual) -> float:
    return ind.fitness if not math.isnan(ind.fitness) else float("-inf")


def _nudge(rng: Any, spec: Any, value: Any, step: float) -> Any:
    if isinstance(spec, list):
        try:
            at = spec.index(value)
        except ValueError:
            return spec[int(rng.integers(len(spec)))]
        return spec[min(len(spec) - 1, max(0, at + (1 if rng.random() < 0.5 else -1)))]
    if _is_range(spec):
        lo, hi = spec[0], spec[1]
        log = len(spec) == 3 and bool(spec[2])
        if log:
            moved = math.exp(math.log(value) + rng.normal() * step * (math.log(hi) - math.log(lo)))
        else:
            moved = value + rng.normal() * step * (hi - lo)
        moved = min(hi, max(lo, moved))
        return int(round(moved)) if isinstance(lo, int) and isinstance(hi, int) else float(moved)
    return value
