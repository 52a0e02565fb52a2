"""The learner protocol v2 through a real kernel, in-process and in the process sandbox: jobs
(a handle at once; Status, Predict and Cancel while one runs; Resume after the neuro restarts;
the job limit), general targets (classification and regression), Describe, weights by
reference and inline. The learner is the numpy toy of toy_learners.py, so each test takes
about a second; tests/learning/test_eqprop_protocol.py runs the same protocol on eqprop."""

from __future__ import annotations

import hashlib
import shutil

import msgspec
import numpy as np
import pytest
import trio

import neuro
from neuro import Policy
from neuro.neuros.learning import protocol as P

from .toy_learners import BoxedToy, SmallInline, Toy, TwoJobs

# The learning policy in the process sandbox, without its GPU share: a worker given one imports
# torch before the neuro's code runs (to set the memory fraction), which takes seconds here.
BOXED = Policy(name="boxed-learning", sandbox="process", sandboxes=("process",), mailbox_size=256,
               max_message_bytes=64 << 20)
BACKENDS = [pytest.param((Toy, "default"), id="inproc"),
            pytest.param((BoxedToy, "boxed-learning"), id="process", marks=pytest.mark.skipif(
                shutil.which("bwrap") is None, reason="bubblewrap is not installed"))]
SLOW = {"pause": 0.15}  # each epoch lasts 0.15 s: a job of 20 epochs runs for 3 s


def _regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = np.stack([x @ [1.0, -2.0, 0.5], x[:, 0] - x[:, 2]], 1).astype(np.float32)  # (n, 2) floats
    return P.Array.of(x), P.Array.of(y)


