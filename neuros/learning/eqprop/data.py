"""The data sets the eqprop neuro knows by name. Nothing is downloaded.

- ``digits``: scikit-learn's 8x8 digits (1797 images, shipped inside the package), pixels
  scaled to [0, 1], a stratified 80/20 split with a fixed seed.
- ``mnist1d``: MNIST-1D (Greydanus 2020) generated locally with ``mnist1d``'s
  ``make_dataset`` (its ``get_dataset`` would download; we never call it), 40 samples a
  sequence, standardised by the generator, its own 80/20 split. 10000 examples by default.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

__all__ = ["DATASETS", "Dataset", "load"]

DATASETS = ("digits", "mnist1d")


class Dataset(NamedTuple):
    x_train: Any  # (N, *input_shape) float32 numpy
    y_train: Any  # (N,) int64
    x_test: Any
    y_test: Any
    input_shape: tuple[int, ...]
    classes: int
    # Box for the input when it is freed (dreaming): digits live in [0, 1].
    input_range: tuple[float, float]


def load(name: str, *, n_samples: int | None = None) -> Dataset:
    """The data set called `name`; raises ValueError naming the known ones."""
    if name == "digits":
        return _digits()
    if name == "mnist1d":
        return _mnist1d(n_samples or 10000)
    raise ValueError(f"unknown dataset {name!r}; this neuro knows: {', '.join(DATASETS)}")


@functools.lru_cache(maxsize=None)
def _digits() -> Dataset:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)  # (1797, 8, 8) in [0, 1]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return Dataset(xtr, ytr, xte, yte, (8, 8), 10, (0.0, 1.0))


@functools.lru_cache(maxsize=None)
def _mnist1d(n_samples: int) -> Dataset:
    import numpy as np

    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ValueError(
            "dataset 'mnist1d' needs the `mnist1d` package (pip install mnist1d, or the "
            "`learning` extra); it generates the data locally, nothing is downloaded"
        ) from None
    args = get_dataset_args()
    args.num_samples = n_samples
    state = np.random.get_state()  # make_dataset seeds numpy's global generator; put it back
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    xs = np.asarray(d["x"], dtype=np.float32)  # (0.8 N, 40)
    xt = np.asarray(d["x_test"], dtype=np.float32)  # (0.2 N, 40)
    return Dataset(xs, np.asarray(d["y"], np.int64), xt, np.asarray(d["y_test"], np.int64), (40,), 10, (-4.0, 4.0))
