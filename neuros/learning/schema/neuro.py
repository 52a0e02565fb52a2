"""`learning.schema`: schemas induced from a stream of relational episodes (protocol v2).

    Train     episodes as multi-hot rows x (N, V) over V triple patterns (y: ignored, any N
              targets), or none: the generated stream (dataset "stream", with held-out episodes
              and their planted schemas as its test split); mines the schemas, then blends
              dissimilar ones (conceptual integration); one job unit: the mining
    Predict   episodes x (B, V) -> y (B, V): the patterns the schemas present explain; `scores`
              (B, S) each schema's share present; `labels` the largest schema present (-1: none)
    Evaluate  episodes x and the patterns truly planted in them y (B, V) -> precision, recall, f1
    Snapshot  the schemas and blends, format version 1 (plain data)
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner
from ..learner import TrainData
from ..protocol import Array, Description, Prediction, Train
from ..utilities.learnerparts import DefaultData, PlainWeights
from .config import RANGES, SchemaConfig

__all__ = ["SchemaNeuro"]

FORMAT, VERSION = "learning.schema", 1
STREAM = "stream"


class SchemaNeuro(DefaultData, PlainWeights, ParadigmLearner):
    """Mines the schemas (co-occurring triple patterns) of a stream and names them in new episodes."""

    name = "learning.schema"
    config_type = SchemaConfig
    ranges = RANGES
    default_dataset = STREAM
    weight_format, weight_version = FORMAT, VERSION

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["schema"], options=self.option_specs(), capabilities=[],
            input_shape=[m["width"]] if m else None, output_shape=[m["width"]] if m else None, datasets=[STREAM],
            weight_format=FORMAT, weight_version=VERSION,
            summary="induces schemas: sets of triple patterns whose support stays above min_support as they grow "
                    "(lift >= min_lift); blends dissimilar schemas (tanh(r_i * r_j)); Predict names them in episodes")

    def load_dataset(self, name: str) -> TrainData:
        if name != STREAM:
            raise ValueError(f"learning.schema knows the dataset {STREAM!r} (a generated stream with planted "
                             f"schemas), not {name!r}; or send episodes inline as multi-hot x (N, V)")
        from .stream import generate

        seed = self.config.seed
        train, held = generate(750, seed=seed).split(600)
        x = train.matrix()
        return TrainData(name=STREAM, task="schema", x=x, y=train.truth(), input_shape=(x.shape[1],),
                         target_shape=(x.shape[1],), test=(held.matrix(), held.truth()),
                         hash=f"stream-750-{seed}")

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        self.configure(train)
        _episodes(data.x)
        return {}, 1.0, "mining"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        from .blend import integrate, schema_representations
        from .induce import induce

        cfg = self.config
        x = _episodes(data.x)
        found = induce(x, cfg.min_support, cfg.max_size, cfg.min_size, cfg.min_lift)
        schemas = [list(s) for s, _ in found]
        blends, parents, _ = integrate(schema_representations([tuple(s) for s in schemas], x.shape[1], seed=cfg.seed),
                                       cfg.blend_probability, cfg.blend_threshold, seed=cfg.seed)
        model.clear()
        model.update(width=int(x.shape[1]), schemas=schemas, support=[v for _, v in found],
                     blends=[[float(v) for v in row] for row in blends], blend_parents=[list(p) for p in parents])
        return 1.0, {"schemas": float(len(schemas)), "blends": float(len(parents)), "steps": 1.0}

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        return {} if data.test is None else {f"test_{k}": v for k, v in self.evaluate(model, *data.test).items()}

    def predict(self, model: Any, x: Any) -> Prediction:
        import numpy as np

        from .score import explained, present

        x = _episodes(x, model["width"])
        schemas = [tuple(s) for s in model["schemas"]]
        share = present(x, schemas, self.config.match_share) if schemas else np.zeros((len(x), 0))
        sizes = np.array([len(s) for s in schemas])
        labels = [int(np.argmax(np.where(row > 0, sizes, -1))) if (row > 0).any() else -1 for row in share]
        y = explained(x, schemas, self.config.match_share) if schemas else np.zeros_like(x, dtype=np.uint8)
        return Prediction(y=Array.of(y), labels=labels, scores=Array.of(share.astype("float32")))

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import numpy as np

        from .score import explained

        x = _episodes(x, model["width"])
        truth = np.asarray(y) > 0
        if truth.shape != x.shape:
            raise ValueError(f"Evaluate's y holds the planted patterns of each episode, shape {x.shape}; got "
                             f"{truth.shape}")
        pred = explained(x, [tuple(s) for s in model["schemas"]], self.config.match_share) > 0
        tp = float((pred & truth).sum())
        p, r = tp / max(1.0, float(pred.sum())), tp / max(1.0, float(truth.sum()))
        return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def _episodes(x: Any, width: int | None = None) -> Any:
    import numpy as np

    x = np.asarray(x)
    if x.ndim != 2 or (width is not None and x.shape[1] != width):
        want = f"(N, {width})" if width is not None else "(N, V)"
        raise ValueError(f"episodes are multi-hot rows {want} over the triple patterns, got shape {tuple(x.shape)}")
    return (x > 0).astype(np.uint8)
