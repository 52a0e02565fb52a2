"""The learner protocol: the messages every learning neuro speaks.

One closed set of tagged msgspec Structs, so the shell, the CLI, the dream daemon and nets can
drive any learner the same way::

    Train    -> TrainResult   fit on inline data or on a data set the learner knows by name
    Step     -> StepResult    one update on one inline batch
    Predict  -> Prediction    labels and scores, with a per-input uncertainty if the learner has one
    Evaluate -> Evaluation    named metrics on a split of a known data set, or on inline data
    Snapshot -> Weights       the learnt state as bytes, tagged with a format version
    Restore  -> Restored      load `Weights`, migrating an older format version first
    Status   -> JobStatus     the state of the last (or the named) long job
    Dream    -> Dreams        inputs generated from labels, for learners that can run backwards

A learner's `input` is ``Request`` (or a subset of it) and its `output` is ``Reply``. Long
jobs also publish `neuro.sdk.Progress` events on ``progress.<neuro name>`` while they run;
`Status` answers between messages, since a neuro serves one message at a time.

Arrays travel as `Array` (shape, dtype and the raw little-endian bytes), which is compact in
msgpack and survives JSON as base64. `Array.of` and `Array.numpy` convert to and from numpy;
numpy is imported only inside them, so importing this module costs nothing.

Schema evolution follows msgspec's rules: a new field gets a default, an existing field never
changes type. `Weights.version` is the learner's own weight-format version (an int that only
goes up); a learner's `migrate(old_version, state)` hook upgrades an older one.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from neuro.sdk import Message

__all__ = [
    "Array",
    "Train",
    "Step",
    "Predict",
    "Evaluate",
    "Snapshot",
    "Restore",
    "Status",
    "Dream",
    "TrainResult",
    "StepResult",
    "Prediction",
    "Evaluation",
    "Weights",
    "Restored",
    "JobStatus",
    "Dreams",
    "Request",
    "Reply",
    "Option",
]

DTYPES = ("float32", "float64", "int64", "int32", "uint8")

#: A learner-specific option value (the learner's config field names are the keys).
Option = Union[bool, int, float, str, list[Union[int, float]]]


class Array(Message):
    """An n-dimensional array: `shape`, `dtype` (one of DTYPES) and the raw bytes, C order."""

    shape: list[int]
    dtype: str
    data: bytes

    @classmethod
    def of(cls, a: Any, dtype: str | None = None) -> "Array":
        """Wrap anything numpy can turn into an array (a list, a numpy array, a CPU tensor)."""
        import numpy as np

        arr = np.ascontiguousarray(np.asarray(a, dtype=dtype))
        if arr.dtype.name not in DTYPES:
            arr = arr.astype("float32" if arr.dtype.kind == "f" else "int64")
        return cls(shape=list(arr.shape), dtype=arr.dtype.name, data=arr.astype(arr.dtype.newbyteorder("<")).tobytes())

    def numpy(self) -> Any:
        """The array as a numpy array; raises ValueError if shape, dtype and bytes disagree."""
        import numpy as np

        if self.dtype not in DTYPES:
            raise ValueError(f"Array.dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        dt = np.dtype(self.dtype).newbyteorder("<")
        n = 1
        for d in self.shape:
            if d < 0:
                raise ValueError(f"Array.shape must hold sizes >= 0, got {self.shape}")
            n *= d
        if n * dt.itemsize != len(self.data):
            raise ValueError(
                f"Array of shape {self.shape} and dtype {self.dtype} needs {n * dt.itemsize} bytes, "
                f"got {len(self.data)}"
            )
        return np.frombuffer(self.data, dtype=dt).reshape(self.shape).astype(dt.newbyteorder("="))


# ---------------------------------------------------------------------------- requests


class Train(Message, tag="train"):
    """Fit the learner. Give `dataset` (a name the learner knows) or inline `x` and `y`.

    `options` override fields of the learner's config by name (for example ``{"beta": 0.1}``);
    an unknown name is an error that lists the known ones. `fresh` starts from new weights
    instead of continuing from the current ones. `job` names the job in progress events and
    in `Status`; empty means the learner picks one.
    """

    dataset: str | None = None
    x: Array | None = None
    y: Array | None = None
    epochs: int = 1
    seed: int = 0
    batch_size: int | None = None
    options: dict[str, Option] = {}
    fresh: bool = False
    job: str = ""


class Step(Message, tag="step"):
    """One update on one inline batch: `x` of shape (B, ...) and integer labels `y` of shape (B,)."""

    x: Array
    y: Array


class Predict(Message, tag="predict"):
    """Predict labels for `x` of shape (B, ...), the shape the learner was trained on."""

    x: Array


class Evaluate(Message, tag="evaluate"):
    """Measure the learner on `split` of a known `dataset`, or on inline `x` and `y`."""

    dataset: str | None = None
    split: Literal["train", "test"] = "test"
    x: Array | None = None
    y: Array | None = None


class Snapshot(Message, tag="snapshot"):
    """Ask for the learnt state as `Weights`."""


class Weights(Message, tag="weights"):
    """Learnt state as bytes. `format` names the learner, `version` its weight-format version."""

    format: str
    version: int
    data: bytes
    meta: dict[str, str] = {}


class Restore(Message, tag="restore"):
    """Load `weights`; an older `version` is migrated first, a newer one is refused."""

    weights: Weights


class Status(Message, tag="status"):
    """The state of the job named `job`, or of the last job when empty."""

    job: str = ""


class Dream(Message, tag="dream"):
    """Generate one input per label by running the learner backwards (output clamped)."""

    labels: list[int]
    steps: int = 0  # 0: the learner's default


# ---------------------------------------------------------------------------- replies


class TrainResult(Message, tag="train_result"):
    """What a `Train` did: epochs and updates run, seconds spent, and named metrics."""

    job: str
    epochs: int
    steps: int
    seconds: float
    metrics: dict[str, float] = {}


class StepResult(Message, tag="step_result"):
    """What one `Step` did: its loss and named diagnostics."""

    loss: float
    metrics: dict[str, float] = {}


class Prediction(Message, tag="prediction"):
    """Labels (B,), scores (B, classes) and, when the learner has one, a per-input uncertainty.

    `uncertainty_kind` says what the uncertainty is (for example ``"settling_steps"``);
    higher always means less sure.
    """

    labels: list[int]
    scores: Array
    uncertainty: list[float] | None = None
    uncertainty_kind: str = ""


class Evaluation(Message, tag="evaluation"):
    """Named metrics (for example ``{"accuracy": 0.97}``) over `n` examples."""

    metrics: dict[str, float]
    n: int


class Restored(Message, tag="restored"):
    """Weights loaded at `version`; `migrated_from` is the version they arrived in, if older."""

    version: int
    migrated_from: int | None = None


class JobStatus(Message, tag="job_status"):
    """A long job's state and progress (`done` of `total` units, for example epochs)."""

    job: str
    state: Literal["idle", "running", "done", "failed"]
    done: float = 0.0
    total: float = 0.0
    note: str = ""
    metrics: dict[str, float] = {}


class Dreams(Message, tag="dreams"):
    """Generated inputs `x` of shape (len(labels), ...) and the labels they were dreamt from."""

    x: Array
    labels: list[int]
    metrics: dict[str, float] = {}


Request = Union[Train, Step, Predict, Evaluate, Snapshot, Restore, Status, Dream]
Reply = Union[TrainResult, StepResult, Prediction, Evaluation, Weights, Restored, JobStatus, Dreams]
