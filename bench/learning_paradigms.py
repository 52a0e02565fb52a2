"""MARBLE's learning paradigms (issues 28 and 29): each one's figure against its baseline, same run.

Every paradigm registered in neuros/learning/paradigms.py whose package is built runs its
experiment (seeds fixed, data shipped with scikit-learn or generated); the metric
``<name>.advantage`` is how much better than the baseline the paradigm's figure is, in the
figure's unit, with the paradigm's margin as its goal. Each paradigm's figure, its baseline's
and its further figures are reported beside it. ``NEURO_PARADIGMS=a,b`` runs only those.
Writes bench/results/learning_paradigms.png (each paradigm's figure beside its baseline).
"""

from __future__ import annotations

import os
from typing import Any

from ._harness import RESULTS, Metric, ProgressBar, Report

SEED = 0


def run(quick: bool) -> Report:
    import torch

    torch.set_num_threads(1)  # the machine is shared; one thread, the same on every run
    from neuro.neuros.learning.paradigms import paradigms, run_experiment

    found = paradigms()
    wanted = [n.strip() for n in os.environ.get("NEURO_PARADIGMS", "").split(",") if n.strip()]
    names = [n for n in found if not wanted or n in wanted]
    metrics: dict[str, Metric] = {}
    outcomes: dict[str, Any] = {}
    bar = ProgressBar(len(names), "paradigms")
    for i, name in enumerate(names):
        p, o = found[name], run_experiment(name, quick=quick, seed=SEED)
        outcomes[name] = o
        unit = o.unit
        metrics[f"{name}.advantage"] = Metric(o.advantage, unit, goal=o.margin,
                                              note=f"{p.figure} vs {p.baseline}")
        metrics[f"{name}.figure"] = Metric(o.figure, unit, higher_is_better=o.higher_is_better)
        metrics[f"{name}.baseline"] = Metric(o.baseline, unit, higher_is_better=o.higher_is_better)
        for key, value in o.extra.items():
            metrics[f"{name}.{key}"] = Metric(float(value), "")
        metrics[f"{name}.seconds"] = Metric(o.seconds, "s", higher_is_better=False)
        bar.update(i + 1)
    bar.close()
    extra = {"missing": [n for n in _all_names() if n not in found],
             "tasks": {n: found[n].task for n in names}}
    return Report(metrics=metrics, extra=extra, plots=_plot(names, outcomes, quick))


def _all_names() -> tuple[str, ...]:
    from neuro.neuros.learning.paradigms import NAMES

    return NAMES


def _plot(names: list[str], outcomes: dict[str, Any], quick: bool) -> list[str]:
    if not names:
        return []
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    cols = 4
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        o = outcomes[name]
        ax.bar(["paradigm", "baseline"], [o.figure, o.baseline],
               color=["tab:green" if o.beats() else "tab:red", "tab:gray"])
        ax.set_title(f"{name} ({o.unit})", fontsize=9)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("MARBLE paradigms: figure vs baseline" + (" (quick)" if quick else ""))
    fig.tight_layout()
    path = RESULTS / "learning_paradigms.png"
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [str(path)]
