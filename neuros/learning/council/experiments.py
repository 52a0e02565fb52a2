"""The council's experiments on switching PatternWorld: one condition's online run, and the
figures the bench reports from the runs (online accuracy, gate precision after switches,
recovery after a switch, the gap distillation closes). torch and numpy.

Conditions (issue 26): ``s1_only`` (System 2 never runs), ``always`` (the council answers
every example), ``gated`` (per example, System 1's doubt: its entropy or the stream's alarm),
``random`` (per example, at random, at the gated run's rate of the same seed) and, besides,
``entropy`` (System 1's entropy alone), ``learnt`` (the learnt gate) and ``batch`` (the
seed's gate: the whole batch on its mean entropy).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["CONDITIONS", "run_condition", "precision_after_switch", "recovery_steps", "NEAR"]

#: condition -> the config's `gate`
CONDITIONS = {"s1_only": "never", "always": "always", "gated": "doubt", "random": "random", "entropy": "entropy",
              "learnt": "learnt", "batch": "batch"}
#: "within 10 steps after a rule switch" (the issue's gate-precision window)
NEAR = 10
#: a stream has recovered after a switch once it answers this many steps in a row right
RUN_OF = 3


def run_condition(condition: str, *, seed: int, steps: int, streams: int = 16, random_rate: float = 0.5,
                  threads: int = 1, vocab: int = 20, device: str = "cpu", **options: Any) -> dict[str, Any]:
    """One online run of `condition` on the world of `seed`; per-step arrays are (T, S)."""
    import numpy as np
    import torch

    from .config import CouncilConfig
    from .online import OnlineCouncil
    from .world import make_world

    torch.set_num_threads(threads)
    world = make_world(streams=streams, steps=steps, seed=seed, vocab=vocab)
    cfg = CouncilConfig(gate=CONDITIONS[condition], seed=seed, device=device, batch_size=streams, vocab=vocab,
                        random_rate=random_rate, **options)
    online = OnlineCouncil(cfg, torch.device(device))
    nll: list[Any] = []
    ponder: list[float] = []

    def keep(t: int, out: Any) -> None:
        target = world.y[:, t]
        nll.append(-np.log(out.probs[np.arange(len(target)), target] + 1e-9))
        if out.ran.any():
            ponder.append(out.ponder)

    t0 = time.perf_counter()
    r = online.run(world.x, world.y, learn=True, on_step=keep)
    return {"condition": condition, "seed": seed, "correct": r["correct"], "s1_correct": r["s1_correct"],
            "ran": r["ran"], "nll": np.asarray(nll), "since": world.since.T.copy(), "seconds": time.perf_counter() - t0,
            "switch_every": world.switch_every, "choices": dict(online.meta.choices),
            "ponder": float(np.mean(ponder)) if ponder else 0.0, "sleep": online.consolidate()}


def precision_after_switch(ran: Any, since: Any, start: int = 0) -> float:
    """(share of System 2 calls within NEAR steps after their stream's switch) / (share of all
    examples there): 1 is a gate blind to switches. Steps from `start` on."""
    ran, since = ran[start:], since[start:]
    near = since < NEAR
    calls = ran.sum()
    if calls == 0 or near.mean() == 0:
        return float("nan")
    return float((ran & near).sum() / calls / near.mean())


def recovery_steps(correct: Any, since: Any, switch_every: int, start: int = 0) -> float:
    """Mean steps from a switch until a stream answers RUN_OF steps in a row right (a switch
    it never recovers from in its phase counts the phase's length), over switches from `start`."""
    import numpy as np

    T, S = correct.shape
    found = []
    for t, s in zip(*np.nonzero(since == 0)):
        if t < start or t + switch_every > T:
            continue
        ok = correct[t:t + switch_every, s]
        runs = np.convolve(ok.astype(int), np.ones(RUN_OF, int), "valid") == RUN_OF
        hit = np.flatnonzero(runs)
        found.append(int(hit[0]) if len(hit) else switch_every)
    return float(np.mean(found)) if found else float("nan")
