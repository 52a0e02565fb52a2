"""The benchmark's experiments (bench/learning_plasticity.py), on the neuro's own code.

Every figure compares the genome with the hand-written rules on the same tasks: fresh test
tasks from the test seeds (never drawn in meta-training), baselines' step sizes tuned on
training-stream tasks. Seeds fixed throughout, so a rerun gives the same numbers.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from . import metatrain
from .rules import RULES, bit_accuracy, rule_accuracy, tune
from .tasks import TEST_SEED, TRAIN_SEED, random_tasks

__all__ = ["meta_train", "test_tasks", "recall_table", "at_width", "ablated_accuracy", "confidence_auroc", "sleep_effect", "variant_accuracy"]


def test_tasks(n: int, k: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed test tasks of family (dim, k): `n` of them from the test seeds."""
    c, t = random_tasks(n, k, dim, TEST_SEED + (dim << 20) + k)
    return torch.from_numpy(c), torch.from_numpy(t)


def _tuning_tasks(k: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    c, t = random_tasks(256, k, dim, TRAIN_SEED + (1 << 30) + (dim << 20) + k)
    return torch.from_numpy(c), torch.from_numpy(t)


def meta_train(model: Any, stages: int, on_stage: Any = None) -> list[dict[str, float]]:
    """Run the teacher-forcing schedule's `stages` stages; `on_stage(stage, metrics, seconds)`
    after each (the wall time is of meta-training alone)."""
    out, spent = [], 0.0
    for stage in range(stages):
        t0 = time.perf_counter()
        metrics = metatrain.fit_stage(model, stage, stages)
        spent += time.perf_counter() - t0
        metrics["seconds"] = spent
        out.append(metrics)
        if on_stage is not None:
            on_stage(stage, metrics, spent)
    return out


def genome_accuracy(model: Any, cues: torch.Tensor, targets: torch.Tensor) -> tuple[float, Any]:
    """(bit accuracy, responses) of fresh lifetimes: store, recall from the cue alone."""
    h, _ = model.lifetimes(cues.numpy(), targets.numpy())
    return bit_accuracy(torch.from_numpy(h), targets), h


def recall_table(model: Any, ks: tuple[int, ...], n: int) -> dict[str, dict[int, float]]:
    """Bit accuracy against K for the genome and every baseline, on the same test tasks of the
    model's width, every rule starting from the model's slow weights W0."""
    dim = model.cfg.dim
    table: dict[str, dict[int, float]] = {"genome": {}, **{r: {} for r in RULES}}
    W0 = model.W0.cpu()
    for k in ks:
        cues, targets = test_tasks(n, k, dim)
        table["genome"][k] = genome_accuracy(model, cues, targets)[0]
        for rule in RULES:
            eta = tune(rule, *_tuning_tasks(k, dim))
            table[rule][k] = rule_accuracy(rule, cues, targets, eta, W0=W0)
    return table


def at_width(model: Any, dim: int) -> Any:
    """A model of width `dim` running `model`'s genome (a per-synapse rule runs at any width),
    with its own slow weights from the same seed."""
    import msgspec

    from .model import PlasticModel

    wide = PlasticModel(msgspec.structs.replace(model.cfg, dim=dim), model.device)
    wide.genome.load_state_dict(model.genome.state_dict())
    return wide


def variant_accuracy(model: Any, k: int, n: int, **changes: Any) -> float:
    """The genome's test bit accuracy at K=k with config fields changed at recall time only
    (for example settle_steps=1, plastic_recall=False): the rule itself is the same."""
    import msgspec

    saved = model.cfg
    model.cfg = msgspec.structs.replace(saved, **changes)
    try:
        return genome_accuracy(model, *test_tasks(n, k, saved.dim))[0]
    finally:
        model.cfg = saved


def ablated_accuracy(model: Any, k: int, n: int, **params: float) -> float:
    """The genome's test bit accuracy at K=k with some of theta's tensors set to a value for the
    measurement only (for example reflect_gain=0: the feedback pulse off; w_out=0: the MLP off)."""
    saved = {name: getattr(model.genome, name).detach().clone() for name in params}
    try:
        with torch.no_grad():
            for name, value in params.items():
                getattr(model.genome, name).fill_(value)
        return genome_accuracy(model, *test_tasks(n, k, model.cfg.dim))[0]
    finally:
        with torch.no_grad():
            for name, value in saved.items():
                getattr(model.genome, name).copy_(value)


def confidence_auroc(model: Any, k: int, n: int) -> float:
    """Metacognitive confidence (stage 14): how well |response| ranks right bits above wrong
    ones, as the area under the ROC curve (0.5: no better than chance)."""
    import numpy as np

    cues, targets = test_tasks(n, k, model.cfg.dim)
    _, h = genome_accuracy(model, cues, targets)
    right = (np.sign(h) == targets.numpy()).reshape(-1)
    conf = np.abs(h).reshape(-1)
    if right.all() or not right.any():
        return float("nan")
    order = conf.argsort()
    ranks = np.empty(len(conf))
    ranks[order] = np.arange(1, len(conf) + 1)
    pos = right.sum()
    return float((ranks[right].sum() - pos * (pos + 1) / 2) / (pos * (len(right) - pos)))


def sleep_effect(model: Any, k: int, n: int = 32) -> dict[str, float]:
    """Stage 20 on the served memory, averaged over `n` test tasks: store k pairs with Steps,
    sleep (prune, replay), recall the pairs before, after pruning and after the replay."""
    from .consolidate import sleep

    cues, targets = test_tasks(n, k, model.cfg.dim)
    sums: dict[str, float] = {}
    for i in range(n):
        model.forget()
        model.store(cues[i].numpy(), targets[i].numpy())
        for key, value in sleep(model).items():
            sums[key] = sums.get(key, 0.0) + value / n
    model.forget()
    return sums
