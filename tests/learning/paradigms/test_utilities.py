"""Training utilities (issue 29): k-fold splits partition the data, grid and random search find a
known optimum, evolution improves fitness, and distillation's student matches the teacher's soft
targets better than one trained on hard labels."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.neuros.learning.utilities import (
    EvolutionTrainer, cross_validate, distill, grid_search, kfold_indices, random_search, soft_targets,
)
from neuro.neuros.learning.utilities.distill import student_logits


def test_k_fold_test_folds_partition_the_data_and_each_train_fold_is_the_rest():
    """10 examples in 3 folds: test folds of 4, 3, 3 cover 0..9 once; train = the complement; same seed, same folds."""
    folds = kfold_indices(10, 3, seed=1)
    tests = [t.tolist() for _, t in folds]
    assert list(range(10)) == sorted(sum(tests, []))
    assert [4, 3, 3] == [len(t) for t in tests]
    for train, test in folds:
        assert set(range(10)) - set(test.tolist()) == set(train.tolist())
    assert tests == [t.tolist() for _, t in kfold_indices(10, 3, seed=1)]


def test_cross_validate_scores_every_fold_and_refuses_too_few_examples():
    """A mean predictor's held-out error per fold of a constant target is 0; k > n is an error naming k."""
    x, y = np.arange(12.0)[:, None], np.full(12, 3.0)
    assert [0.0] * 4 == cross_validate(lambda xtr, ytr, xte, yte: float(abs(ytr.mean() - yte).mean()), x, y, k=4)
    with pytest.raises(ValueError, match="k=5 needs at least 5"):
        kfold_indices(3, 5)


def test_grid_search_finds_the_optimum_of_a_generated_objective_and_random_search_gets_near_it():
    """(a - 3)^2 + (b - 1)^2 over a grid: (3, 1) with every one of 12 combinations tried; random search
    over ranges lands within 0.5 of it."""
    f = lambda c: (c["a"] - 3) ** 2 + (c["b"] - 1) ** 2  # noqa: E731
    found = grid_search(f, {"a": [1, 2, 3, 4], "b": [0, 1, 2]})
    assert ({"a": 3, "b": 1}, 0.0, 12) == (found.best, found.best_score, len(found.trials))
    drawn = random_search(f, {"a": (0.0, 6.0), "b": (0.0, 2.0)}, trials=60, seed=0)
    assert drawn.best_score < 0.5


def test_evolution_never_loses_its_best_and_improves_fitness_with_a_lineage():
    """Fitness -|config - (7.3, 2.1, 0.4)|^2 over [0, 10]^3: the best after each generation never falls,
    ends higher than it began, and every child names a parent of an earlier generation."""
    target = {"a": 7.3, "b": 2.1, "c": 0.4}
    trainer = EvolutionTrainer(lambda c: -sum((c[k] - v) ** 2 for k, v in target.items()),
                               {k: (0.0, 10.0) for k in target}, population=8, generations=10)
    best = trainer.run()
    assert trainer.history == sorted(trainer.history)
    assert trainer.history[-1] > trainer.history[0]
    assert best.fitness == trainer.history[-1]
    born = {i.id: i for i in trainer.everyone}
    assert all(born[p].generation < born[c].generation for p, c in trainer.lineage())
    assert trainer.to_dot().startswith("digraph lineage")


def test_a_distilled_student_matches_the_teachers_soft_targets_better_than_one_trained_on_hard_labels():
    """A teacher's logits on 3-class data; students of the same shape and steps, one on soft targets at
    T = 2, one on hard labels only; held-out KL(teacher || student) is lower for the distilled one."""
    pytest.importorskip("torch")
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4))
    teacher = np.tanh(x @ rng.normal(size=(4, 8))) @ rng.normal(size=(8, 3))  # (N, 3) logits
    labels = teacher.argmax(1)
    xtr, xte = x[:400], x[400:]
    kw = dict(hidden=(16,), steps=300, seed=0)
    soft = distill(xtr, teacher[:400], labels[:400], temperature=2.0, alpha=1.0, **kw)
    hard = distill(xtr, teacher[:400], labels[:400], temperature=2.0, alpha=0.0, **kw)

    def kl(layers):
        p, q = soft_targets(teacher[400:]), soft_targets(student_logits(layers, xte))
        return float((p * (np.log(p) - np.log(q))).sum(1).mean())

    assert kl(soft) < kl(hard)
    assert {"w0", "b0", "w1", "b1"} == set(soft) and (4, 16) == soft["w0"].shape
