"""`Learner`: the learner protocol (protocol.py) implemented once, for every learning neuro.

A learning neuro subclasses `Learner` and writes only what is its own, as plain blocking
methods that the base runs in a worker thread (`ctx.run_sync`) while holding the model's lock::

    describe()                       -> Description (the base fills name, max_jobs, trained)
    begin(train, data, model)        -> (model, total, unit): the model to train (new or `model`)
    fit_steps(model, data, job)      -> (units done, metrics): one slice of the job, e.g. an epoch
    finish(model, data)              -> metrics at the end (test metrics, say)
    predict(model, x)                -> Prediction
    evaluate(model, x, y)            -> metrics
    step(model, x, y)                -> StepResult                      (optional: "online")
    to_weights(model)                -> Weights; from_weights(weights) -> (model, Restored)
    save_job(model) / load_job(blob) -> the model with its optimiser state, for checkpoints
    generate(model, msg)             -> Generated                      (optional: "generate")
    consolidate(model, ctx)          -> what `sleep` did                (optional: "sleep")

The base runs each `Train` as a job in a background task of the neuro (`ctx.start_background`),
so `Status`, `Predict` (on the last good weights: the model as the last finished slice left it)
and `Cancel` are answered while it runs. It publishes a Progress event after each slice,
checkpoints the job every `checkpoint_seconds` (an artifact under the job's label, so `Resume`
finds it after a restart), keeps at most `max_jobs` running, stores `Snapshot`s as artifacts
(`WeightsRef`) and loads `Restore`s by hash. Bad input is refused (`sdk.Reject`), never a crash.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import msgspec
import trio

from neuro import sdk

from .jobs import CHECKPOINT_FORMAT, Checkpoint, Job, JobTable, NoSuchJob, checkpoint_label
from .traindata import TrainData, inline_data, named_data
from .protocol import (
    INLINE_LIMIT, Cancel, Describe, Description, Evaluate, Evaluation, Generate, Generated, JobStarted, JobStatus,
    Predict, Prediction, Reply, Request, Restore, Restored, Resume, Snapshot, Status, Step, StepResult, Train,
    TrainResult, Weights, WeightsRef,
)

__all__ = ["Learner", "TrainData", "inline_data", "named_data"]


def _responsive(ctx: sdk.Context) -> None:
    """In a sandbox (the learner's own process), hand the GIL over every 1 ms instead of 5:
    the job's thread holds it between torch calls, and Status waits for it. The kernel's own
    process keeps Python's default."""
    import sys

    if ctx.resources.sandbox != "inproc" and sys.getswitchinterval() > 0.001:
        sys.setswitchinterval(0.001)


class Learner(sdk.Neuro, abstract=True):
    """The learner protocol, once. Subclasses set `name` and write the methods above."""

    input = Request
    output = Reply
    policy = "learning"
    # Handlers that may run at once: a `Train(wait=True)` waits in one, Status and Predict
    # are answered in the others.
    policy_overrides = {"concurrency": 4}

    #: Jobs that may run at once. The hook for a policy's limit: a subclass (or, later, the
    #: learning policy through `ctx.resources`) sets it.
    max_jobs: int = 1
    #: Seconds between a running job's checkpoints (and one at its end).
    checkpoint_seconds: float = 10.0
    #: Weights up to this size may travel inline.
    inline_limit: int = INLINE_LIMIT

    def __init__(self) -> None:
        self.model: Any = None  # what Predict serves: the last good model
        self.lock = threading.Lock()  # a slice of training, or a use of the model, at a time
        self.jobs = JobTable(type(self).__manifest__.name, self.max_jobs)
        self._models: dict[str, Any] = {}  # job id -> the model it trains
        self._local_checkpoints: dict[str, bytes] = {}  # a kernel without a log: kept here only

    # ------------------------------------------------------------------ what a learner writes

    def describe(self) -> Description:
        raise NotImplementedError

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        raise NotImplementedError

    def fit_steps(self, model: Any, data: TrainData, job: Job) -> tuple[float, dict[str, float]]:
        raise NotImplementedError

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        return {}

    def predict(self, model: Any, x: Any) -> Prediction:
        raise NotImplementedError

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        raise NotImplementedError

    def step(self, model: Any, x: Any, y: Any) -> StepResult:
        raise ValueError(f"{self.__manifest__.name} does not learn online (no Step); send Train")

    def to_weights(self, model: Any) -> Weights:
        raise NotImplementedError

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        raise NotImplementedError

    def save_job(self, model: Any) -> bytes:
        return msgspec.msgpack.encode(self.to_weights(model))

    def load_job(self, blob: bytes) -> Any:
        return self.from_weights(msgspec.msgpack.decode(blob, type=Weights))[0]

    def generate(self, model: Any, msg: Generate) -> Generated:
        raise ValueError(f"{self.__manifest__.name} cannot generate inputs (no 'generate' capability)")

    def load_dataset(self, name: str) -> TrainData:
        """A named data set; by default from the data set registry."""
        return named_data(name)

    def data_of(self, train: Train) -> TrainData:
        """The data a Train names, or carries inline."""
        if train.dataset is not None:
            if train.x is not None or train.y is not None:
                raise ValueError("Train takes either `dataset` or inline `x` and `y`, not both")
            return self.load_dataset(train.dataset)
        if train.x is None or train.y is None:
            raise ValueError("Train needs `dataset` (a name Describe lists) or inline `x` and `y`")
        return inline_data(train.x, train.y, train.task)

    # ------------------------------------------------------------------------------ serving

    async def handle(self, ctx: sdk.Context, msg: Any) -> Any:
        try:
            return await self._serve(ctx, msg)
        except sdk.Reject:
            raise
        except (ValueError, LookupError, msgspec.ValidationError) as e:
            # Bad input is refused without a crash: a restart would lose the learnt weights.
            raise sdk.Reject(str(e)) from e

    async def _serve(self, ctx: sdk.Context, msg: Any) -> Any:
        if isinstance(msg, Status):
            if msg.job and msg.job not in self.jobs.jobs and not msg.all:
                return await self._interrupted(ctx, msg.job)
            await trio.lowlevel.checkpoint()
            return self.jobs.listing() if msg.all else self.jobs.status(msg.job)
        if isinstance(msg, Describe):
            return await ctx.run_sync(self._describe)
        if isinstance(msg, Train):
            return await self._train(ctx, msg)
        if isinstance(msg, Cancel):
            return await self._cancel(ctx, msg.job)
        if isinstance(msg, Resume):
            return await self._resume(ctx, msg)
        if isinstance(msg, Predict):
            return await ctx.run_sync(self._with_model, "Predict", self.predict, msg.x.numpy())
        if isinstance(msg, Step):
            self._no_job_running("Step")
            return await ctx.run_sync(self._with_model, "Step", self.step, msg.x.numpy(), msg.y.numpy())
        if isinstance(msg, Evaluate):
            x, y = await ctx.run_sync(self._evaluation_data, msg)
            metrics = await ctx.run_sync(self._with_model, "Evaluate", self.evaluate, x, y)
            return Evaluation(metrics=metrics, n=len(y))
        if isinstance(msg, Snapshot):
            return await self._snapshot(ctx, msg.inline)
        if isinstance(msg, Restore):
            return await self._restore(ctx, msg)
        if isinstance(msg, Generate):
            return await ctx.run_sync(self._with_model, "Generate", self.generate, msg)
        raise TypeError(f"{self.__manifest__.name} cannot handle {type(msg).__name__}")

    def _describe(self) -> Description:
        with self.lock:
            d = self.describe()
        return msgspec.structs.replace(d, name=self.__manifest__.name, max_jobs=self.jobs.max_jobs,
                                       trained=self.model is not None)

    def _with_model(self, what: str, fn: Any, *args: Any) -> Any:
        with self.lock:
            if self.model is None:
                raise ValueError(f"{what} needs a trained learner: send Train (or Restore weights) first")
            return fn(self.model, *args)

    def _no_job_running(self, what: str) -> None:
        running = self.jobs.running()
        if running:
            raise ValueError(f"{what} while job {running[0].id!r} runs would race it; Cancel it or wait (Status)")

    def _evaluation_data(self, msg: Evaluate) -> tuple[Any, Any]:
        if msg.dataset is not None:
            if msg.x is not None or msg.y is not None:
                raise ValueError("Evaluate takes either `dataset` or inline `x` and `y`, not both")
            data = self.load_dataset(msg.dataset)
            if msg.split == "train":
                return data.x, data.y
            if data.test is None:
                raise ValueError(f"dataset {msg.dataset!r} has no {msg.split!r} split; it has: train")
            return data.test
        if msg.x is None or msg.y is None:
            raise ValueError("Evaluate needs `dataset` (a name Describe lists) or inline `x` and `y`")
        return msg.x.numpy(), msg.y.numpy()

    # --------------------------------------------------------------------------------- jobs

    async def _train(self, ctx: sdk.Context, msg: Train) -> JobStarted | TrainResult:
        if msg.epochs < 1:
            raise ValueError(f"Train.epochs must be >= 1, got {msg.epochs}")
        self.jobs.admit()
        job = self.jobs.add(Job(id=self.jobs.new_id(msg.job), train=msg, total=float(msg.epochs)))
        job.ended = trio.Event()  # its slot is taken from here on: a second Train meanwhile is refused
        try:
            data = await ctx.run_sync(self.data_of, msg)
            model, total, unit = await ctx.run_sync(self._begin, msg, data)
        except BaseException as e:
            self.jobs.jobs.pop(job.id, None)
            job.ended.set()
            raise e
        job.total, job.unit, job.dataset, job.dataset_hash = float(total), unit, data.name, data.hash
        return await self._launch(ctx, job, model, data, msg.wait, resumed_from=None)

    def _begin(self, msg: Train, data: TrainData) -> tuple[Any, float, str]:
        with self.lock:
            return self.begin(msg, data, None if msg.fresh else self.model)

    async def _launch(self, ctx: sdk.Context, job: Job, model: Any, data: TrainData, wait: bool,
                      resumed_from: float | None) -> JobStarted | TrainResult:
        self._models[job.id] = model
        _responsive(ctx)
        job.state, job.note = "running", f"{job.unit} {job.done:g}/{job.total:g}"
        job.task = await ctx.start_background(self._run_job, job, model, data, name=job.id)
        if not wait:
            return JobStarted(job=job.id, total=job.total, unit=job.unit, resumed_from=resumed_from)
        await job.ended.wait()
        if job.state == "failed":
            raise ValueError(f"job {job.id} failed: {job.error}")
        return job.result_now()

    async def _run_job(self, ctx: sdk.Context, job: Job, model: Any, data: TrainData) -> None:
        """The job's background task: slices until done, progress after each, checkpoints."""
        last_checkpoint = time.monotonic()
        try:
            while job.done < job.total:
                await ctx.run_sync(self._slice, job, model, data)
                await ctx.progress(job.id, job.done, job.total, job.note, **job.metrics)
                if time.monotonic() - last_checkpoint >= self.checkpoint_seconds:
                    await self._checkpoint(ctx, job, model)
                    last_checkpoint = time.monotonic()
            final = await ctx.run_sync(self._finish, model, data)
            job.metrics = {**job.metrics, **final}
            await self._checkpoint(ctx, job, model)
            job.result = TrainResult(job=job.id, epochs=int(job.done), steps=job.steps, seconds=job.seconds,
                                     metrics=dict(job.metrics), dataset=job.dataset, dataset_hash=job.dataset_hash,
                                     checkpoint=job.checkpoint)
            job.state, job.note = "done", f"{job.unit} {job.done:g}/{job.total:g}, done"
        except trio.Cancelled:
            job.state, job.note = "cancelled", f"cancelled at {job.unit} {job.done:g}/{job.total:g}"
            raise
        except Exception as e:  # noqa: BLE001 - the job's outcome, for Status; the neuro serves on
            job.state, job.error = "failed", f"{type(e).__name__}: {e}"
            job.note = f"failed at {job.unit} {job.done:g}/{job.total:g}"
        finally:
            job.updated = time.time()
            self._models.pop(job.id, None)
            job.ended.set()

    def _slice(self, job: Job, model: Any, data: TrainData) -> None:
        """One slice, in a worker thread. Its bookkeeping is done here, with the model's change,
        so a cancel that lands while it runs leaves record and model agreeing."""
        with self.lock:
            t0 = time.perf_counter()
            units, metrics = self.fit_steps(model, data, job)
            job.seconds += time.perf_counter() - t0
            job.steps += int(metrics.pop("steps", 0))
            job.done = min(job.total, job.done + units)
            job.metrics, job.updated = metrics, time.time()
            job.note = f"{job.unit} {job.done:g}/{job.total:g}"
            self.model = model  # the last good weights: a fresh job's model serves once a slice ends

    def _finish(self, model: Any, data: TrainData) -> dict[str, float]:
        with self.lock:
            return self.finish(model, data)

    async def _checkpoint(self, ctx: sdk.Context, job: Job, model: Any) -> None:
        blob = await ctx.run_sync(self._checkpoint_bytes, job, model)
        try:
            job.checkpoint = await ctx.put_artifact(blob, label=checkpoint_label(job.id))
        except sdk.NeuroError:  # a kernel without a log: this instance keeps it, nothing else does
            self._local_checkpoints[job.id] = blob
            job.checkpoint = hashlib.sha256(blob).hexdigest()

    def _checkpoint_bytes(self, job: Job, model: Any) -> bytes:
        with self.lock:
            state = self.save_job(model)
        return Checkpoint(format=CHECKPOINT_FORMAT, learner=self.__manifest__.name, job=job.id,
                          train=msgspec.msgpack.encode(job.train), done=job.done, total=job.total, unit=job.unit,
                          state=state, metrics=dict(job.metrics), steps=job.steps, seconds=job.seconds,
                          dataset=job.dataset, dataset_hash=job.dataset_hash, time=time.time()).encode()

    async def _cancel(self, ctx: sdk.Context, name: str) -> Any:
        job = self.jobs.get(name)
        if job.state != "running":
            return job.status()
        model = self._models.get(job.id)
        job.task.cancel()
        await job.ended.wait()
        if model is not None:  # the slice it was in has finished: checkpoint where it stopped
            await self._checkpoint(ctx, job, model)
        return job.status()

    async def _interrupted(self, ctx: sdk.Context, name: str) -> Any:
        """Status of a job this instance never ran: "interrupted" at its last checkpoint (an
        earlier instance's, before a restart), which Resume continues; else NoSuchJob."""
        try:
            found = await ctx.find_artifact(checkpoint_label(name))
        except sdk.NeuroError:
            found = None
        if found is None:
            return self.jobs.status(name)  # raises NoSuchJob, naming the known ones
        cp = Checkpoint.decode(await ctx.get_artifact(found), self.__manifest__.name)
        state = "done" if cp.done >= cp.total else "interrupted"
        return JobStatus(job=name, state=state, done=cp.done, total=cp.total, unit=cp.unit, metrics=dict(cp.metrics),
                         checkpoint=found, updated=cp.time, dataset=cp.dataset, dataset_hash=cp.dataset_hash,
                         note=f"{cp.unit} {cp.done:g}/{cp.total:g} at its last checkpoint"
                              + ("; Resume continues it" if state == "interrupted" else ""))

    async def _resume(self, ctx: sdk.Context, msg: Resume) -> JobStarted | TrainResult:
        known = self.jobs.jobs.get(msg.job)
        if known is not None and known.state == "running":
            raise ValueError(f"job {msg.job!r} is running; nothing to resume")
        if known is not None and known.state == "done":
            raise ValueError(f"job {msg.job!r} is done; start another with Train")
        self.jobs.admit()
        blob = self._local_checkpoints.get(msg.job)
        if blob is None:
            try:
                found = await ctx.find_artifact(checkpoint_label(msg.job))
            except sdk.NeuroError:
                found = None
            if found is None:
                raise NoSuchJob(f"{self.__manifest__.name} has no checkpoint of job {msg.job!r} (a job writes one "
                                f"every {self.checkpoint_seconds:g} s, when cancelled and at its end)")
            blob = await ctx.get_artifact(found)
        cp = Checkpoint.decode(blob, self.__manifest__.name)
        if cp.done >= cp.total:
            raise ValueError(f"job {msg.job!r} had finished ({cp.unit} {cp.done:g}/{cp.total:g}); start another")
        train = cp.train_message()
        job = self.jobs.add(Job(id=cp.job, train=train, total=cp.total, unit=cp.unit, done=cp.done,
                                metrics=dict(cp.metrics), steps=cp.steps, seconds=cp.seconds, dataset=cp.dataset,
                                dataset_hash=cp.dataset_hash, checkpoint=hashlib.sha256(blob).hexdigest()))
        job.ended = trio.Event()
        try:
            data = await ctx.run_sync(self.data_of, train)
            if cp.dataset_hash and data.hash and data.hash != cp.dataset_hash:
                raise ValueError(f"job {cp.job!r} trained on {cp.dataset or 'inline data'} with hash "
                                 f"{cp.dataset_hash[:12]}, which now hashes {data.hash[:12]}: the data changed")
            model = await ctx.run_sync(self.load_job, cp.state)
        except BaseException:
            job.state, job.error = "failed", "could not resume"
            job.ended.set()
            raise
        return await self._launch(ctx, job, model, data, msg.wait, resumed_from=cp.done)

    # ------------------------------------------------------------------------------ weights

    async def _snapshot(self, ctx: sdk.Context, inline: bool) -> Weights | WeightsRef:
        weights = await ctx.run_sync(self._with_model, "Snapshot", self.to_weights)
        blob = msgspec.msgpack.encode(weights)
        if inline:
            if len(blob) > self.inline_limit:
                raise ValueError(f"the weights are {len(blob):,} bytes, over the {self.inline_limit:,} that travel "
                                 "inline; send Snapshot() for a reference (Restore(hash=...) loads it)")
            return weights
        try:
            digest = await ctx.put_artifact(blob, label="weights")
        except sdk.NeuroError:
            if len(blob) <= self.inline_limit:
                return weights  # no artifact store (a kernel without a log): small weights come inline
            raise
        return WeightsRef(hash=digest, format=weights.format, format_version=weights.version, size=len(blob))

    async def _restore(self, ctx: sdk.Context, msg: Restore) -> Restored:
        self._no_job_running("Restore")
        if (msg.weights is None) == (not msg.hash):
            raise ValueError("Restore takes `hash` (from Snapshot's WeightsRef) or inline `weights`, one of them")
        weights = msg.weights
        if weights is None:
            blob = await ctx.get_artifact(msg.hash)
            try:
                weights = msgspec.msgpack.decode(blob, type=Weights)
            except msgspec.DecodeError as e:
                raise ValueError(f"artifact {msg.hash[:12]} holds no Weights ({e})") from None
        restored = await ctx.run_sync(self._load_weights, weights)
        return msgspec.structs.replace(restored, hash=msg.hash)

    def _load_weights(self, weights: Weights) -> Restored:
        model, restored = self.from_weights(weights)
        with self.lock:
            self.model = model
        return restored

    # -------------------------------------------------------------------------------- hooks

    def consolidate(self, model: Any) -> Any:
        """What `sleep` does to the model (the learner's own; default: nothing)."""
        return None

    async def sleep(self, ctx: sdk.Context) -> Any:
        """Consolidation, for every learner (the dream daemon calls it): the learner's
        `consolidate` on its model, while no job runs; what it returns is published on
        ``sleep.<neuro name>`` and returned. None when there is no model or a job runs."""
        if self.model is None or self.jobs.running():
            await trio.lowlevel.checkpoint()
            return None
        result = await ctx.run_sync(self._with_model, "sleep", self.consolidate)
        if result is not None:
            await ctx.publish(f"sleep.{self.__manifest__.name}", result)
        return result

    def snapshot(self) -> Weights | None:
        """The learnt weights (for a swap), or None before any."""
        with self.lock:
            return None if self.model is None else self.to_weights(self.model)

    def restore(self, state: Any) -> None:
        """Load what `snapshot` gave (a swap's state; migrated first by `migrate`)."""
        if state is not None:
            weights = state if isinstance(state, Weights) else msgspec.convert(state, Weights)
            self._load_weights(weights)
