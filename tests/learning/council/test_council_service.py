"""learning.council in the process sandbox under its own `learning` policy: a Train job, Step,
Predict and a snapshot restored by hash, all across the sandbox's boundary."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import trio

pytest.importorskip("torch")

import neuro  # noqa: E402
from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.council import CouncilNeuro  # noqa: E402
from neuro.neuros.learning.council.world import make_world, windows_at  # noqa: E402

TINY = {"dim": 16, "heads": 2, "voices": 2, "max_ponder": 2, "memory_slots": 4, "batch_size": 4, "device": "cpu"}


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_train_step_predict_and_restore_in_the_process_sandbox(tmp_path):
    """The council trains as a job, serves Step and Predict, and restores a snapshot by hash,
    running in its sandbox (not the kernel's process)."""
    w = make_world(streams=4, steps=12, seed=0)
    x, y = P.Array.of(w.x), P.Array.of(w.y)
    win = P.Array.of(windows_at(w.x, 11, 2)[:3])

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(CouncilNeuro)
            call = lambda m: k.call("learning.council", m, timeout=180)  # noqa: E731
            res = await call(P.Train(x=x, y=y, options=TINY, wait=True))
            step = await call(P.Step(x=P.Array.of(windows_at(w.x, 11, 2)), y=P.Array.of(w.y[:, 11])))
            before = await call(P.Predict(x=win))
            ref = await call(P.Snapshot())
            restored = await call(P.Restore(hash=ref.hash))
            after = await call(P.Predict(x=win))
            return k.info("learning.council").sandbox, res, step, before, restored, after

    backend, res, step, before, restored, after = trio.run(main)
    assert ("process", 12) == (backend, res.epochs)
    assert 0.0 <= step.metrics["accuracy"] <= 1.0
    assert (1, None) == (restored.version, restored.migrated_from)
    assert np.allclose(before.scores.numpy(), after.scores.numpy(), atol=1e-6)
