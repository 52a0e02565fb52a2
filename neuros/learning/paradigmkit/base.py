"""What the paradigm learners (continual, adversarial, diffusion, gpt) share on top of `Learner`:
a config Struct read from Train's options, the resources of the last message (for the GPU),
and Describe's options. No torch at import."""

from __future__ import annotations

from typing import Any

from neuro import sdk

from ..learner import Learner
from ..protocol import Array, Prediction, Train
from ..traindata import TrainData

__all__ = ["ParadigmLearner", "class_prediction", "labels_of"]


class ParadigmLearner(Learner, abstract=True):
    """A learner whose knobs are one msgspec Struct, `config_type` (with `ranges` for Describe)."""

    config_type: type = object
    ranges: dict[str, tuple[float | None, float | None]] = {}
    #: What a Train with no data (no dataset, no x and y) trains on.
    default_dataset: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.config: Any = self.config_type()
        self.resources: Any = None  # what the last message's ctx.resources said

    async def handle(self, ctx: sdk.Context, msg: Any) -> Any:
        self.resources = ctx.resources
        return await super().handle(ctx, msg)

    def data_of(self, train: Train) -> TrainData:
        if self.default_dataset and train.dataset is None and train.x is None and train.y is None:
            return self.load_dataset(self.default_dataset)
        return super().data_of(train)

    def configure(self, train: Train, **fixed: Any) -> Any:
        """This learner's config with Train's options (its seed unless an option sets one) and `fixed`."""
        from .torchstate import config_with

        options = {"seed": train.seed, **train.options, **fixed}
        self.config = config_with(self.config_type, self.config, options, self.name)
        return self.config

    def option_specs(self) -> list:
        from ..options import option_specs

        return option_specs(self.config_type, ranges=self.ranges)

    def device(self, want: str) -> Any:
        """The torch device for the config's `device` under the policy (the CPU unless a GPU is granted)."""
        from ..device import choose_device

        return choose_device(self.resources, want)


def class_prediction(probs: Any) -> Prediction:
    """A Prediction from class probabilities (N, classes): labels, scores, 1 - max probability."""
    labels = probs.argmax(1)
    return Prediction(y=Array.of(labels.astype("int64")), labels=[int(v) for v in labels],
                      scores=Array.of(probs.astype("float32")), uncertainty=[float(1 - p) for p in probs.max(1)],
                      uncertainty_kind="1-max probability")


def labels_of(y: Any, n: int, classes: int, what: str) -> Any:
    """`y` as n integer labels in [0, classes), or a ValueError saying what to send."""
    import numpy as np

    y = np.asarray(y)
    if y.shape != (n,) or y.dtype.kind not in "iu" or (n and (y.min() < 0 or y.max() >= classes)):
        raise ValueError(f"{what} must be {n} integer labels in [0, {classes}), got {y.dtype} {tuple(y.shape)}")
    return y.astype(np.int64)
