"""Data sets generated here, from a fixed seed: nothing is downloaded, and the same options
give the same bytes (and so the same hash) on every machine.

- ``mnist1d``: MNIST-1D (Greydanus 2020) made locally by the ``mnist1d`` package's
  ``make_dataset`` (its ``get_dataset`` would download; it is never called): 40 samples a
  sequence, 10 classes. By default exactly the paper's data set: the generator's own
  arguments (5,000 examples, seed 42) and its 4,000/1,000 train/test split, on which the
  paper reports 32% (logistic regression), 68% (MLP) and 94% (CNN). Options: `n_samples`,
  `seed` (the generator's).
- ``patternworld``: a small world of repeating patterns, for sequence learners (below).

PatternWorld
------------
A vocabulary of `vocab` symbols and `motifs` motifs, each a fixed random string of
`motif_len` symbols; each motif is followed by one of `branching` successor motifs (a fixed
sparse Markov chain, successors equally likely). A sequence walks the chain from a random
motif and a random phase inside it, `length + 1` symbols long. The input `x` (N, length) is
the walk with each symbol replaced by a uniformly random one with probability `noise`; the
target `y` (N, length) is the clean walk shifted by one: the next symbol at every step.
Inside a motif the next symbol is determined by the position; at a motif's end it is one of
`branching` motifs' first symbols, so even a perfect learner is right there only
1/branching of the time unless the first symbols coincide: `meta["bayes_accuracy"]` is that
ceiling on clean inputs, computed from the world itself. The world (motifs and chain) comes
from `world_seed`; the sequences from `seed`, the first 80% train, the rest test.
"""

from __future__ import annotations

from typing import Any

from .registry import Dataset, DatasetError, make

__all__ = ["FACTORIES", "patternworld_world"]


def mnist1d(*, n_samples: int = 5000, seed: int | None = None) -> Dataset:
    import numpy as np

    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DatasetError(
            "dataset 'mnist1d' needs the `mnist1d` package (pip install mnist1d, or the `learning` extra); it "
            "generates the data locally, nothing is downloaded") from None
    if not isinstance(n_samples, int) or n_samples < 10:
        raise DatasetError(f"mnist1d's n_samples must be a whole number >= 10, got {n_samples!r}")
    args = get_dataset_args()
    args.num_samples = n_samples
    if seed is not None:
        args.seed = seed
    state = np.random.get_state()  # make_dataset seeds numpy's global generator; put it back
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    parts = {"train": (np.asarray(d["x"], np.float32), np.asarray(d["y"], np.int64)),  # (0.8 N, 40)
             "test": (np.asarray(d["x_test"], np.float32), np.asarray(d["y_test"], np.int64))}  # (0.2 N, 40)
    options: dict[str, Any] = {}  # what differs from the paper's data set
    if n_samples != 5000:
        options["n_samples"] = n_samples
    if seed is not None:
        options["seed"] = seed
    return make("mnist1d", "classification", parts, classes=10, input_range=(-4.0, 4.0), options=options,
                meta={"source": "mnist1d.data.make_dataset (generated locally, Greydanus 2020)"})


def patternworld_world(vocab: int, motifs: int, motif_len: int, branching: int, world_seed: int) -> tuple[Any, Any]:
    """(motif strings (motifs, motif_len), successor table (motifs, branching)) of one world."""
    import numpy as np

    rng = np.random.default_rng(world_seed)
    strings = rng.integers(0, vocab, size=(motifs, motif_len))
    successors = np.stack([rng.choice(motifs, size=branching, replace=False) for _ in range(motifs)])
    return strings, successors


def patternworld(*, n_samples: int = 5000, length: int = 16, vocab: int = 8, motifs: int = 4, motif_len: int = 4,
                 branching: int = 2, noise: float = 0.05, seed: int = 0, world_seed: int = 0) -> Dataset:
    import numpy as np

    for name, value, least in (("n_samples", n_samples, 10), ("length", length, 1), ("vocab", vocab, 2),
                               ("motifs", motifs, 1), ("motif_len", motif_len, 1), ("branching", branching, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise DatasetError(f"patternworld's {name} must be a whole number >= {least}, got {value!r}")
    if branching > motifs:
        raise DatasetError(f"patternworld's branching ({branching}) cannot exceed motifs ({motifs})")
    if not 0.0 <= noise < 1.0:
        raise DatasetError(f"patternworld's noise is a probability in [0, 1), got {noise!r}")
    strings, successors = patternworld_world(vocab, motifs, motif_len, branching, world_seed)
    rng = np.random.default_rng(seed)
    clean = np.empty((n_samples, length + 1), np.int64)
    for i in range(n_samples):  # (N, T + 1); a few thousand short walks: a plain loop is fast enough
        m, phase, t = int(rng.integers(motifs)), int(rng.integers(motif_len)), 0
        while t < length + 1:
            take = min(motif_len - phase, length + 1 - t)
            clean[i, t:t + take] = strings[m, phase:phase + take]
            t += take
            m, phase = int(successors[m, rng.integers(branching)]), 0
    x = clean[:, :-1].copy()
    flip = rng.random(x.shape) < noise
    x[flip] = rng.integers(0, vocab, size=int(flip.sum()))
    y = clean[:, 1:]
    cut = int(0.8 * n_samples)
    parts = {"train": (x[:cut], y[:cut]), "test": (x[cut:], y[cut:])}
    defaults = dict(n_samples=5000, length=16, vocab=8, motifs=4, motif_len=4, branching=2, noise=0.05, seed=0,
                    world_seed=0)
    given = dict(n_samples=n_samples, length=length, vocab=vocab, motifs=motifs, motif_len=motif_len,
                 branching=branching, noise=noise, seed=seed, world_seed=world_seed)
    return make("patternworld", "sequence", parts, classes=vocab, input_range=(0.0, float(vocab - 1)),
                options={k: v for k, v in given.items() if defaults[k] != v},
                meta={"source": "generated (neuro.neuros.learning.datasets.generated.patternworld)",
                      "bayes_accuracy": repr(_ceiling(strings, successors, motif_len))})


def _ceiling(strings: Any, successors: Any, motif_len: int) -> float:
    """The best clean next-symbol accuracy any learner can reach, averaged over positions:
    1 inside a motif; at its end, the largest share of successors that start with one symbol."""
    import numpy as np

    best_at_end = np.mean([np.bincount(strings[succ, 0]).max() / len(succ) for succ in successors])
    return float(((motif_len - 1) + best_at_end) / motif_len)


FACTORIES = {"mnist1d": mnist1d, "patternworld": patternworld}
