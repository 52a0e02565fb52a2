"""The learner protocol, version 2: the messages every learning neuro speaks.

One closed set of tagged msgspec Structs, so the shell, the CLI, the dream daemon and nets can
drive any learner the same way (docs/learning/protocol.md)::

    Describe -> Description   tasks, shapes, options (type, range, meaning), capabilities
    Train    -> JobStarted    a job handle at once; with ``wait=True`` the TrainResult instead
    Status   -> JobStatus     one job (the last when `job` is empty); ``all=True``: JobList
    Cancel   -> JobStatus     stop a running job (its last good weights stay)
    Resume   -> JobStarted    continue a cancelled, failed or interrupted job from its checkpoint
    Step     -> StepResult    one update on one inline batch
    Predict  -> Prediction    `y`, and labels/scores where they apply, with an uncertainty
    Evaluate -> Evaluation    named metrics on a split of a named data set, or on inline data
    Snapshot -> WeightsRef    the learnt state kept as an artifact, by hash (or inline `Weights`)
    Restore  -> Restored      load weights by hash or inline, migrating an older format first
    Generate -> Generated     inputs generated from targets, for learners that can run backwards

A learner's `input` is ``Request`` and its `output` is ``Reply``. `Status`, `Predict` (on the
last good weights) and `Cancel` are answered while a job runs: the job runs in a background
task of the neuro (`ctx.start_background`), and publishes `neuro.sdk.Progress` events on
``progress.<neuro name>``. `neuros/learning/learner.py` implements all of this once.

Targets are general: `y` is an `Array` of any dtype (integer labels for classification,
floats for regression, sequences, patterns for associative recall); `Prediction.y` is the
learner's answer in the same form, with `labels` and `scores` where a learner classifies.

Arrays travel as `Array` (shape, dtype and the raw little-endian bytes), compact in msgpack;
numpy is imported only inside `Array.of` and `Array.numpy`, so importing this module costs
nothing.

Schema evolution follows msgspec's rules: a new field gets a default, an existing field never
changes type. Version 2 changed version 1 where it was shaped around one classifier (see the
docs' "From version 1"). `format_version` is the learner's own weight-format version (an int
that only goes up); it, not the code's hash, is what a learner's `migrate` reads.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from neuro.sdk import Message

__all__ = [
    "PROTOCOL_VERSION",
    "INLINE_LIMIT",
    "Array",
    "Describe",
    "Train",
    "Status",
    "Cancel",
    "Resume",
    "Step",
    "Predict",
    "Evaluate",
    "Snapshot",
    "Restore",
    "Generate",
    "Description",
    "OptionSpec",
    "JobStarted",
    "TrainResult",
    "JobStatus",
    "JobList",
    "StepResult",
    "Prediction",
    "Evaluation",
    "Weights",
    "WeightsRef",
    "Restored",
    "Generated",
    "Request",
    "Reply",
    "Option",
    "CAPABILITIES",
    "JOB_STATES",
]

PROTOCOL_VERSION = 2
#: Weights up to this many bytes may travel inline (`Snapshot(inline=True)`, `Restore(weights=)`);
#: larger ones go by reference (an artifact's hash), well under the control socket's frame.
INLINE_LIMIT = 4 << 20

DTYPES = ("float32", "float64", "int64", "int32", "uint8", "bool")
#: What `Description.capabilities` may name.
CAPABILITIES = ("gpu", "generate", "sleep", "online")
JOB_STATES = ("idle", "running", "done", "failed", "cancelled", "interrupted")

#: A learner-specific option value (the learner's config field names are the keys).
Option = Union[bool, int, float, str, list[Union[int, float]], None]


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


class Describe(Message, tag="describe"):
    """Ask what the learner is: its tasks, shapes, options and capabilities."""


class Train(Message, tag="train"):
    """Start a training job. Give `dataset` (a name the learner knows) or inline `x` and `y`.

    It answers `JobStarted` at once; with `wait`, the `TrainResult` when the job ends (the
    mailbox stays free meanwhile: `Status` and `Predict` are answered). `options` override
    fields of the learner's config by name (``{"beta": 0.1}``); an unknown name is an error
    that lists the known ones. `fresh` starts from new weights instead of the current ones.
    `job` names the job (empty: the learner picks one); `task` says what `y` is
    ("classify", "regress", ...; empty: the learner infers it from `y`'s dtype).
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
    wait: bool = False
    task: str = ""


class Status(Message, tag="status"):
    """The state of job `job` (the last job when empty); with `all`, every job (`JobList`)."""

    job: str = ""
    all: bool = False


class Cancel(Message, tag="cancel"):
    """Stop job `job` at its next step boundary; its checkpoint stays for `Resume`."""

    job: str


class Resume(Message, tag="resume"):
    """Continue job `job` from its last checkpoint (also one written before the neuro restarted)."""

    job: str
    wait: bool = False


class Step(Message, tag="step"):
    """One update on one inline batch: `x` of shape (B, ...) and targets `y` (B, ...)."""

    x: Array
    y: Array


class Predict(Message, tag="predict"):
    """Predict for `x` of shape (B, ...), the input shape the learner was trained on."""

    x: Array


class Evaluate(Message, tag="evaluate"):
    """Measure the learner on `split` of a known `dataset`, or on inline `x` and `y`."""

    dataset: str | None = None
    split: str = "test"
    x: Array | None = None
    y: Array | None = None


class Snapshot(Message, tag="snapshot"):
    """Keep the learnt state as an artifact and answer its `WeightsRef`. With `inline`, answer
    the `Weights` themselves (refused over INLINE_LIMIT bytes)."""

    inline: bool = False


class Weights(Message, tag="weights"):
    """Learnt state as bytes. `format` names the learner, `version` its weight-format version."""

    format: str
    version: int
    data: bytes
    meta: dict[str, str] = {}


class Restore(Message, tag="restore"):
    """Load weights: by `hash` (a `WeightsRef.hash`) or inline `weights`. An older format
    version is migrated first; a newer one is refused."""

    weights: Weights | None = None
    hash: str = ""


class Generate(Message, tag="generate"):
    """Generate one input per target by running the learner backwards (output clamped):
    `labels` for a classifier, or targets `y` (B, ...) for any learner."""

    labels: list[int] = []
    y: Array | None = None
    steps: int = 0  # 0: the learner's default


# ---------------------------------------------------------------------------- replies


class OptionSpec(Message, tag="option"):
    """One option of a learner: its `value_type` (as Python writes it), `default`, allowed `range`
    ([min, max], either None when open) or `choices`, and what it means."""

    name: str
    value_type: str
    default: Option = None
    help: str = ""
    range: list[float | None] | None = None
    choices: list[str] | None = None


class Description(Message, tag="description"):
    """What a learner is. `tasks`: what it learns ("classify", "regress", "recall",
    "sequence"); `input_shape`/`output_shape`: per example, None where any shape fits or it
    is not trained yet; `capabilities`: a subset of CAPABILITIES; `datasets`: the names its
    Train knows; `weight_format`/`weight_version`: what its weights are and `migrate` reads;
    `max_jobs`: jobs it runs at once."""

    name: str
    tasks: list[str]
    options: list[OptionSpec]
    capabilities: list[str]
    input_shape: list[int] | None = None
    output_shape: list[int] | None = None
    datasets: list[str] = []
    weight_format: str = ""
    weight_version: int = 0
    max_jobs: int = 1
    protocol: int = PROTOCOL_VERSION
    summary: str = ""
    trained: bool = False


class JobStarted(Message, tag="job_started"):
    """A job was accepted and runs in the background: follow it with Status or Progress events."""

    job: str
    total: float
    unit: str = "epoch"
    resumed_from: float | None = None  # Resume: the `done` its checkpoint held


class TrainResult(Message, tag="train_result"):
    """What a finished job did: epochs and updates run, seconds spent, named metrics, and its
    lineage: the data set (name and content hash) and its last checkpoint's hash."""

    job: str
    epochs: int
    steps: int
    seconds: float
    metrics: dict[str, float] = {}
    dataset: str = ""
    dataset_hash: str = ""
    checkpoint: str = ""


class JobStatus(Message, tag="job_status"):
    """A job's state and progress (`done` of `total` units, for example epochs). `checkpoint`:
    the hash of its last checkpoint ("" if none yet); `error`: why it failed."""

    job: str
    state: Literal["idle", "running", "done", "failed", "cancelled", "interrupted"]
    done: float = 0.0
    total: float = 0.0
    unit: str = "epoch"
    note: str = ""
    metrics: dict[str, float] = {}
    checkpoint: str = ""
    error: str = ""
    started: float = 0.0  # epoch seconds
    updated: float = 0.0
    dataset: str = ""
    dataset_hash: str = ""


class JobList(Message, tag="job_list"):
    """Every job the learner knows, oldest first."""

    jobs: list[JobStatus]


class StepResult(Message, tag="step_result"):
    """What one `Step` did: its loss and named diagnostics."""

    loss: float
    metrics: dict[str, float] = {}


class Prediction(Message, tag="prediction"):
    """The learner's answer `y` (B, ...), as its targets are; for a classifier also `labels`
    (B,) and `scores` (B, classes). `uncertainty` (B,), when the learner has one, is of
    `uncertainty_kind` (for example ``"settling_steps"``, ``"std"``); higher means less sure."""

    y: Array
    labels: list[int] | None = None
    scores: Array | None = None
    uncertainty: list[float] | None = None
    uncertainty_kind: str = ""


class Evaluation(Message, tag="evaluation"):
    """Named metrics (for example ``{"accuracy": 0.97}``) over `n` examples."""

    metrics: dict[str, float]
    n: int


class WeightsRef(Message, tag="weights_ref"):
    """Weights kept as an artifact: its `hash` (sha256), the weight `format`, its
    `format_version` and `size` in bytes. `Restore(hash=...)` loads it."""

    hash: str
    format: str
    format_version: int
    size: int


class Restored(Message, tag="restored"):
    """Weights loaded at `version`; `migrated_from` is the version they arrived in, if older."""

    version: int
    migrated_from: int | None = None
    hash: str = ""


class Generated(Message, tag="generated"):
    """Generated inputs `x` (B, ...), with the `labels` (or targets `y`) they came from, and
    named metrics (``self_agreement``: the share the same learner recognises as their target)."""

    x: Array
    labels: list[int] = []
    y: Array | None = None
    metrics: dict[str, float] = {}


Request = Union[Describe, Train, Status, Cancel, Resume, Step, Predict, Evaluate, Snapshot, Restore, Generate]
Reply = Union[Description, JobStarted, TrainResult, JobStatus, JobList, StepResult, Prediction, Evaluation, Weights,
              WeightsRef, Restored, Generated]
