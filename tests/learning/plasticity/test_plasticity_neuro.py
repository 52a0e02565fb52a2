"""learning.plasticity speaking protocol v2 through a real kernel (in its process, and once in
the process sandbox): meta-train as a job, learn an episode, recall, evaluate with baselines,
snapshot/restore by hash, sleep, Describe, and bad input refused with what to send."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import trio

pytest.importorskip("torch")

import neuro  # noqa: E402
from neuro import Policy  # noqa: E402
from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.plasticity import PlasticityNeuro  # noqa: E402
from neuro.neuros.learning.plasticity.tasks import random_tasks  # noqa: E402

TINY = {"dim": 8, "k_min": 2, "k_max": 4, "genome_hidden": 4, "tasks_per_step": 4, "steps_per_stage": 2,
        "validation_tasks": 8, "device": "cpu"}
NAME = "learning.plasticity"


class InprocPlasticity(PlasticityNeuro):
    """The learner in the kernel's process, for tests."""

    sandbox = "inproc"


def _episode(k=3, dim=8, seed=0):
    cues, targets = random_tasks(1, k, dim, seed)
    return P.Array.of(cues[0]), P.Array.of(targets[0])


def _run(tmp_path, *msgs, cls=InprocPlasticity, policy="default", events="nothing", policies=None):
    """Each message's answer (the RemoteError for a refused one) and the events on `events`."""

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db"), policies=policies or {}) as k:
            await k.spawn(cls, policy=policy)
            answers, seen = [], []
            async with k.subscribe(events) as channel:
                for m in msgs:
                    try:
                        answers.append(await (k.hook(NAME, "sleep") if m == "sleep" else k.call(NAME, m, timeout=120)))
                    except neuro.RemoteError as e:
                        answers.append(e)
                while True:
                    try:
                        seen.append(channel.receive_nowait()[2])
                    except trio.WouldBlock:
                        break
            return answers, seen

    return trio.run(main)


def test_train_meta_trains_in_stages_and_reports_validation_and_test_with_the_hebbian_baseline(tmp_path):
    """Train(wait) runs 2 stages (a Progress event each: alpha 1, then 0) and ends with test metrics."""
    (res,), events = _run(tmp_path, P.Train(epochs=2, options=TINY, job="meta", wait=True),
                          events=f"progress.{NAME}")
    assert ("meta", 2) == (res.job, res.epochs)
    assert [(1.0, 1.0), (2.0, 0.0)] == [(e.done, e.metrics["alpha"]) for e in events]
    assert {"test_bit_accuracy", "test_hebbian_bit_accuracy", "test_delta_bit_accuracy", "val_bit_accuracy_k4"} \
        <= res.metrics.keys()
    assert ("assoc-stream", 4) == (res.dataset, res.steps)


def test_a_stored_episode_is_recalled_from_the_cues_alone_and_predict_changes_nothing(tmp_path):
    """Step stores 3 pairs; Predict answers +-1 bits of the cues' shape, twice the same."""
    x, y = _episode()
    train = P.Train(dataset="assoc-d8-k3", epochs=1, options=TINY, wait=True)
    res, step, first, second, ev = _run(tmp_path, train, P.Step(x=x, y=y), P.Predict(x=x), P.Predict(x=x),
                                        P.Evaluate(x=x, y=y))[0]
    bits = first.y.numpy()
    assert ((3, 8), {-1.0, 1.0} >= set(np.unique(bits))) == (bits.shape, True)
    assert first.y == second.y
    assert ("1-mean|response|", 3) == (first.uncertainty_kind, len(first.uncertainty))
    assert step.metrics["bit_accuracy"] == ev.metrics["bit_accuracy"]
    assert (3.0, res.dataset) == (step.metrics["stored"], "assoc-d8-k3")


def test_evaluate_on_a_family_scores_fresh_lifetimes_beside_the_baselines(tmp_path):
    """Evaluate(dataset=assoc-d8-k3) scores the 512 test tasks, with Hebbian and delta beside."""
    train = P.Train(dataset="assoc-d8-k3", epochs=1, options=TINY, wait=True)
    _, ev = _run(tmp_path, train, P.Evaluate(dataset="assoc-d8-k3"))[0]
    assert 512 == ev.n
    assert all(0.0 <= ev.metrics[k] <= 1.0 for k in ("bit_accuracy", "hebbian_bit_accuracy", "delta_bit_accuracy"))


