"""learning.marble through a real kernel: Train on a data set of the registry, Predict,
Evaluate, Describe, Snapshot/Restore, Step, sleep (the dream daemon's hook), bad options;
parallel wanderers as neuros in the process sandbox, the local fallback and its refusal; an
exact resume from a job's checkpoint state."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import trio

import neuro
from neuro import Policy
from neuro.neuros.learning import protocol as P
from neuro.neuros.learning.marble import MarbleNeuro, MarbleWanderer

BOXED = Policy(name="boxed-wanderer", sandbox="process", sandboxes=("process",), mailbox_size=256,
               max_message_bytes=64 << 20)
SMALL = {"input_neurons": 16, "core_neurons": 8}
NAME = "learning.marble"


def _run(tmp_path, body, wanderers=0):
    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db"), policies={"boxed-wanderer": BOXED}) as k:
            await k.spawn(MarbleNeuro, policy="default")
            for i in range(wanderers):
                await k.spawn(MarbleWanderer, policy="boxed-wanderer", name=f"learning.marble.wanderer-{i}")
            return await body(k)

    return trio.run(main)


def _sine(n=60):
    x = np.linspace(0, 2 * np.pi, n, dtype=np.float32)[:, None]
    return P.Array.of(x), P.Array.of(np.sin(x[:, 0]).astype(np.float32))


def test_it_trains_on_a_registry_data_set_and_serves_predict_and_evaluate(tmp_path):
    """Train(dataset="diabetes") ends with test metrics; Predict answers one value an input
    with its entry distance; Evaluate on the test split agrees with the job's test_mse."""
    async def body(k):
        res = await k.call(NAME, P.Train(dataset="diabetes", epochs=2, options=SMALL, wait=True), timeout=120)
        pred = await k.call(NAME, P.Predict(x=P.Array.of(np.zeros((3, 10), np.float32))), timeout=60)
        ev = await k.call(NAME, P.Evaluate(dataset="diabetes", split="test"), timeout=60)
        return res, pred, ev

    res, pred, ev = _run(tmp_path, body)
    assert "diabetes" == res.dataset and res.dataset_hash
    assert [3] == pred.y.shape and "entry_distance" == pred.uncertainty_kind and 3 == len(pred.uncertainty)
    assert res.metrics["test_mse"] == pytest.approx(ev.metrics["mse"])


def test_describe_lists_every_option_with_its_range_and_meaning(tmp_path):
    async def body(k):
        return await k.call(NAME, P.Describe(), timeout=60)

    d = _run(tmp_path, body)
    names = {o.name: o for o in d.options}
    assert ["regress", "classify"] == d.tasks and "sleep" in d.capabilities and "diabetes" in d.datasets
    assert [0.0, 1.0] == names["backtrack_probability"].range
    assert ["relu", "linear", "tanh"] == names["combine_fn"].choices
    assert "marble" == d.weight_format


def test_a_bad_option_is_refused_naming_the_known_ones_and_the_learner_serves_on(tmp_path):
    x, y = _sine()

    async def body(k):
        with pytest.raises(neuro.RemoteError, match="known options: core_neurons"):
            await k.call(NAME, P.Train(x=x, y=y, options={"no_such": 1}, wait=True), timeout=60)
        with pytest.raises(neuro.RemoteError, match="`torrent_client` has no meaning in Neuro"):
            await k.call(NAME, P.Train(x=x, y=y, options={"torrent_client": "tracker"}, wait=True), timeout=60)
        return await k.call(NAME, P.Train(x=x, y=y, epochs=1, options=SMALL, wait=True), timeout=60)

    assert 1 == _run(tmp_path, body).epochs


