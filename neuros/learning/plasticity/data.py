"""What a plasticity job meta-trains on, by name or inline, as `TrainData`. numpy only.

- no data at all (`Train()`): the stream of random tasks the config describes (dim, K in
  [k_min, k_max]), drawn fresh at every meta-step from the training seeds; its test split is
  512 tasks at k_max from the test seeds.
- ``assoc-d{D}-k{K}`` (for example ``assoc-d32-k12``): the task family of width D and K pairs.
  Train meta-trains on that family's stream; its `train` split is 256 tasks from the training
  seeds (what Evaluate(split="train") reads), its `test` split 512 fresh tasks from the test
  seeds, never drawn in meta-training (tasks.py).
- inline `x`, `y`: a bank of episodes (N, K, D) of +-1 cues and targets, sampled from.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ..traindata import TrainData
from .tasks import TEST_SEED, TRAIN_SEED, episodes_of, random_tasks

__all__ = ["FAMILY", "STREAM", "family_data", "stream_data", "bank_data", "TEST_TASKS"]

FAMILY = re.compile(r"^assoc-d(\d+)-k(\d+)$")
STREAM = "assoc-stream"
TEST_TASKS = 512  # the 512 fresh test tasks
TRAIN_SAMPLE = 256


def _hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.tobytes() if hasattr(p, "tobytes") else repr(p).encode())
    return h.hexdigest()


def family_data(name: str) -> TrainData:
    """The named family ``assoc-d{D}-k{K}``; ValueError naming the pattern for any other name."""
    m = FAMILY.match(name)
    if m is None:
        raise ValueError(f"unknown dataset {name!r}; learning.plasticity knows task families named "
                         f"assoc-d<D>-k<K> (for example assoc-d32-k12), or Train with no data for its own stream")
    dim, k = int(m.group(1)), int(m.group(2))
    if dim < 2 or k < 1:
        raise ValueError(f"dataset {name!r}: a family needs D >= 2 and K >= 1")
    x, y = random_tasks(TRAIN_SAMPLE, k, dim, TRAIN_SEED + (dim << 20) + k)
    tx, ty = random_tasks(TEST_TASKS, k, dim, TEST_SEED + (dim << 20) + k)
    return TrainData(name=name, task="recall", x=x, y=y, input_shape=(dim,), target_shape=(dim,),
                     input_range=(-1.0, 1.0), test=(tx, ty), hash=_hash(name, x, y, tx, ty),
                     extra={"dim": dim, "k": k})


def stream_data(cfg: Any) -> TrainData:
    """The config's own stream (no arrays to train on: meta-steps draw their tasks)."""
    tx, ty = random_tasks(TEST_TASKS, cfg.k_max, cfg.dim, TEST_SEED + (cfg.dim << 20) + cfg.k_max)
    return TrainData(name=STREAM, task="recall", x=tx[:0], y=ty[:0], input_shape=(cfg.dim,),
                     target_shape=(cfg.dim,), input_range=(-1.0, 1.0), test=(tx, ty),
                     hash=_hash(STREAM, cfg.dim, cfg.k_min, cfg.k_max, cfg.seed), extra={"stream": True})


def bank_data(x: Any, y: Any) -> TrainData:
    """Inline episodes (N, K, D) as a bank to sample meta-training tasks from."""
    cues, targets = episodes_of(x.numpy(), y.numpy(), "Train")
    return TrainData(name="", task="recall", x=cues, y=targets, input_shape=(cues.shape[2],),
                     target_shape=(cues.shape[2],), input_range=(-1.0, 1.0), hash=_hash("bank", cues, targets),
                     extra={"bank": True, "dim": int(cues.shape[2]), "k": int(cues.shape[1])})
