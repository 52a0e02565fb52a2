"""The registry of named data sets, and what a data set is.

A `Dataset` has a `name`, a task kind (``classification``, ``regression``, ``sequence`` or
``recall``), named splits (``train``/``test``, or ``train``/``validation``/``test``) each
holding numpy arrays `x` and `y`, the shapes of one input and one target, and `hash`: a sha256
over its metadata and every array's bytes, which a job records in its lineage so a result
names exactly the data it came from. A factory makes a data set from options; `load` caches
what it made, so a second load costs nothing, and its arrays are read-only so no caller can
change what another one sees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

__all__ = ["Dataset", "Split", "TASKS", "register", "load", "names", "make", "content_hash", "DatasetError"]

TASKS = ("classification", "regression", "sequence", "recall")
Task = Literal["classification", "regression", "sequence", "recall"]
SPLIT_ORDERS = (("train", "test"), ("train", "validation", "test"))


class DatasetError(ValueError):
    """A data set that is not known, an option it does not take, or data it cannot be made from."""


@dataclass(frozen=True)
class Split:
    """One split: inputs `x` (N, *input_shape) and targets `y` (N, *target_shape), numpy."""

    x: Any
    y: Any

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class Dataset:
    """A named data set with its splits and content hash (see the module's docstring).

    `classes`: the number of classes for classification (and the vocabulary for sequence and
    recall tasks of tokens), else 0. `input_range`: a box for one input value (where it is
    freed, as when a learner generates inputs). `options`: what it was made with. `meta`:
    where it comes from, in words."""

    name: str
    task: Task
    splits: Mapping[str, Split]
    input_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    classes: int = 0
    input_range: tuple[float, float] = (0.0, 1.0)
    options: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, str] = field(default_factory=dict)
    hash: str = ""

    def __getitem__(self, split: str) -> Split:
        try:
            return self.splits[split]
        except KeyError:
            raise DatasetError(f"data set {self.name!r} has no split {split!r}; it has: "
                               f"{', '.join(self.splits)}") from None

    @property
    def train(self) -> Split:
        return self["train"]

    @property
    def test(self) -> Split:
        return self["test"]

    def lineage(self) -> dict[str, Any]:
        """What a job records of the data it trained on: name, options, hash, split sizes."""
        return {"dataset": self.name, "options": dict(self.options), "hash": self.hash, "task": self.task,
                "splits": {k: len(v) for k, v in self.splits.items()}}


Factory = Callable[..., Dataset]
_factories: dict[str, Factory] = {}
_cache: dict[tuple[str, str], Dataset] = {}
_lock = threading.Lock()  # loads run in worker threads (ctx.run_sync); one build per key


def register(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Make `factory(**options) -> Dataset` known as `name`. A name already taken is an error
    unless `replace` (a package may ship a better version of its own data set)."""
    _ensure_builtins()
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "._-" for c in name):
        raise DatasetError(f"a data set name is letters, digits, '.', '_' or '-', got {name!r}")
    if not callable(factory):
        raise DatasetError(f"register({name!r}, factory) takes a callable that returns a Dataset, got {factory!r}")
    if name in _factories and not replace and _factories[name] is not factory:
        raise DatasetError(f"a data set named {name!r} is already registered; pass replace=True to replace it")
    _factories[name] = factory
    for key in [k for k in _cache if k[0] == name]:
        del _cache[key]


def names() -> list[str]:
    """Every registered data set's name, sorted."""
    _ensure_builtins()
    return sorted(_factories)


def load(name: str, **options: Any) -> Dataset:
    """The data set `name` made with `options` (cached by name and options). Raises
    DatasetError naming the known data sets, or what a factory refused."""
    _ensure_builtins()
    factory = _factories.get(name)
    if factory is None:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(_factories))}")
    try:
        key = (name, json.dumps(options, sort_keys=True, default=repr))
    except TypeError:
        key = None
    # A factory marked `cacheable = False` (the log's: it grows) is made again at every load.
    cacheable = key is not None and not options.get("fresh") and getattr(factory, "cacheable", True)
    if cacheable and key in _cache:
        return _cache[key]
    with _lock:
        if cacheable and key in _cache:
            return _cache[key]
        try:
            made = factory(**{k: v for k, v in options.items() if k != "fresh"})
        except TypeError as e:
            raise DatasetError(f"dataset {name!r} does not take these options ({', '.join(options) or 'none'}): {e}") \
                from None
        if not isinstance(made, Dataset):
            raise DatasetError(f"the factory of dataset {name!r} returned {type(made).__name__}, not a Dataset")
        if cacheable:
            _cache[key] = made
        return made


def make(name: str, task: str, splits: Mapping[str, tuple[Any, Any]], *, classes: int = 0,
         input_range: tuple[float, float] | None = None, options: Mapping[str, Any] | None = None,
         meta: Mapping[str, str] | None = None) -> Dataset:
    """A checked `Dataset` from `splits` (split name -> (x, y)): shapes agree, the split names
    are train/test or train/validation/test, the arrays are made read-only, the hash computed."""
    import numpy as np

    if task not in TASKS:
        raise DatasetError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if tuple(splits) not in SPLIT_ORDERS:
        raise DatasetError(f"splits must be named train, test (or train, validation, test), got {list(splits)}")
    made: dict[str, Split] = {}
    shapes: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
    for split, (x, y) in splits.items():
        x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
        if len(x) != len(y):
            raise DatasetError(f"{name}: split {split!r} has {len(x)} inputs but {len(y)} targets")
        x.setflags(write=False)
        y.setflags(write=False)
        made[split] = Split(x, y)
        shapes.add((tuple(x.shape[1:]), tuple(y.shape[1:])))
    if len(shapes) != 1:
        raise DatasetError(f"{name}: the splits disagree on the shape of one example: {sorted(shapes)}")
    input_shape, target_shape = shapes.pop()
    if input_range is None:
        xs = [s.x for s in made.values() if s.x.dtype.kind in "fiub" and s.x.size]
        input_range = (float(min(x.min() for x in xs)), float(max(x.max() for x in xs))) if xs else (0.0, 1.0)
    ds = Dataset(name, task, made, input_shape, target_shape, int(classes), tuple(input_range),  # type: ignore[arg-type]
                 dict(options or {}), dict(meta or {}))
    return dataclasses.replace(ds, hash=content_hash(ds))


def content_hash(ds: Dataset) -> str:
    """sha256 over the data set's metadata (name, task, options, shapes, classes) and, split by
    split, each array's dtype, shape and little-endian bytes (object arrays: each element's
    msgpack). Equal data gives an equal hash on any machine; one changed value changes it."""
    import msgspec
    import numpy as np

    h = hashlib.sha256()
    head = {"name": ds.name, "task": ds.task, "options": ds.options, "input_shape": list(ds.input_shape),
            "target_shape": list(ds.target_shape), "classes": ds.classes, "splits": list(ds.splits)}
    h.update(json.dumps(head, sort_keys=True, default=repr).encode())
    for split in ds.splits.values():
        for a in (split.x, split.y):
            h.update(f"|{a.dtype.str}|{list(a.shape)}|".encode())
            if a.dtype == object:
                for item in a.reshape(-1):
                    h.update(msgspec.msgpack.encode(item))
            else:
                h.update(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


_builtins_loaded = False


def _ensure_builtins() -> None:
    """Register the shipped and generated data sets on first use (their modules import no
    numpy until a data set is made)."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    from . import fromlog, generated, shipped

    for module in (shipped, generated, fromlog):
        for name, factory in module.FACTORIES.items():
            _factories.setdefault(name, factory)