def test_snapshot_and_restore_by_hash_bring_back_the_genome_and_the_memory(tmp_path):
    """After Restore(hash) of a snapshot taken before more pairs were stored, Predict is as before."""
    x, y = _episode()
    x2, y2 = _episode(k=4, seed=9)
    answers, _ = _run(tmp_path, P.Train(epochs=1, options=TINY, wait=True), P.Step(x=x, y=y), P.Predict(x=x),
                      P.Snapshot(), P.Step(x=x2, y=y2), P.Restore(hash=""), P.Predict(x=x))
    assert isinstance(answers[5], neuro.RemoteError)  # an empty hash and no weights: refused
    before, ref = answers[2], answers[3]
    answers2, _ = _run(tmp_path, P.Train(epochs=1, options=TINY, wait=True), P.Restore(hash=ref.hash),
                       P.Predict(x=x))
    assert (P.WeightsRef, "learning.plasticity", 2) == (type(ref), ref.format, ref.format_version)
    assert (2, None) == (answers2[1].version, answers2[1].migrated_from)
    assert before.y == answers2[2].y


def test_sleep_prunes_and_replays_and_publishes_what_it_did(tmp_path):
    """The sleep hook returns the pruned count and recall before and after, also as an event."""
    x, y = _episode(k=4)
    answers, events = _run(tmp_path, P.Train(epochs=1, options=TINY, wait=True), P.Step(x=x, y=y), "sleep",
                           events=f"sleep.{NAME}")
    report = answers[2]
    assert (4.0, float(int(0.2 * 64))) == (report["buffered"], report["pruned"])
    assert [report] == events


def test_describe_lists_recall_its_options_capabilities_and_families(tmp_path):
    """Describe: the recall task, every config option with its help, and the weight format."""
    (d,), _ = _run(tmp_path, P.Describe())
    options = {o.name: o for o in d.options}
    assert (["recall"], ["gpu", "sleep", "online"], False) == (d.tasks, d.capabilities, d.trained)
    assert {"homeostasis", "teacher_forcing", "steps_per_stage", "prune_fraction"} <= options.keys()
    assert ["recall", "off"] == options["teacher_forcing"].choices
    assert "Row-wise L2" in options["homeostasis"].help
    assert ("learning.plasticity", 2, "assoc-d32-k12") == (d.weight_format, d.weight_version, d.datasets[1])


@pytest.mark.parametrize("msg, says", [
    (P.Train(dataset="mnist", options=TINY), "knows task families named assoc-d<D>-k<K>"),
    (P.Train(options={"dimension": 3}), "unknown option(s) dimension for learning.plasticity; known:"),
    (P.Train(x=P.Array.of(np.ones((4, 3), np.float32)), y=P.Array.of(np.ones((4, 2), np.float32))),
     "Train takes episodes: x (cues) and y (targets) of one shape (N, K, D)"),
    (P.Predict(x=P.Array.of(np.ones((2, 8), np.float32))), "Predict needs a trained learner"),
])
def test_bad_requests_are_refused_saying_what_to_send(tmp_path, msg, says):
    """Each bad request comes back as an error that names what to send instead; the learner serves on."""
    (err, d), _ = _run(tmp_path, msg, P.Describe())
    assert isinstance(err, neuro.RemoteError) and says in str(err)
    assert NAME == d.name


def test_cues_of_the_wrong_width_are_refused_naming_the_shape(tmp_path):
    """Predict with (2, 5) cues to a D=8 cortex says it takes (B, 8)."""
    answers, _ = _run(tmp_path, P.Train(epochs=1, options=TINY, wait=True),
                      P.Predict(x=P.Array.of(np.ones((2, 5), np.float32))))
    assert "Predict.x must be cues of shape (B, 8)" in str(answers[1])


BOXED = Policy(name="boxed-learning", sandbox="process", sandboxes=("process",), mailbox_size=256,
               max_message_bytes=64 << 20)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_the_learner_meta_trains_and_recalls_in_the_process_sandbox(tmp_path):
    """The unmodified neuro in the process sandbox: Train, Step, Predict answer as in-process."""
    x, y = _episode()
    answers, _ = _run(tmp_path, P.Train(epochs=1, options=TINY, wait=True), P.Step(x=x, y=y), P.Predict(x=x),
                      cls=PlasticityNeuro, policy="boxed-learning", policies={"boxed-learning": BOXED})
    assert (1, (3, 8)) == (answers[0].epochs, tuple(answers[2].y.numpy().shape))


def test_importing_the_learner_imports_no_torch():
    """The package, its neuro and its config load without torch (the kernel may import them)."""
    import subprocess
    import sys

    code = ("import sys, neuro.neuros.learning.plasticity, neuro.neuros.learning.plasticity.config; "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (0, "False") == (done.returncode, done.stdout.strip())


def test_the_learner_is_installed_under_its_entry_point():
    """pyproject declares `plasticity` in neuro.learners; the registry reads its description unimported."""
    from neuro.neuros.learning.registry import installed

    entry = installed()["plasticity"]
    assert ("neuro.neuros.learning.plasticity.neuro:PlasticityNeuro",
            "Meta-learns a local plasticity rule (a genome started at Hebbian) for one-shot recall.") == (
        entry.spec, entry.description)
