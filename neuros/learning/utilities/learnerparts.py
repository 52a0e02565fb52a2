"""Two parts the fractal, schema and unified learners share, as mixins for a `ParadigmLearner`:

    DefaultData    Train without data trains on the learner's own generated `default_dataset`
    PlainWeights   weights that are plain data (utilities/plainweights.py), `weight_format` and
                   `weight_version` naming them; the model is a dict
"""

from __future__ import annotations

from typing import Any

from ..learner import TrainData
from ..protocol import Restored, Train, Weights
from .plainweights import decode_plain, encode_plain

__all__ = ["DefaultData", "PlainWeights"]


class DefaultData:
    """`data_of` that falls back to `default_dataset` when a Train names no data."""

    default_dataset: str = ""

    def data_of(self, train: Train) -> TrainData:
        if train.dataset is None and train.x is None and train.y is None:
            return self.load_dataset(self.default_dataset)  # type: ignore[attr-defined]
        return super().data_of(train)  # type: ignore[misc]


class PlainWeights:
    """`to_weights` / `from_weights` for a model that is a dict of plain data, with the config."""

    weight_format: str = ""
    weight_version: int = 1

    def to_weights(self, model: Any) -> Weights:
        return encode_plain(self.weight_format, self.weight_version, self.config, dict(model))  # type: ignore[attr-defined]

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        cfg, state = decode_plain(weights, self.weight_format, self.weight_version, self.config_type)  # type: ignore[attr-defined]
        self.config = cfg
        return state, Restored(version=weights.version)