def _classes(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (np.eye(3)[y] + 0.1 * rng.normal(size=(n, 3))).astype(np.float32)
    return P.Array.of(x), P.Array.of(y)


async def _until(k, name, pred, timeout=30.0, job=""):
    with trio.fail_after(timeout):
        while True:
            s = await k.call(name, P.Status(job=job), timeout=30)
            if pred(s):
                return s
            await trio.sleep(0.03)


def _run(tmp_path, body, cls, policy):
    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db"), policies={"boxed-learning": BOXED}) as k:
            await k.spawn(cls, policy=policy)
            return await body(k, cls.name)

    return trio.run(main)


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_answers_a_job_handle_at_once_and_status_predict_are_answered_while_it_runs(backend, tmp_path):
    """Train -> JobStarted; while the job runs, Status says running and Predict answers."""
    x, y = _regression()

    async def body(k, name):
        started = await k.call(name, P.Train(x=x, y=y, epochs=20, options=SLOW, job="long"), timeout=30)
        first = await k.call(name, P.Status(), timeout=30)
        seen = await _until(k, name, lambda s: s.done >= 2)
        pred = await k.call(name, P.Predict(x=x), timeout=30)
        still = await k.call(name, P.Status(job="long"), timeout=30)
        await k.call(name, P.Cancel(job="long"), timeout=30)
        return started, first, seen, pred, still

    started, first, seen, pred, still = _run(tmp_path, body, *backend)
    assert ("long", 20.0, "epoch") == (started.job, started.total, started.unit)
    assert ("long", "running") == (first.job, first.state)
    assert "running" == seen.state
    assert (64, 2) == tuple(pred.y.numpy().shape)
    assert ("running", True) == (still.state, still.done < 20)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancel_stops_a_job_and_resume_continues_it_to_the_end(backend, tmp_path):
    """Cancel leaves the job cancelled part way with a checkpoint; Resume finishes it."""
    x, y = _regression()

    async def body(k, name):
        await k.call(name, P.Train(x=x, y=y, epochs=12, options=SLOW, job="j"), timeout=30)
        await _until(k, name, lambda s: s.done >= 2)
        cancelled = await k.call(name, P.Cancel(job="j"), timeout=30)
        later = await k.call(name, P.Status(job="j"), timeout=30)
        resumed = await k.call(name, P.Resume(job="j", wait=True), timeout=60)
        return cancelled, later, resumed

    cancelled, later, resumed = _run(tmp_path, body, *backend)
    assert ("cancelled", True, True) == (cancelled.state, 2 <= cancelled.done < 12, bool(cancelled.checkpoint))
    assert cancelled.done == later.done  # nothing trains after a cancel
    assert (12, "j") == (resumed.epochs, resumed.job)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_after_the_neuro_restarts_continues_from_the_checkpoint(backend, tmp_path):
    """A fresh instance knows no job, yet Resume finds the job's checkpoint and finishes it."""
    x, y = _regression()

    async def body(k, name):
        await k.call(name, P.Train(x=x, y=y, epochs=15, options=SLOW, job="survivor"), timeout=30)
        # done >= 4: epoch 3's checkpoint is written before epoch 4 starts (a status at done 3
        # may still carry epoch 2's checkpoint, which is all a restart then finds)
        before = await _until(k, name, lambda s: s.done >= 4 and s.checkpoint)
        await k.restart(name)
        fresh = await k.call(name, P.Status(), timeout=30)
        interrupted = await k.call(name, P.Status(job="survivor"), timeout=30)
        started = await k.call(name, P.Resume(job="survivor"), timeout=30)
        done = await _until(k, name, lambda s: s.state != "running", job="survivor")
        return before, fresh, interrupted, started, done

    before, fresh, interrupted, started, done = _run(tmp_path, body, *backend)
    assert "idle" == fresh.state
    assert ("interrupted", True) == (interrupted.state, interrupted.done >= 3)
    assert started.resumed_from is not None and started.resumed_from >= 3
    assert ("done", 15.0) == (done.state, done.done)


def test_resume_of_a_job_with_no_checkpoint_says_when_checkpoints_are_written(tmp_path):
    """Resume of an unknown job is refused, saying when a job writes checkpoints."""

    async def body(k, name):
        await k.call(name, P.Resume(job="never"), timeout=30)

    with pytest.raises(neuro.RemoteError, match="has no checkpoint of job 'never' \\(a job writes one every 0 s"):
        _run(tmp_path, body, Toy, "default")


@pytest.mark.parametrize("cls, allowed", [(Toy, 1), (TwoJobs, 2)])
def test_a_learner_runs_at_most_max_jobs_at_once(cls, allowed, tmp_path):
    """Past max_jobs running jobs, Train is refused with the running jobs named."""
    x, y = _regression()

    async def body(k, name):
        for i in range(allowed):
            await k.call(name, P.Train(x=x, y=y, epochs=50, options=SLOW, job=f"j{i}"), timeout=30)
        try:
            await k.call(name, P.Train(x=x, y=y, epochs=1, job="extra"), timeout=30)
        except neuro.RemoteError as e:
            return str(e), len((await k.call(name, P.Status(all=True), timeout=30)).jobs)
        return None

    message, jobs = _run(tmp_path, body, cls, "default")
    running = ", ".join(f"j{i}" for i in range(allowed))
    assert f"runs at most {allowed} job(s) at once (running: {running}); Cancel one" in message
    assert allowed == jobs


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_wait_returns_the_result_with_the_data_sets_hash_in_its_lineage(backend, tmp_path):
    """Train(wait=True) on a named data set answers the TrainResult naming the data's hash."""
    from neuro.neuros.learning.datasets.registry import load

    async def body(k, name):
        return await k.call(name, P.Train(dataset="iris", epochs=3, wait=True), timeout=60)

    result = _run(tmp_path, body, *backend)
    assert ("iris", load("iris").hash, 3) == (result.dataset, result.dataset_hash, result.epochs)
    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0
    assert result.checkpoint


def test_a_job_that_raises_is_failed_with_its_error_and_the_learner_serves_on(tmp_path):
    """A job's exception ends the job, not the neuro: Status says failed and why."""
    x, y = _regression()

    async def body(k, name):
        await k.call(name, P.Train(x=x, y=y, epochs=5, options={"fail_at": 3}, job="doomed"), timeout=30)
        status = await _until(k, name, lambda s: s.state != "running", job="doomed")
        return status, (await k.call(name, P.Predict(x=x), timeout=30)), k.info(name).restarts

    status, pred, restarts = _run(tmp_path, body, Toy, "default")
    assert ("failed", "RuntimeError: told to fail at epoch 3", 2.0) == (status.state, status.error, status.done)
    assert (0, 64) == (restarts, len(pred.y.numpy()))


def test_progress_events_follow_the_job(tmp_path):
    """Each epoch is a Progress event on progress.<name>, done counting up to total."""
    x, y = _regression()

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(Toy, policy="default")
            async with k.subscribe("progress.toy") as events:
                await k.call("toy", P.Train(x=x, y=y, epochs=3, wait=True, job="p"), timeout=30)
                return [(ev.job, ev.done, ev.total) for _topic, _sender, ev in
                        [events.receive_nowait() for _ in range(3)]]

    assert [("p", 1.0, 3.0), ("p", 2.0, 3.0), ("p", 3.0, 3.0)] == trio.run(main)


# -- general targets ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_regression_targets_of_any_shape_come_back_as_float_y(backend, tmp_path):
    """Float targets (N, 2) train a regressor; its Prediction has y (B, 2), no labels."""
    x, y = _regression()

    async def body(k, name):
        await k.call(name, P.Train(x=x, y=y, epochs=40, wait=True, options={"lr": 0.3}), timeout=60)
        return (await k.call(name, P.Predict(x=x), timeout=30),
                await k.call(name, P.Evaluate(x=x, y=y), timeout=30))

    pred, ev = _run(tmp_path, body, *backend)
    assert ((64, 2), "float32", None, None) == (tuple(pred.y.numpy().shape), pred.y.dtype, pred.labels, pred.scores)
    assert (64, "input_magnitude") == (len(pred.uncertainty), pred.uncertainty_kind)
    assert ev.metrics["mse"] < 0.5


def test_integer_targets_classify_with_labels_scores_and_y():
    """Integer labels train a classifier: labels, scores (B, classes) and y the labels."""
    x, y = _classes()

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Toy, policy="default")
            await k.call("toy", P.Train(x=x, y=y, epochs=60, wait=True, options={"lr": 0.5}), timeout=60)
            return await k.call("toy", P.Predict(x=x), timeout=30)

    pred = trio.run(main)
    assert pred.labels == [int(v) for v in pred.y.numpy()]
    assert (60, 3) == tuple(pred.scores.numpy().shape)
    assert np.mean(np.asarray(pred.labels) == y.numpy()) > 0.9


