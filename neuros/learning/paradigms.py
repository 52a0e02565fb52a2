"""The registry of MARBLE's learning paradigms (issues 28 and 29), one entry per paradigm.

Each paradigm is a package ``neuros/learning/<name>/``: a learner neuro speaking the protocol
v2 (``neuro.py``, torch imported lazily) and an experiment (``experiment.py``) that shows it
learns, its figure against a named baseline on the same data in the same run, seeds fixed.
The package's ``__init__`` defines ``PARADIGM`` (a `Paradigm`) and imports nothing heavy, so
reading the registry costs no torch. `bench/learning_paradigms` runs every experiment here;
each paradigm's test checks its figure beats its baseline by the stated margin.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["NAMES", "Paradigm", "Outcome", "paradigm", "paradigms", "run_experiment"]

# issue 28 (part 1), then issue 29 (part 2), in the issues' row order
NAMES: tuple[str, ...] = (
    "contrastive", "imitation", "autoencoder", "reinforcement", "curriculum", "continual",
    "adversarial", "diffusion", "gpt",
    "echo", "weightfield", "federated", "harmonic", "quantumflux", "fractal", "schema", "unified",
)


@dataclass(frozen=True)
class Paradigm:
    """One paradigm: `name` (its package), the `issue` it belongs to, what it measures
    (`task`, `figure`), against what (`baseline`), and its experiment as ``module:function``
    (relative to ``neuro.neuros.learning``); the function takes ``(quick: bool, seed: int)``
    and returns an `Outcome`. `learner` is the neuro's ``module:Class``, also relative."""

    name: str
    issue: int
    task: str
    figure: str
    baseline: str
    experiment: str
    learner: str = ""


@dataclass
class Outcome:
    """What one experiment measured: the paradigm's `figure` and the `baseline`'s, in `unit`,
    where higher is better when `higher_is_better`. It beats the baseline when the figure is
    better by `margin` (absolute, in `unit`). `extra` holds further named figures (each a
    float: other baselines, variants, a second task), `seconds` the wall time."""

    figure: float
    baseline: float
    unit: str
    higher_is_better: bool = True
    margin: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""

    @property
    def advantage(self) -> float:
        """How much better than the baseline the figure is, in `unit` (positive = better)."""
        return self.figure - self.baseline if self.higher_is_better else self.baseline - self.figure

    def beats(self) -> bool:
        return math.isfinite(self.figure) and self.advantage > self.margin


def paradigm(name: str) -> Paradigm:
    """The registered paradigm `name`; KeyError naming the known ones, or ImportError if its
    package is not built."""
    if name not in NAMES:
        raise KeyError(f"no paradigm named {name!r}; the paradigms are {', '.join(NAMES)}")
    module = importlib.import_module(f"neuro.neuros.learning.{name}")
    return module.PARADIGM


def paradigms() -> dict[str, Paradigm]:
    """Every paradigm whose package is built, by name, in registry order."""
    found: dict[str, Paradigm] = {}
    for name in NAMES:
        try:
            found[name] = paradigm(name)
        except ModuleNotFoundError:
            continue
    return found


def _resolve(spec: str) -> Callable[..., Any]:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(f"neuro.neuros.learning.{module}"), attr)


def run_experiment(name: str, *, quick: bool = True, seed: int = 0) -> Outcome:
    """Run paradigm `name`'s experiment and time it."""
    import time

    t0 = time.perf_counter()
    outcome = _resolve(paradigm(name).experiment)(quick=quick, seed=seed)
    outcome.seconds = time.perf_counter() - t0
    return outcome