def test_snapshot_restore_step_and_sleep(tmp_path):
    """Restored weights predict as the snapshot did; Step learns online; sleep (the dream
    daemon's hook) replays and decays the weights, and publishes what it did."""
    x, y = _sine()

    async def body(k):
        await k.call(NAME, P.Train(x=x, y=y, epochs=2, options=SMALL, wait=True), timeout=60)
        ref = await k.call(NAME, P.Snapshot(), timeout=60)
        before = (await k.call(NAME, P.Predict(x=x), timeout=60)).y.numpy()
        step = await k.call(NAME, P.Step(x=x, y=y), timeout=60)
        slept = await k.hook(NAME, "sleep")
        after_sleep = (await k.call(NAME, P.Predict(x=x), timeout=60)).y.numpy()
        await k.call(NAME, P.Restore(hash=ref.hash), timeout=60)
        again = (await k.call(NAME, P.Predict(x=x), timeout=60)).y.numpy()
        return ref, before, step, slept, after_sleep, again

    ref, before, step, slept, after_sleep, again = _run(tmp_path, body)
    assert ("marble", 1) == (ref.format, ref.format_version)
    assert np.array_equal(before, again)
    assert step.loss >= 0 and step.metrics["synapses"] > 0
    assert 0 < slept["dream_decay"] < 1 and slept["replayed"] > 0
    assert not np.array_equal(before, after_sleep)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_two_wanderer_neuros_train_their_shares_in_their_own_processes(tmp_path):
    x, y = _sine(120)

    async def body(k):
        res = await k.call(NAME, P.Train(x=x, y=y, epochs=2, options={**SMALL, "parallel_wanderers": 2,
                                                                        "remote_fallback": False,
                                                                        "parallel_chunk_size": 16}, wait=True),
                           timeout=240)
        one = await k.call(NAME, P.Train(x=x, y=y, epochs=1, fresh=True, wait=True,
                                         options={**SMALL, "parallel_wanderers": 1, "wanderer_neuros": True,
                                                  "remote_fallback": False}), timeout=240)
        procs = {p.name: p for p in k.ps()}
        return res, one, procs

    res, one, procs = _run(tmp_path, body, wanderers=2)
    assert 1.0 == one.metrics["wanderer_processes"]  # wanderer_neuros: one wanderer neuro, not the learner
    assert 0.0 == res.metrics["fallbacks"] and res.steps > 0
    # two processes other than the learner's (each reply names its interpreter) trained shares
    assert 2.0 == res.metrics["wanderer_processes"] and res.metrics["worker_cpu_s"] > 0
    for i in range(2):  # each answered wander requests, from its own sandboxed process
        w = procs[f"learning.marble.wanderer-{i}"]
        assert ("process", True) == (w.sandbox, w.handled > 0)


def test_without_wanderer_neuros_it_falls_back_to_wandering_itself_or_fails_saying_what_to_spawn(tmp_path):
    x, y = _sine()
    opts = {**SMALL, "parallel_wanderers": 2, "remote_timeout": 5.0}

    async def body(k):
        ok = await k.call(NAME, P.Train(x=x, y=y, epochs=1, options=opts, wait=True), timeout=60)
        avg = await k.call(NAME, P.Train(x=x, y=y, epochs=1, fresh=True, wait=True,
                                         options={**opts, "parallel_update_strategy": "average"}), timeout=60)
        with pytest.raises(neuro.RemoteError, match="named learning.marble.wanderer-0, learning.marble.wanderer-1"):
            await k.call(NAME, P.Train(x=x, y=y, epochs=1, fresh=True, wait=True,
                                       options={**opts, "remote_fallback": False}), timeout=60)
        return ok, avg

    ok, avg = _run(tmp_path, body)
    assert ok.metrics["fallbacks"] > 0 and avg.metrics["fallbacks"] > 0
    assert 0.0 == ok.metrics["wanderer_processes"]  # the shares were trained in the learner's process
    assert ok.metrics["val_mse"] != avg.metrics["val_mse"]  # the merged weights differ: summed or mean delta


def test_a_job_resumed_from_its_checkpoint_state_ends_with_the_weights_of_one_never_stopped():
    """save_job after 2 of 4 epochs, load_job, 2 more: the same weights as 4 in a row."""
    from neuro.neuros.learning.traindata import inline_data

    x, y = _sine()
    data = inline_data(x, y)

    class _Job:
        def __init__(self):
            self.total, self.done = 4.0, 0.0

    def epochs(learner, model, job, n):
        for _ in range(n):
            job.done += learner.fit_steps(model, data, job)[0]

    a = MarbleNeuro()
    model, _, _ = a.begin(P.Train(epochs=4, options=SMALL), data, None)
    job = _Job()
    epochs(a, model, job, 2)
    blob = a.save_job(model)
    epochs(a, model, job, 2)
    b = MarbleNeuro()
    resumed = b.load_job(blob)
    resumed.data = model.data
    job2 = _Job()
    job2.done = 2.0
    epochs(b, resumed, job2, 2)
    assert np.array_equal(model.net.core.w, resumed.net.core.w)
