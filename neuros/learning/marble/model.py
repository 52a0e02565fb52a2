"""What the MARBLE learner trains and serves: a Neuronenblitz net with the task around it
(regression or classification, input shape, classes, its validation rows), and its weights
format. numpy and msgspec only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..protocol import Weights

__all__ = ["MarbleModel", "FORMAT", "VERSION", "to_weights", "from_weights"]

FORMAT = "marble"
#: The weight format's version; `from_weights` migrates older ones (there are none yet).
VERSION = 1


@dataclass
class MarbleModel:
    net: Any  # blitz.Neuronenblitz
    task: str  # "regress" or "classify"
    input_shape: tuple[int, ...]
    classes: int = 0
    target_shape: tuple[int, ...] = ()
    val_rows: list[int] = field(default_factory=list)  # training rows held out for early stopping
    data: Any = None  # (x, t) of the last training data, for sleep's dream replay (not saved)

    @property
    def outputs(self) -> int:
        return self.net.outputs


def to_weights(model: MarbleModel) -> Weights:
    doc = {"net": model.net.to_dict(), "task": model.task, "input_shape": list(model.input_shape),
           "classes": model.classes, "target_shape": list(model.target_shape), "val_rows": model.val_rows}
    return Weights(format=FORMAT, version=VERSION, data=msgspec.msgpack.encode(doc),
                   meta={"neurons": str(model.net.core.n_neurons), "synapses": str(model.net.core.n_synapses)})


def from_weights(weights: Weights) -> tuple[MarbleModel, int | None]:
    """The model and the version it was migrated from (None: current)."""
    from .blitz import Neuronenblitz

    if weights.format != FORMAT:
        raise ValueError(f"these weights are for {weights.format!r}, not {FORMAT!r} (learning.marble)")
    if weights.version > VERSION:
        raise ValueError(f"these marble weights are format version {weights.version}, newer than this learner's "
                         f"{VERSION}; upgrade neuro-runtime to load them")
    try:
        doc = msgspec.msgpack.decode(weights.data)
        net = Neuronenblitz.from_dict(doc["net"])
    except (msgspec.DecodeError, KeyError, TypeError) as e:
        raise ValueError(f"the marble weights cannot be read ({type(e).__name__}: {e})") from None
    model = MarbleModel(net=net, task=doc["task"], input_shape=tuple(doc["input_shape"]), classes=int(doc["classes"]),
                        target_shape=tuple(doc["target_shape"]), val_rows=list(doc["val_rows"]))
    return model, None