def test_classification_targets_that_are_not_integers_are_refused_with_the_dtype():
    """task="classify" with float targets says what it needs."""
    x, y = _regression()

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Toy, policy="default")
            await k.call("toy", P.Train(x=x, y=y, task="classify"), timeout=30)

    with pytest.raises(neuro.RemoteError, match=r"Train.y for classification must hold one integer label per "
                                                r"example, got dtype float32 and shape \(64, 2\)"):
        trio.run(main)


# -- describe -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_describe_lists_tasks_options_with_type_range_and_meaning(backend, tmp_path):
    """Describe names the learner, its tasks, each option's type, default, range and comment."""

    async def body(k, name):
        return await k.call(name, P.Describe(), timeout=30)

    d = _run(tmp_path, body, *backend)
    by_name = {o.name: o for o in d.options}
    assert (backend[0].name, ["classify", "regress"], 1, 2) == (d.name, d.tasks, d.max_jobs, d.protocol)
    assert ("float", 0.1, [0.0, None]) == (by_name["lr"].value_type, by_name["lr"].default, by_name["lr"].range)
    assert "Step size of gradient descent on the mean squared error." == by_name["lr"].help
    assert ["", "classify", "regress"] == by_name["task"].choices
    assert (False, None) == (d.trained, d.input_shape)


