"""`learning.adversarial`: a classifier trained against FGSM examples (protocol v2).

    Train     a classification set (default: digits); each step's loss mixes the clean batch
              and its FGSM examples x + eps sign(grad_x L) (adv_weight); a job's unit is an
              epoch; ends with clean and robust test accuracy at eps
    Predict   labels and class probabilities
    Evaluate  accuracy and robust accuracy at eps (FGSM against the served weights)
    Generate  FGSM examples: `y` carries the inputs (B, ...) and `labels` their true labels;
              the answer is x_adv (and the labels the model now gives them)
    Snapshot  the net, format version 1
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner, class_prediction, labels_of
from ..learner import TrainData
from ..protocol import Array, Description, Generate, Generated, Prediction, Restored, Train, Weights
from .config import RANGES, AdversarialConfig

__all__ = ["AdversarialNeuro"]

FORMAT, VERSION = "learning.adversarial", 1


class _Model:
    def __init__(self, cfg: AdversarialConfig, n_in: int, classes: int, input_range: tuple, device: Any) -> None:
        import torch

        from .fgsm import classifier

        self.cfg, self.n_in, self.classes, self.input_range = cfg, n_in, classes, tuple(input_range)
        self.device = device
        self.net = classifier(n_in, cfg.hidden, classes, cfg.seed, device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)

    def tensors(self, x: Any, y: Any = None) -> Any:
        import numpy as np
        import torch

        x = np.array(x, np.float32).reshape(len(x), -1)  # a copy: x may be a read-only view of a data set
        if x.shape[1] != self.n_in:
            raise ValueError(f"inputs must have {self.n_in} values each, got shape {tuple(x.shape)}")
        tx = torch.as_tensor(x, device=self.device)
        return tx if y is None else (tx, torch.as_tensor(np.array(y, np.int64), device=self.device))

    def adversarial(self, x: Any, y: Any) -> Any:
        from .fgsm import fgsm

        return fgsm(self.net, x, y, self.cfg.eps, *self.input_range)


class AdversarialNeuro(ParadigmLearner):
    """Classifies, robust to FGSM perturbations of size eps by adversarial training."""

    name = "learning.adversarial"
    config_type = AdversarialConfig
    ranges = RANGES
    default_dataset = "digits"

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["classify"], options=self.option_specs(), capabilities=["generate", "gpu"],
            input_shape=[m.n_in] if m else None, output_shape=[m.classes] if m else None, datasets=["digits"],
            weight_format=FORMAT, weight_version=VERSION,
            summary="a classifier trained on clean and FGSM examples (x + eps sign grad_x L); Evaluate reports "
                    "robust accuracy at eps; Generate makes FGSM examples of inputs sent as `y` with `labels`")

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import numpy as np

        if data.task != "classify":
            raise ValueError(f"learning.adversarial learns classification; this data is a {data.task} task")
        cfg = self.configure(train)
        n_in = int(np.prod(data.input_shape))
        if model is None or model.n_in != n_in or model.classes != data.classes:
            model = _Model(cfg, n_in, data.classes, data.input_range, self.device(cfg.device))
        model.cfg = cfg
        for group in model.opt.param_groups:
            group["lr"] = cfg.lr
        return model, float(train.epochs), "epoch"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        from .fgsm import train_classifier

        x, y = model.tensors(data.x, data.y)
        loss = train_classifier(model.net, x, y, epochs=1, lr=model.cfg.lr, batch_size=model.cfg.batch_size,
                                eps=model.cfg.eps, adv_weight=model.cfg.adv_weight,
                                seed=model.cfg.seed + int(job.done), opt=model.opt,
                                clip=model.input_range)
        return 1.0, {"loss": loss, "steps": float(-(-len(y) // model.cfg.batch_size))}

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        return {} if data.test is None else {f"test_{k}": v for k, v in self.evaluate(model, *data.test).items()}

    def predict(self, model: Any, x: Any) -> Prediction:
        import torch

        with torch.no_grad():
            return class_prediction(torch.softmax(model.net(model.tensors(x)), -1).cpu().numpy())

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        from .fgsm import accuracy

        tx, ty = model.tensors(x, labels_of(y, len(x), model.classes, "Evaluate.y"))
        robust = accuracy(model.net, model.adversarial(tx, ty), ty)
        return {"accuracy": accuracy(model.net, tx, ty), "robust_accuracy": robust, "eps": model.cfg.eps}

    def generate(self, model: Any, msg: Generate) -> Generated:
        import torch

        if msg.y is None or len(msg.labels) != msg.y.shape[0]:
            raise ValueError("Generate makes FGSM examples: send the inputs as `y` (B, ...) and their true labels "
                             "as `labels` (B of them)")
        x = msg.y.numpy()
        tx, ty = model.tensors(x, labels_of(msg.labels, len(x), model.classes, "Generate.labels"))
        adv = model.adversarial(tx, ty)
        with torch.no_grad():
            now = model.net(adv).argmax(1).cpu().numpy()
        return Generated(x=Array.of(adv.cpu().numpy().reshape(x.shape)), labels=[int(v) for v in now],
                         metrics={"fooled": float((now != ty.cpu().numpy()).mean()), "eps": model.cfg.eps})

    def to_weights(self, model: Any) -> Weights:
        from ..paradigmkit.torchstate import encode_modules

        return encode_modules(FORMAT, VERSION, model.cfg, {"net": model.net},
                              extra={"n_in": model.n_in, "classes": model.classes,
                                     "input_range": list(model.input_range)})

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from ..paradigmkit.torchstate import decode_modules

        cfg, states, extra = decode_modules(weights, FORMAT, VERSION, AdversarialConfig)
        model = _Model(cfg, int(extra["n_in"]), int(extra["classes"]), tuple(extra["input_range"]),
                       self.device(cfg.device))
        model.net.load_state_dict(states["net"])
        self.config = cfg
        return model, Restored(version=weights.version)

