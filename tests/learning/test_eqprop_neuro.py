"""The eqprop neuro speaking protocol v2 in the kernel's process: jobs, predictions with their
settling time, Generate, weights, Describe, hooks. (The same through the process sandbox:
test_eqprop_service.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import trio

pytest.importorskip("torch")

import neuro  # noqa: E402
from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.eqprop import EqPropNeuro  # noqa: E402

TINY = {"hidden": [16], "device": "cpu"}


class InprocEqProp(EqPropNeuro):
    """eqprop in the kernel's process, for tests that look inside the instance."""

    sandbox = "inproc"


def _inline(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return P.Array.of(rng.random((n, 3, 4)).astype(np.float32)), P.Array.of(rng.integers(0, 3, n))


def _run(tmp_path, *msgs, events: str | None = None):
    """Each message's answer (an exception for a refused one), and the events on `events`."""

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(InprocEqProp, policy="default")
            seen, answers = [], []
            async with k.subscribe(events or "nothing") as channel:
                for m in msgs:
                    try:
                        answers.append(await k.call("learning.eqprop", m, timeout=120))
                    except neuro.RemoteError as e:
                        answers.append(e)
                while True:
                    try:
                        seen.append(channel.receive_nowait()[2])
                    except trio.WouldBlock:
                        break
            return answers, seen

    return trio.run(main)


def test_train_waits_when_asked_and_publishes_one_progress_event_per_epoch(tmp_path):
    """Train(wait=True) answers the TrainResult; each epoch is a Progress event."""
    x, y = _inline()
    (res,), events = _run(tmp_path, P.Train(x=x, y=y, epochs=2, options=TINY, job="j", wait=True),
                          events="progress.learning.eqprop")
    assert ("j", 2) == (res.job, res.epochs)
    assert [("j", 1.0), ("j", 2.0)] == [(e.job, e.done) for e in events]


def test_train_answers_a_job_handle_and_status_reports_it_done(tmp_path):
    """Train answers JobStarted at once; Status after the job says done with its epochs."""
    x, y = _inline()

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(InprocEqProp, policy="default")
            started = await k.call("learning.eqprop", P.Train(x=x, y=y, epochs=2, options=TINY, job="fit"))
            with trio.fail_after(120):
                while (status := await k.call("learning.eqprop", P.Status())).state == "running":
                    await trio.sleep(0.05)
            return started, status

    started, status = trio.run(main)
    assert ("fit", 2.0, "epoch") == (started.job, started.total, started.unit)
    assert ("fit", "done", 2.0) == (status.job, status.state, status.done)
    assert status.checkpoint and "test_accuracy" not in status.metrics  # inline data: no test split


def test_predict_returns_labels_scores_y_and_settling_steps_as_uncertainty(tmp_path):
    """Each prediction carries its labels as y, scores per class, and its settling time."""
    x, y = _inline()
    (_, pred), _ = _run(tmp_path, P.Train(x=x, y=y, options=TINY, wait=True), P.Predict(x=x))
    assert (48, "settling_steps") == (len(pred.uncertainty), pred.uncertainty_kind)
    assert (48, 3) == tuple(pred.scores.numpy().shape)
    assert pred.labels == [int(v) for v in pred.y.numpy()]


def test_predict_with_the_wrong_shape_names_the_expected_one(tmp_path):
    """A Predict of the wrong input shape fails with the shape it needs."""
    x, y = _inline()
    (_, err), _ = _run(tmp_path, P.Train(x=x, y=y, options=TINY, wait=True),
                       P.Predict(x=P.Array.of(np.zeros((2, 5), np.float32))))
    assert "Predict.x has shape (2, 5); this learner takes (B, 3, 4) or (B, 12)" in str(err)


def test_train_on_an_unknown_dataset_names_the_known_ones(tmp_path):
    """Train(dataset=...) with a name nobody knows lists the registry's and eqprop's own."""
    (err,), _ = _run(tmp_path, P.Train(dataset="imagenet"))
    assert "unknown dataset 'imagenet'" in str(err) and "eqprop's own: digits, mnist1d, mnist5k" in str(err)


def test_regression_targets_are_refused_with_what_eqprop_learns(tmp_path):
    """eqprop classifies: float targets are refused, saying so."""
    x, _ = _inline()
    (err,), _ = _run(tmp_path, P.Train(x=x, y=P.Array.of(np.zeros((48, 2), np.float32)), options=TINY))
    assert "learning.eqprop learns classification (integer labels, one per example); this data is a regress task" \
        in str(err)


def test_predict_before_training_says_to_train_first(tmp_path):
    """A fresh neuro asked to predict says what to send first."""
    x, _ = _inline()
    (err,), _ = _run(tmp_path, P.Predict(x=x))
    assert "send Train (or Restore weights) first" in str(err)


def test_snapshot_restore_by_hash_gives_the_same_predictions(tmp_path):
    """Weights kept by reference and restored predict identically; inline weights agree."""
    x, y = _inline()
    (_, ref, before, inline, restored, after), _ = _run(
        tmp_path, P.Train(x=x, y=y, options=TINY, wait=True), P.Snapshot(), P.Predict(x=x),
        P.Snapshot(inline=True), P.Restore(hash=""), P.Predict(x=x))
    assert ("learning.eqprop", 2) == (ref.format, ref.format_version)
    assert "Restore takes `hash`" in str(restored)
    assert before.scores == after.scores
    assert (2, "learning.eqprop") == (inline.version, inline.format)


def test_restore_by_hash_into_a_fresh_instance(tmp_path):
    """A restarted instance loads the snapshot by its hash and predicts as before."""
    x, y = _inline()

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(InprocEqProp, policy="default")
            await k.call("learning.eqprop", P.Train(x=x, y=y, options=TINY, wait=True), timeout=120)
            ref = await k.call("learning.eqprop", P.Snapshot())
            before = await k.call("learning.eqprop", P.Predict(x=x))
            await k.restart("learning.eqprop")
            restored = await k.call("learning.eqprop", P.Restore(hash=ref.hash))
            return ref, before, restored, await k.call("learning.eqprop", P.Predict(x=x))

    ref, before, restored, after = trio.run(main)
    assert (2, None, ref.hash) == (restored.version, restored.migrated_from, restored.hash)
    assert before.scores == after.scores


def test_cancel_then_resume_continues_the_optimiser_where_it_stopped(tmp_path):
    """A cancelled eqprop job, resumed after a restart from its checkpoint (weights, Adam state,
    data order), ends with the weights of a run that was never stopped."""
    x, y = _inline(n=64)

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(InprocEqProp, policy="default")
            await k.call("learning.eqprop", P.Train(x=x, y=y, epochs=8, batch_size=16, options=TINY, job="r"))
            with trio.fail_after(120):
                while (await k.call("learning.eqprop", P.Status())).done < 1:
                    await trio.sleep(0.05)
            cancelled = await k.call("learning.eqprop", P.Cancel(job="r"))
            await k.restart("learning.eqprop")
            resumed = await k.call("learning.eqprop", P.Resume(job="r", wait=True), timeout=300)
            interrupted = await k.call("learning.eqprop", P.Snapshot(inline=True))
            await k.call("learning.eqprop", P.Train(x=x, y=y, epochs=8, batch_size=16, options=TINY, fresh=True,
                                                    wait=True), timeout=300)
            return cancelled, resumed, interrupted, await k.call("learning.eqprop", P.Snapshot(inline=True))

    cancelled, resumed, interrupted, straight = trio.run(main)
    assert ("cancelled", True) == (cancelled.state, 1 <= cancelled.done < 8)
    assert (8, "r") == (resumed.epochs, resumed.job)
    assert straight.data == interrupted.data  # the same weights as a run that was never stopped


def test_migrate_hook_upgrades_version_1_state():
    """The migrate classmethod lifts a version-1 snapshot to the current version."""
    from neuro.neuros.learning.eqprop import weights as wf
    from neuro.neuros.learning.eqprop.config import EqPropConfig
    from neuro.neuros.learning.eqprop.train import Learner

    net = Learner(EqPropConfig(hidden=(16,), seed=0, device="cpu"), (12,), 3).net
    old = wf.encode_v1((16,), 0.2, net.sizes, [w.numpy() for w in net.W], [b.numpy() for b in net.b])
    assert 2 == EqPropNeuro.migrate("some-old-code-hash", old).version


def test_generate_makes_one_input_per_label_in_the_input_shape(tmp_path):
    """Generate(labels) answers Generated: input-shaped x, the labels, the self-agreement."""
    x, y = _inline()
    (_, gen, bad), _ = _run(tmp_path, P.Train(x=x, y=y, options=TINY, wait=True), P.Generate(labels=[0, 2]),
                            P.Generate(labels=[7]))
    assert ((2, 3, 4), [0, 2]) == (tuple(gen.x.numpy().shape), gen.labels)
    assert 0.0 <= gen.metrics["self_agreement"] <= 1.0
    assert "Generate.labels must be non-empty class indices in [0, 3), got [7]" in str(bad)


def test_sleep_generates_one_input_per_class_and_publishes_them(tmp_path):
    """The sleep hook returns and publishes one input-shaped Generated per class."""
    x, y = _inline()

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(InprocEqProp, policy="default")
            async with k.subscribe("sleep.learning.eqprop") as channel:
                await k.call("learning.eqprop", P.Train(x=x, y=y, options=TINY, wait=True), timeout=120)
                result = await k.hook("learning.eqprop", "sleep")
                return result, channel.receive_nowait()[2]

    result, published = trio.run(main)
    assert [0, 1, 2] == result.labels
    assert ([0, 1, 2], (3, 3, 4)) == (published.labels, tuple(published.x.numpy().shape))


def test_describe_says_what_eqprop_is(tmp_path):
    """Describe: classification, the gpu/generate/sleep/online capabilities, every config
    field as an option with its meaning, and the shapes once trained."""
    x, y = _inline()
    (before, _, after), _ = _run(tmp_path, P.Describe(), P.Train(x=x, y=y, options=TINY, wait=True), P.Describe())
    options = {o.name: o for o in before.options}
    assert (["classify"], ["gpu", "generate", "sleep", "online"]) == (before.tasks, before.capabilities)
    assert ("float", 0.05, [0.0, 1.0]) == (options["beta"].value_type, options["beta"].default, options["beta"].range)
    assert ["centred", "one-sided"] == options["nudge"].choices
    assert options["beta"].help.startswith("Nudge strength.")
    assert ("learning.eqprop", 2, "digits" in before.datasets) == (before.weight_format, before.weight_version, True)
    assert (None, [3, 4], [3], True) == (before.input_shape, after.input_shape, after.output_shape, after.trained)


def test_selfcheck_passes_after_training(tmp_path):
    """A trained net passes its own selfcheck (finite weights, bound kept)."""
    x, y = _inline()

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(InprocEqProp, policy="default")
            await k.call("learning.eqprop", P.Train(x=x, y=y, options=TINY, wait=True), timeout=120)
            return await k.hook("learning.eqprop", "selfcheck")

    assert None is trio.run(main)


def test_the_manifest_declares_the_learning_policy():
    """The neuro runs under the learning policy with its name, several handlers at once."""
    m = EqPropNeuro.__manifest__
    assert ("learning.eqprop", "learning", 4) == (m.name, m.policy, m.policy_overrides["concurrency"])
