"""What a learner's job trains on (`TrainData`): a named data set of the registry, or inline
arrays, with its task and content hash for the job's lineage. numpy only, imported lazily."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .protocol import Array

__all__ = ["TrainData", "inline_data", "named_data"]


@dataclass
class TrainData:
    """What a job trains on: a named data set's splits, or inline arrays (train split only).

    `task`: "classify", "regress", ...; `classes`: 0 unless it classifies; `hash`: sha256 of
    the data (the data set registry's content hash for a named one), for the job's lineage."""

    name: str
    task: str
    x: Any  # (N, *input_shape) numpy
    y: Any  # (N, *target_shape)
    input_shape: tuple[int, ...]
    target_shape: tuple[int, ...] = ()
    classes: int = 0
    input_range: tuple[float, float] = (0.0, 1.0)
    test: tuple[Any, Any] | None = None
    hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_TASK_NAMES = {"classification": "classify", "regression": "regress", "sequence": "sequence", "recall": "recall"}


def named_data(name: str, **options: Any) -> TrainData:
    """A data set of the registry (neuros/learning/datasets) as TrainData."""
    from .datasets.registry import load

    ds = load(name, **options)
    test = ds.splits.get("test")
    return TrainData(name=ds.name, task=_TASK_NAMES.get(ds.task, ds.task), x=ds.train.x, y=ds.train.y,
                     input_shape=tuple(ds.input_shape), target_shape=tuple(ds.target_shape), classes=ds.classes,
                     input_range=tuple(ds.input_range), test=None if test is None else (test.x, test.y),
                     hash=ds.hash)


def inline_data(x: Array, y: Array, task: str = "", what: str = "Train") -> TrainData:
    """Inline arrays as TrainData; `task` inferred from y's dtype when empty (integers classify)."""
    import numpy as np

    xs, ys = x.numpy(), y.numpy()
    if xs.ndim < 2:
        raise ValueError(f"{what}.x must have shape (N, ...) with one example per row, got shape {tuple(xs.shape)}")
    if len(ys) != len(xs):
        raise ValueError(f"{what}.y must have one target per example: ({len(xs)}, ...), got shape {tuple(ys.shape)}")
    task = task or ("classify" if ys.dtype.kind in "iub" and ys.ndim == 1 else "regress")
    classes = 0
    if task == "classify":
        if ys.dtype.kind not in "iub" or ys.ndim != 1:
            raise ValueError(f"{what}.y for classification must hold one integer label per example, got dtype "
                             f"{ys.dtype} and shape {tuple(ys.shape)}")
        if len(ys) and ys.min() < 0:
            raise ValueError(f"{what}.y labels must be >= 0, got {int(ys.min())}")
        ys = ys.astype("int64")
        classes = max(int(ys.max()) + 1 if len(ys) else 0, 2)
    digest = hashlib.sha256(x.data + b"|" + y.data + repr((x.shape, y.shape, x.dtype, y.dtype)).encode()).hexdigest()
    lo, hi = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0)
    return TrainData(name="", task=task, x=xs.astype("float32"), y=ys, input_shape=tuple(xs.shape[1:]),
                     target_shape=tuple(ys.shape[1:]), classes=classes, input_range=(min(lo, 0.0), max(hi, 1.0)),
                     hash=digest)
