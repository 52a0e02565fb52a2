"""Training jobs of a learner: their table, their limit and their checkpoints. No torch.

A job is one `Train` running in a background task of its learner (`learner.py` drives it).
Its record is what `Status` answers from, without waiting for the job: state, progress, the
hash of its last checkpoint. A checkpoint is one artifact (msgpack, CHECKPOINT_FORMAT) that
holds everything `Resume` needs: the job's `Train` message, how far it got, and the learner's
own state (weights, optimiser, data order); it is stored under the label ``job:<id>``, so a
fresh instance of the neuro, after a restart, finds it again by the job's id.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .protocol import JobList, JobStatus, Train, TrainResult

__all__ = ["Job", "JobTable", "Checkpoint", "TooManyJobs", "NoSuchJob", "CHECKPOINT_FORMAT", "checkpoint_label"]

CHECKPOINT_FORMAT = 1
_RUNNING = ("running",)


class TooManyJobs(ValueError):
    """A Train or Resume past the learner's `max_jobs`."""


class NoSuchJob(LookupError):
    """A job id the learner does not know (and has no checkpoint of)."""


def checkpoint_label(job: str) -> str:
    """The artifact label a job's checkpoints are kept under."""
    return f"job:{job}"


class Checkpoint(msgspec.Struct, forbid_unknown_fields=True):
    """A job's checkpoint: its Train (msgpack), progress, lineage and the learner's state."""

    format: int
    learner: str  # the neuro's name: a checkpoint of another learner is refused
    job: str
    train: bytes
    done: float
    total: float
    unit: str
    state: bytes  # the learner's own (`Learner.save_job`)
    metrics: dict[str, float] = {}
    steps: int = 0
    seconds: float = 0.0
    dataset: str = ""
    dataset_hash: str = ""
    time: float = 0.0

    def encode(self) -> bytes:
        return msgspec.msgpack.encode(self)

    @classmethod
    def decode(cls, data: bytes, learner: str) -> "Checkpoint":
        try:
            cp = msgspec.msgpack.decode(data, type=cls)
        except msgspec.DecodeError as e:
            raise ValueError(f"not a learner checkpoint ({e})") from None
        if cp.format > CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint format {cp.format} is newer than this code's {CHECKPOINT_FORMAT}")
        if cp.learner != learner:
            raise ValueError(f"checkpoint of job {cp.job!r} belongs to {cp.learner!r}, not {learner!r}")
        return cp

    def train_message(self) -> Train:
        return msgspec.msgpack.decode(self.train, type=Train)


@dataclass
class Job:
    """One job's record; `status()` is what Status answers."""

    id: str
    train: Train
    total: float
    unit: str = "epoch"
    state: str = "running"
    done: float = 0.0
    note: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: str = ""
    error: str = ""
    started: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    dataset: str = ""
    dataset_hash: str = ""
    steps: int = 0
    seconds: float = 0.0
    result: TrainResult | None = None
    task: Any = None  # its `Background` handle while it runs
    ended: Any = None  # a trio.Event, set when it stops running (however it ended)

    def status(self) -> JobStatus:
        return JobStatus(job=self.id, state=self.state, done=self.done, total=self.total, unit=self.unit,  # type: ignore[arg-type]
                         note=self.note, metrics=dict(self.metrics), checkpoint=self.checkpoint, error=self.error,
                         started=self.started, updated=self.updated, dataset=self.dataset,
                         dataset_hash=self.dataset_hash)

    def result_now(self) -> TrainResult:
        """The TrainResult of a finished job (also of a failed one: what it got to)."""
        if self.result is not None:
            return self.result
        return TrainResult(job=self.id, epochs=int(self.done), steps=self.steps, seconds=self.seconds,
                           metrics=dict(self.metrics), dataset=self.dataset, dataset_hash=self.dataset_hash,
                           checkpoint=self.checkpoint)


class JobTable:
    """The jobs of one learner instance, oldest first, and its limit on running ones."""

    def __init__(self, learner: str, max_jobs: int) -> None:
        self.learner = learner
        self.max_jobs = max_jobs
        self.jobs: dict[str, Job] = {}
        self.last = ""

    def new_id(self, wanted: str) -> str:
        """`wanted`, or a fresh id unlikely to meet an old instance's (their checkpoints stay)."""
        if wanted:
            if not isinstance(wanted, str) or len(wanted) > 100 or not all(c.isalnum() or c in "._-" for c in wanted):
                raise ValueError(f"a job id is up to 100 letters, digits, '.', '_' or '-', got {wanted!r}")
            if wanted in self.jobs and self.jobs[wanted].state in _RUNNING:
                raise ValueError(f"job {wanted!r} is running; pick another id or Cancel it first")
            return wanted
        return f"train-{secrets.token_hex(3)}"

    def running(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.state in _RUNNING]

    def admit(self) -> None:
        """Raise TooManyJobs when another job would pass the limit."""
        running = self.running()
        if len(running) >= self.max_jobs:
            names = ", ".join(j.id for j in running)
            raise TooManyJobs(f"{self.learner} runs at most {self.max_jobs} job(s) at once (running: {names}); "
                              "Cancel one, or wait for it (Status)")

    def add(self, job: Job) -> Job:
        self.jobs.pop(job.id, None)  # a job id reused (Resume): the new record goes last
        self.jobs[job.id] = job
        self.last = job.id
        return job

    def get(self, name: str) -> Job:
        name = name or self.last
        if not name:
            raise NoSuchJob(f"{self.learner} has run no job yet")
        job = self.jobs.get(name)
        if job is None:
            known = ", ".join(self.jobs) or "none"
            raise NoSuchJob(f"{self.learner} knows no job {name!r} (known: {known})")
        return job

    def status(self, name: str) -> JobStatus:
        if not name and not self.last:
            return JobStatus(job="", state="idle")
        return self.get(name).status()

    def listing(self) -> JobList:
        return JobList(jobs=[j.status() for j in self.jobs.values()])
