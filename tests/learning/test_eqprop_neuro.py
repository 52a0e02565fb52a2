"""The eqprop neuro class driven directly (no kernel): protocol in, protocol out."""

from __future__ import annotations

import numpy as np
import pytest
import trio

pytest.importorskip("torch")

from neuro import sdk  # noqa: E402
from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.eqprop import EqPropNeuro  # noqa: E402

TINY = {"hidden": [16], "device": "cpu"}


class FakeContext(sdk.Context):
    """Records published events; runs blocking work inline in a thread like the kernel does."""

    name = "learning.eqprop"
    version = "test"

    def __init__(self):
        self.events = []

    async def send(self, to, payload, *, timeout=None):
        return 0

    async def call(self, to, payload, *, timeout=10.0):
        raise NotImplementedError

    async def publish(self, topic, payload):
        self.events.append((topic, payload))
        return 1

    async def run_sync(self, fn, *args):
        return await trio.to_thread.run_sync(fn, *args)


def _run(neuro, *msgs):
    ctx = FakeContext()

    async def main():
        return [await neuro.handle(ctx, m) for m in msgs]

    return trio.run(main), ctx


def _inline(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return P.Array.of(rng.random((n, 3, 4)).astype(np.float32)), P.Array.of(rng.integers(0, 3, n))


def test_train_publishes_one_progress_event_per_epoch():
    """Train on inline data reports each epoch on progress.learning.eqprop."""
    x, y = _inline()
    (res,), ctx = _run(EqPropNeuro(), P.Train(x=x, y=y, epochs=2, options=TINY, job="j"))
    assert ("j", 2) == (res.job, res.epochs)
    assert [("progress.learning.eqprop", 1.0), ("progress.learning.eqprop", 2.0)] == [
        (t, e.done) for t, e in ctx.events]


def test_predict_returns_settling_steps_as_uncertainty():
    """Each prediction carries its settling time, named as such."""
    x, y = _inline()
    (_, pred), _ = _run(EqPropNeuro(), P.Train(x=x, y=y, options=TINY), P.Predict(x=x))
    assert (48, "settling_steps") == (len(pred.uncertainty), pred.uncertainty_kind)
    assert (48, 3) == tuple(pred.scores.numpy().shape)


def test_predict_with_the_wrong_shape_names_the_expected_one():
    """A Predict of the wrong input shape fails with the shape it needs."""
    x, y = _inline()
    neuro = EqPropNeuro()
    _run(neuro, P.Train(x=x, y=y, options=TINY))
    with pytest.raises(ValueError, match=r"Predict.x has shape \(2, 5\); this learner takes \(B, 3, 4\) or \(B, 12\)"):
        _run(neuro, P.Predict(x=P.Array.of(np.zeros((2, 5), np.float32))))


def test_train_on_an_unknown_dataset_names_the_known_ones():
    """Train(dataset=...) with a name the neuro does not know lists the ones it does."""
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; this neuro knows: digits, mnist1d"):
        _run(EqPropNeuro(), P.Train(dataset="imagenet"))


def test_labels_of_the_wrong_length_are_refused():
    """Train with fewer labels than examples says how many it needs."""
    x, _ = _inline()
    with pytest.raises(ValueError, match=r"Train.y must have shape \(48,\)"):
        _run(EqPropNeuro(), P.Train(x=x, y=P.Array.of(np.zeros(3, np.int64)), options=TINY))


def test_predict_before_training_says_to_train_first():
    """A fresh neuro asked to predict says what to send first."""
    x, _ = _inline()
    with pytest.raises(ValueError, match="send Train \\(or Restore weights\\) first"):
        _run(EqPropNeuro(), P.Predict(x=x))


def test_snapshot_restore_round_trip_gives_the_same_predictions():
    """Weights from one neuro restored into a fresh one predict identically."""
    x, y = _inline()
    (_, weights, before), _ = _run(a := EqPropNeuro(), P.Train(x=x, y=y, options=TINY), P.Snapshot(), P.Predict(x=x))
    (restored, after), _ = _run(EqPropNeuro(), P.Restore(weights=weights), P.Predict(x=x))
    assert (2, None) == (restored.version, restored.migrated_from)
    assert before.scores == after.scores
    assert a.snapshot().data == weights.data


def test_migrate_hook_upgrades_version_1_state():
    """The migrate classmethod lifts a version-1 snapshot to the current version."""
    from neuro.neuros.learning.eqprop import weights as wf

    x, y = _inline()
    neuro = EqPropNeuro()
    _run(neuro, P.Train(x=x, y=y, options=TINY))
    net = neuro.learner.net
    old = wf.encode_v1((16,), 0.2, net.sizes, [w.numpy() for w in net.W], [b.numpy() for b in net.b])
    assert 2 == EqPropNeuro.migrate("some-old-code-hash", old).version


def test_sleep_dreams_one_input_per_class_and_publishes_them():
    """The sleep hook returns and publishes one input-shaped dream per class."""
    x, y = _inline()
    neuro = EqPropNeuro()
    _run(neuro, P.Train(x=x, y=y, options=TINY))
    ctx = FakeContext()
    dreams = trio.run(neuro.sleep, ctx)
    assert ((3, 3, 4), [0, 1, 2]) == (tuple(dreams.x.numpy().shape), dreams.labels)
    assert ["dream.learning.eqprop"] == [t for t, _ in ctx.events]


def test_status_reports_the_finished_job():
    """Status after a Train reports that job as done with its epochs."""
    x, y = _inline()
    (_, status), _ = _run(EqPropNeuro(), P.Train(x=x, y=y, options=TINY, job="fit"), P.Status())
    assert ("fit", "done", 1.0) == (status.job, status.state, status.done)


def test_selfcheck_passes_after_training():
    """A trained net passes its own selfcheck (finite weights, bound kept)."""
    x, y = _inline()
    neuro = EqPropNeuro()
    _run(neuro, P.Train(x=x, y=y, options=TINY))
    assert None is neuro.selfcheck()


def test_the_manifest_declares_the_learning_policy():
    """The neuro runs under the learning policy with its name."""
    m = EqPropNeuro.__manifest__
    assert ("learning.eqprop", "learning") == (m.name, m.policy)
