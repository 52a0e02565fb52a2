"""The trainer yields: its steps pause while interactive calls wait, and go on after."""

from __future__ import annotations

import sys

import numpy as np

from neuro.dream._governor import run_governed
from tests.dream.conftest import trio_test

BUSY_POLLS = 100  # how many looks the "interactive calls wait" spell lasts


@trio_test
async def test_training_steps_pause_while_interactive_calls_wait(tmp_path):
    """While busy() says calls wait, the trainer gives at most the step it was in; once they are
    served it trains on to the end; the governor counts one yield."""
    inp, out = str(tmp_path / "in.npz"), str(tmp_path / "out.npz")
    rng = np.random.default_rng(0)
    np.savez(inp, x=rng.normal(size=(256, 4)), y=rng.normal(size=(256, 1)), reg=np.array([0]),
             cats=np.zeros((0, 2), dtype=np.int64), hidden=np.array([16]), steps=400, seed=0, lr=1e-3)
    lines: list[str] = []
    marks: dict[str, int] = {}
    state = {"polls": 0}

    async def busy() -> bool:
        if "ready" not in lines:
            return False
        state["polls"] += 1
        if state["polls"] == 1:
            marks["paused"] = len(lines)
        if state["polls"] == BUSY_POLLS:
            marks["resumed"] = len(lines)
        return state["polls"] < BUSY_POLLS

    stats = await run_governed([sys.executable, "-m", "neuro.dream._trainer", inp, out], busy=busy, share=1.0,
                               on_line=lines.append)
    during = [line for line in lines[marks["paused"]:marks["resumed"]] if line.startswith("step")]
    assert len(during) <= 1
    assert 1 == stats.yields
    assert "done" == lines[-1]
    assert "step 400" == " ".join(lines[-2].split()[:2])