# -- weights by reference -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_snapshot_is_an_artifact_by_hash_that_restore_loads_after_a_restart(backend, tmp_path):
    """Snapshot -> WeightsRef (sha256 of the stored bytes); Restore(hash) in a fresh instance
    predicts as the snapshot did."""
    x, y = _regression()

    async def body(k, name):
        await k.call(name, P.Train(x=x, y=y, epochs=5, wait=True), timeout=60)
        ref = await k.call(name, P.Snapshot(), timeout=30)
        before = await k.call(name, P.Predict(x=x), timeout=30)
        inline = await k.call(name, P.Snapshot(inline=True), timeout=30)
        await k.restart(name)
        restored = await k.call(name, P.Restore(hash=ref.hash), timeout=30)
        after = await k.call(name, P.Predict(x=x), timeout=30)
        return ref, inline, before, restored, after

    ref, inline, before, restored, after = _run(tmp_path, body, *backend)
    stored = msgspec.msgpack.encode(inline)
    assert (hashlib.sha256(stored).hexdigest(), len(stored), "toy", 1) == (
        ref.hash, ref.size, ref.format, ref.format_version)
    assert (1, ref.hash) == (restored.version, restored.hash)
    assert before.y == after.y


def test_inline_weights_restore_and_large_ones_are_refused_inline(tmp_path):
    """Small weights travel inline both ways; over the learner's inline limit they are refused."""
    x, y = _regression()

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(Toy, policy="default")
            await k.spawn(SmallInline, policy="default")
            await k.call("toy", P.Train(x=x, y=y, epochs=2, wait=True), timeout=30)
            weights = await k.call("toy", P.Snapshot(inline=True), timeout=30)
            restored = await k.call("small-inline", P.Restore(weights=weights), timeout=30)
            try:
                await k.call("small-inline", P.Snapshot(inline=True), timeout=30)
            except neuro.RemoteError as e:
                return restored, str(e)

    restored, refused = trio.run(main)
    assert 1 == restored.version
    assert "over the 64 that travel inline; send Snapshot() for a reference" in refused


def test_without_a_log_snapshot_answers_small_weights_inline():
    """A kernel with no artifact store answers Snapshot with the Weights themselves."""
    x, y = _regression()

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Toy, policy="default")
            await k.call("toy", P.Train(x=x, y=y, epochs=1, wait=True), timeout=30)
            return await k.call("toy", P.Snapshot(), timeout=30)

    assert ("toy", 1) == (lambda w: (w.format, w.version))(trio.run(main))


def test_restore_takes_a_hash_or_weights_and_says_so():
    """Restore with neither is refused, naming both."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Toy, policy="default")
            await k.call("toy", P.Restore(), timeout=30)

    with pytest.raises(neuro.RemoteError, match="Restore takes `hash` \\(from Snapshot's WeightsRef\\) or inline"):
        trio.run(main)


def test_generate_on_a_learner_without_the_capability_says_so():
    """Generate on a learner that cannot run backwards is refused, naming the capability."""
    x, y = _classes()

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Toy, policy="default")
            await k.call("toy", P.Train(x=x, y=y, epochs=1, wait=True), timeout=30)
            await k.call("toy", P.Generate(labels=[0]), timeout=30)

    with pytest.raises(neuro.RemoteError, match=r"toy cannot generate inputs \(no 'generate' capability\)"):
        trio.run(main)


def test_sleep_is_the_learners_consolidation_run_as_a_hook(tmp_path):
    """The sleep hook runs the learner's consolidate and returns what it said."""
    x, y = _regression()

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Toy, policy="default")
            await k.call("toy", P.Train(x=x, y=y, epochs=2, wait=True), timeout=30)
            return await k.hook("toy", "sleep")

    assert {"epochs": 2} == trio.run(main)
