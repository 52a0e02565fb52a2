"""The eqprop neuro driven through the kernel API in the process sandbox (the learning policy's
default): train tiny, Status while it trains, predict, evaluate, snapshot/restore by hash."""

from __future__ import annotations

import numpy as np
import pytest

neuro = pytest.importorskip("neuro")
if not hasattr(neuro, "Kernel"):
    pytest.skip("kernel core not landed yet", allow_module_level=True)
pytest.importorskip("torch")

import trio  # noqa: E402

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.eqprop import EqPropNeuro  # noqa: E402

TINY = {"hidden": [16], "device": "cpu"}


def _inline(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return P.Array.of(rng.random((n, 3, 4)).astype(np.float32)), P.Array.of(rng.integers(0, 3, n))


def test_train_predict_evaluate_snapshot_restore_through_the_kernel(tmp_path):
    """A tiny net trains as a job (Status answered meanwhile), predicts, evaluates, and
    survives a snapshot/restore round trip by hash, all inside the process sandbox."""
    x, y = _inline()

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(EqPropNeuro)
            backend = k.info("learning.eqprop").sandbox
            started = await k.call("learning.eqprop", P.Train(x=x, y=y, epochs=2, options=TINY), timeout=120)
            with trio.fail_after(300):
                while (status := await k.call("learning.eqprop", P.Status(), timeout=60)).state == "running":
                    await trio.sleep(0.05)
            before = await k.call("learning.eqprop", P.Predict(x=x), timeout=60)
            ev = await k.call("learning.eqprop", P.Evaluate(x=x, y=y), timeout=60)
            ref = await k.call("learning.eqprop", P.Snapshot(), timeout=60)
            restored = await k.call("learning.eqprop", P.Restore(hash=ref.hash), timeout=60)
            after = await k.call("learning.eqprop", P.Predict(x=x), timeout=60)
            return backend, started, status, before, ev, restored, after

    backend, started, status, before, ev, restored, after = trio.run(main)
    assert ("process", 2.0, "done", 48) == (backend, started.total, status.state, ev.n)
    assert "settling_steps" == before.uncertainty_kind
    assert (2, None) == (restored.version, restored.migrated_from)
    assert before.scores == after.scores
    assert 0.0 <= ev.metrics["accuracy"] <= 1.0


def test_bad_input_through_the_kernel_is_a_typed_error(tmp_path):
    """An unknown dataset comes back to the caller as an error naming the known ones."""

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(EqPropNeuro)
            await k.call("learning.eqprop", P.Train(dataset="imagenet"), timeout=60)

    with pytest.raises(neuro.RemoteError, match="unknown dataset 'imagenet'.*eqprop's own: digits, mnist1d"):
        trio.run(main)
