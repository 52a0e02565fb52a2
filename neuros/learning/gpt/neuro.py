"""`learning.gpt`: a character decoder on our own autograd (protocol v2).

    Train     no data / dataset "generated-text": the generated corpus (corpus.py), random
              windows of `context` characters; or inline windows x (B, T) and next ids y (B, T);
              a job's unit is `steps_per_epoch` steps; with distill_alpha > 0 the model served
              when the job starts is the teacher (the seed's prev_logits); ends with the test
              cross-entropy per character beside the unigram model's
    Predict   ids (B, T) -> the next id's probabilities (B, V) at the last position
    Evaluate  windows x (B, T), next ids y (B, T) -> cross-entropy per character
    Generate  `y` a prompt of ids (1, P) (none: a space), `steps` ids to sample (0: 64) -> x (1, steps)
    Snapshot  the parameters, format version 1 (weights.py)
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner
from ..learner import TrainData
from ..protocol import Array, Description, Generate, Generated, Prediction, Restored, Train, Weights
from .config import RANGES, GPTConfig

__all__ = ["GPTNeuro"]

CORPUS = "generated-text"


class GPTNeuro(ParadigmLearner):
    """Predicts the next character with a masked-attention decoder trained on our autograd."""

    name = "learning.gpt"
    config_type = GPTConfig
    ranges = RANGES

    def describe(self) -> Description:
        from .weights import FORMAT, VERSION

        m = self.model
        return Description(
            name=self.name, tasks=["sequence"], options=self.option_specs(), capabilities=["generate", "gpu"],
            input_shape=[m.cfg.context] if m else None, output_shape=[m.vocab] if m else None, datasets=[CORPUS],
            weight_format=FORMAT, weight_version=VERSION,
            summary="a GPT-style decoder (masked attention) on a numpy reverse-mode autograd of its own; "
                    "cross-entropy, optional distillation from the model served before, gradient clipping; "
                    "Predict gives the next character's probabilities, Generate samples text")

    def load_dataset(self, name: str) -> TrainData:
        from .corpus import Vocab, corpus

        if name != CORPUS:
            raise ValueError(f"learning.gpt knows the data set {CORPUS!r}; send windows inline as x, y (B, T) ids")
        vocab = Vocab()
        train, test = vocab.encode(corpus(3000, 0)), vocab.encode(corpus(300, 1000))
        return TrainData(name=CORPUS, task="sequence", x=train[None], y=train[None], input_shape=(len(train),),
                         classes=len(vocab), test=(test[None, :-1], test[None, 1:]), extra={"stream": True})

    def data_of(self, train: Train) -> TrainData:
        import numpy as np

        if train.dataset is None and train.x is None and train.y is None:
            return self.load_dataset(CORPUS)
        if train.dataset is None and train.x is not None and train.y is not None:
            x, y = train.x.numpy(), train.y.numpy()
            if x.ndim != 2 or y.shape != x.shape or x.dtype.kind not in "iu" or y.dtype.kind not in "iu":
                raise ValueError(f"Train.x and Train.y must be integer ids of one shape (B, T), got {x.dtype} "
                                 f"{tuple(x.shape)} and {y.dtype} {tuple(y.shape)}")
            return TrainData(name="", task="sequence", x=x, y=y, input_shape=(x.shape[1],),
                             classes=int(max(x.max(), y.max())) + 1)
        return super().data_of(train)

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        from .train import GPT

        cfg = self.configure(train)
        vocab = max(data.classes, model.vocab if model else 0)
        teacher = None
        if cfg.distill_alpha > 0 and self.model is not None and self.model.vocab == vocab:
            teacher = GPT(self.model.cfg, vocab, _model_device(self.model))
            teacher.load_arrays(self.model.arrays())
        shape = ("context", "d_model", "heads", "layers")
        if model is None or model.vocab != vocab or any(getattr(model.cfg, k) != getattr(cfg, k) for k in shape):
            model = GPT(cfg, vocab, _device_name(self.device(cfg.device)))
        model.cfg, model.teacher = cfg, teacher
        return model, float(train.epochs), "epoch"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        if data.extra.get("stream"):
            last = model.fit(data.x[0], model.cfg.steps_per_epoch, model.teacher)
        else:
            for _ in range(model.cfg.steps_per_epoch):
                pick = model.rng.integers(len(data.x), size=min(model.cfg.batch_size, len(data.x)))
                last = model.train_step(data.x[pick][:, -model.cfg.context:], data.y[pick][:, -model.cfg.context:],
                                        model.teacher)
        return 1.0, {**last, "steps": float(model.cfg.steps_per_epoch)}

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        from .experiment import ngram_cross_entropy

        if data.test is None or not data.extra.get("stream"):
            return {}
        test = _stream(*data.test)
        return {"test_cross_entropy": model.cross_entropy(test),
                "test_unigram_cross_entropy": ngram_cross_entropy(data.x[0], test, model.vocab, 1)}

    def predict(self, model: Any, x: Any) -> Prediction:
        import numpy as np

        logp = model.ops.to_numpy(model.log_probs(np.asarray(x)[:, -model.cfg.context:]))[:, -1]  # (B, V)
        probs = np.exp(logp)
        return Prediction(y=Array.of(probs.astype("float32")), labels=[int(v) for v in probs.argmax(1)],
                          scores=Array.of(probs.astype("float32")), uncertainty=[float(1 - p) for p in probs.max(1)],
                          uncertainty_kind="1-max probability")

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import numpy as np

        x, y = np.asarray(x), np.asarray(y)
        if y.shape != x.shape:
            raise ValueError(f"Evaluate.y must be the next ids of x, of x's shape {tuple(x.shape)}; got {tuple(y.shape)}")
        c = model.cfg.context
        if x.ndim == 2 and len(x) == 1 and x.shape[1] > c:  # one long stream: its windows, in order
            return {"cross_entropy": model.cross_entropy(_stream(x, y))}
        return {"cross_entropy": float(model.loss(x[:, -c:], y[:, -c:]).data)}

    def generate(self, model: Any, msg: Generate) -> Generated:
        import numpy as np

        prompt = msg.y.numpy().reshape(-1) if msg.y is not None else np.zeros(1, np.int64)
        ids = model.generate(prompt.astype(np.int64), msg.steps or 64, seed=model.cfg.seed)
        return Generated(x=Array.of(ids[None]))

    def to_weights(self, model: Any) -> Weights:
        from .weights import encode

        return encode(model.cfg, model.vocab, model.steps, model.arrays())

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from .train import GPT
        from .weights import decode

        cfg, vocab, steps, arrays = decode(weights)
        model = GPT(cfg, vocab, _device_name(self.device(cfg.device)))
        model.load_arrays(arrays)
        model.steps, model.teacher, self.config = steps, None, cfg
        return model, Restored(version=weights.version)


def _stream(x: Any, y: Any) -> Any:
    """The id stream that (x, y) = (ids[:-1], ids[1:]) of one row come from."""
    import numpy as np

    return np.concatenate([np.asarray(x)[0], np.asarray(y)[0, -1:]])


def _device_name(device: Any) -> str:
    """A torch device as the backend's name: "cpu" or "cuda:N"."""
    return "cpu" if device.type == "cpu" else str(device)


def _model_device(model: Any) -> str:
    return str(model.ops.device) if model.ops.name == "torch" else "cpu"
