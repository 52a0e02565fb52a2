"""Inputs as rows of a tensor, and a classifier's answer as a Prediction: what the paradigm
learners of issue 28 (contrastive, autoencoder, curriculum, imitation) share. torch inside."""

from __future__ import annotations

from typing import Any

from ..protocol import Array, Prediction

__all__ = ["as_rows", "class_prediction"]


def as_rows(x: Any, input_shape: tuple, device: Any, y: Any = None) -> Any:
    """x (N, *input_shape) as a float32 tensor (N, prod(input_shape)) on `device` (a copy: x may
    be a read-only view of a data set); with `y`, also y as int64 labels. ValueError naming the
    shape expected."""
    import math

    import numpy as np
    import torch

    n_in = math.prod(input_shape)
    x = np.array(x, np.float32).reshape(len(x), -1)
    if x.shape[1] != n_in:
        raise ValueError(f"inputs must have shape (N, {', '.join(map(str, input_shape))}), got {tuple(x.shape)}")
    tx = torch.as_tensor(x, device=device)
    return tx if y is None else (tx, torch.as_tensor(np.array(y, np.int64), device=device))


def class_prediction(probs: Any, classes: Any = None, y: Any = None) -> Prediction:
    """Labels (argmax, mapped through `classes` when given), scores and 1-max uncertainty from
    class probabilities (N, C) in numpy; `y` defaults to the labels."""
    labels = probs.argmax(1) if classes is None else classes[probs.argmax(1)]
    return Prediction(y=Array.of(labels.astype("int64") if y is None else y), labels=[int(v) for v in labels],
                      scores=Array.of(probs.astype("float32")), uncertainty=[float(1 - p) for p in probs.max(1)],
                      uncertainty_kind="1-max probability")
