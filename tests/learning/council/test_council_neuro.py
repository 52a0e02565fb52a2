"""learning.council speaking protocol v2 through a real kernel (in the kernel's process):
Describe, Train jobs on streams, Step as a service, Predict with System 1's entropy,
Evaluate, Snapshot/Restore by hash, the sleep hook, and bad input refused with the fix."""

from __future__ import annotations

import numpy as np
import pytest
import trio

pytest.importorskip("torch")

import neuro  # noqa: E402
from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.council import CouncilNeuro  # noqa: E402
from neuro.neuros.learning.council.world import make_world, windows_at  # noqa: E402

TINY = {"dim": 16, "heads": 2, "voices": 2, "max_ponder": 2, "memory_slots": 4, "batch_size": 4, "slice_steps": 10,
        "device": "cpu"}


class InprocCouncil(CouncilNeuro):
    """The council in the kernel's process, for tests."""

    sandbox = "inproc"


def _streams(steps=20, seed=0):
    w = make_world(streams=4, steps=steps, seed=seed)
    return w, P.Array.of(w.x), P.Array.of(w.y)


def _run(tmp_path, *msgs, hook: str | None = None):
    """Each message's answer (a RemoteError for a refused one), then the hook's result."""

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(InprocCouncil, policy="default")
            answers = []
            for m in msgs:
                try:
                    answers.append(await k.call("learning.council", m, timeout=120))
                except neuro.RemoteError as e:
                    answers.append(e)
            if hook:
                answers.append(await k.hook("learning.council", hook))
            return answers

    return trio.run(main)


def test_describe_names_the_sequence_task_its_data_set_and_options():
    """Describe: task sequence, capabilities gpu/sleep/online, its own PatternWorld, every option."""
    (d,) = _run_plain(P.Describe())
    assert (["sequence"], ["gpu", "sleep", "online"]) == (d.tasks, d.capabilities)
    assert "patternworld_rules" in d.datasets
    names = [o.name for o in d.options]
    assert {"gate", "voices", "max_ponder", "distill_temperature", "memory_slots", "surprise_threshold",
            "alarm_decay"} <= set(names)
    gate = next(o for o in d.options if o.name == "gate")
    assert ["doubt", "learnt", "entropy", "always", "never", "random", "batch"] == gate.choices
    assert "doubt" == gate.default


def _run_plain(*msgs):
    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(InprocCouncil, policy="default")
            return [await k.call("learning.council", m, timeout=60) for m in msgs]

    return trio.run(main)


def test_train_on_inline_streams_runs_a_job_of_online_steps(tmp_path):
    """Train(wait) steps through every stream: total = streams' steps, metrics of the online run."""
    _, x, y = _streams()
    res, status = _run(tmp_path, P.Train(x=x, y=y, options=TINY, job="s", wait=True), P.Status(job="s"))
    assert ("s", 20) == (res.job, res.epochs)
    assert ("done", 20.0, "step") == (status.state, status.done, status.unit)
    assert 0.0 <= res.metrics["online_accuracy"] <= 1.0 and "s2_rate" in res.metrics


def test_step_is_the_online_service_and_predict_carries_system1_entropy(tmp_path):
    """After Train, Step answers and learns (its metrics say how its own answers scored);
    Predict gives labels, scores and System 1's entropy as the uncertainty."""
    w, x, y = _streams()
    win = P.Array.of(windows_at(w.x, 19, 2))
    _, step, pred = _run(tmp_path, P.Train(x=x, y=y, options=TINY, wait=True),
                         P.Step(x=win, y=P.Array.of(w.y[:, 19])), P.Predict(x=win))
    assert {"accuracy", "s1_accuracy", "s2_rate", "ponder_steps"} <= set(step.metrics)
    scores = tuple(pred.scores.numpy().shape)
    assert (4, "s1_entropy", (4, 20)) == (len(pred.uncertainty), pred.uncertainty_kind, scores)
    assert pred.labels == [int(v) for v in pred.y.numpy()]


def test_evaluate_on_streams_reports_accuracy_and_system2_rate(tmp_path):
    """Evaluate on inline streams runs them online from fresh memories, without learning."""
    _, x, y = _streams()
    _, ev1, ev2 = _run(tmp_path, P.Train(x=x, y=y, options=TINY, wait=True), P.Evaluate(x=x, y=y),
                       P.Evaluate(x=x, y=y))
    assert {"accuracy", "s1_accuracy", "s2_rate"} == set(ev1.metrics)
    assert ev1.metrics == ev2.metrics  # no learning in between: the same answers


def test_snapshot_restore_by_hash_gives_the_same_predictions(tmp_path):
    """A snapshot restored into the learner answers as it did when taken (three windows: not
    the four trained streams, so each Predict starts from fresh memories, which are stream
    state and not weights)."""
    w, x, y = _streams()
    win = P.Array.of(windows_at(w.x, 10, 2)[:3])
    _, before, ref, _, _, restored, after = _snapshot_sequence(tmp_path, x, y, win)
    assert ("learning.council", 1) == (ref.format, ref.format_version)
    assert 1 == restored.version
    assert np.allclose(before.scores.numpy(), after.scores.numpy(), atol=1e-6)


def _snapshot_sequence(tmp_path, x, y, win):
    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(InprocCouncil, policy="default")
            call = lambda m: k.call("learning.council", m, timeout=120)  # noqa: E731
            a = await call(P.Train(x=x, y=y, options=TINY, wait=True))
            before = await call(P.Predict(x=win))
            ref = await call(P.Snapshot())
            b = await call(P.Train(x=x, y=y, options={**TINY, "lr": 0.05}, wait=True))
            moved = await call(P.Predict(x=win))
            restored = await call(P.Restore(hash=ref.hash))
            after = await call(P.Predict(x=win))
            assert not np.allclose(before.scores.numpy(), moved.scores.numpy())  # the second Train changed it
            return a, before, ref, b, moved, restored, after

    return trio.run(main)


def test_sleep_distils_and_reports_what_it_did(tmp_path):
    """The sleep hook (what the dream daemon calls) distils the teacher council into System 1."""
    _, x, y = _streams()
    _, slept = _run(tmp_path, P.Train(x=x, y=y, options={**TINY, "ema": 0.5}, wait=True), hook="sleep")
    assert slept["replayed"] > 0 and slept["kl_after"] <= slept["kl_before"]


def test_train_on_classification_labels_says_what_the_council_learns(tmp_path):
    """One label per example is refused with the shapes the council wants."""
    (err,) = _run(tmp_path, P.Train(x=P.Array.of(np.zeros((8, 3), np.float32)), y=P.Array.of(np.zeros(8, np.int64)),
                                    options=TINY))
    assert "learning.council learns sequences online: x (N, T) of integer symbols" in str(err)


def test_predict_with_a_short_window_names_the_shape_it_needs(tmp_path):
    """A window shorter than `window` is refused with the shape to send."""
    _, x, y = _streams()
    short = P.Array.of(np.zeros((2, 1), np.int64))
    _, err = _run(tmp_path, P.Train(x=x, y=y, options=TINY, wait=True), P.Predict(x=short))
    assert "Predict.x must be windows of integer symbols (B, 2)" in str(err)


def test_symbols_over_the_vocabulary_say_which_option_to_pass(tmp_path):
    """Data with a larger alphabet than the vocab option names the vocab to pass."""
    w, x, y = _streams()
    (err,) = _run(tmp_path, P.Train(x=x, y=y, options={**TINY, "vocab": 10}))
    assert "over this learner's vocab 10; pass options={'vocab': 20}" in str(err)
