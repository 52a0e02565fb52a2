"""`Status` answered while a `Train` runs (issue 20): the learner protocol's jobs keep the mailbox free.

The eqprop neuro runs as it is deployed (the `learning` policy: the process sandbox) and trains
on digits in a job that outlasts the window; for `duration` seconds (60 s, 10 s with --quick)
Status calls go one after another and each one's round trip is timed. The p99 is the metric
(goal <= 50 ms); p50, max and an idle learner's Status p50 (no job) are reported beside it.

    python -m bench._learner_status [--quick]     # this metric alone
"""

from __future__ import annotations

import time
from typing import Any

from ._harness import Metric

GOAL_MS = 50.0


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]


def status_latency(duration: float) -> tuple[dict[str, Metric], dict[str, Any]]:
    """(metrics, extra) of `duration` seconds of Status calls while eqprop trains."""
    import trio

    import neuro
    from neuro.neuros.learning import protocol as P
    from neuro.neuros.learning.eqprop import EqPropNeuro

    async def main() -> tuple[list[float], list[float], dict[str, Any]]:
        async with neuro.Kernel() as k:
            await k.spawn(EqPropNeuro)
            name = "learning.eqprop"
            idle = []
            for _ in range(50):
                t0 = time.perf_counter()
                await k.call(name, P.Status(), timeout=60)
                idle.append(time.perf_counter() - t0)
            await k.call(name, P.Train(dataset="digits", epochs=100_000, job="bench",
                                       options={"hidden": [32], "device": "cpu"}), timeout=600)
            with trio.fail_after(600):  # the window starts once the job has finished an epoch: it trains
                while (first := await k.call(name, P.Status(), timeout=60)).done < 1:
                    await trio.sleep(0.05)
            busy: list[float] = []
            end = time.perf_counter() + duration
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                status = await k.call(name, P.Status(), timeout=60)
                busy.append(time.perf_counter() - t0)
            cancelled = await k.call(name, P.Cancel(job="bench"), timeout=600)
            return idle, busy, {"epochs_during_window": status.done - first.done,
                                "job_state_after_cancel": cancelled.state,
                                "sandbox": k.info(name).sandbox}

    idle, busy, facts = trio.run(main)
    ms = [1000 * x for x in busy]
    p99 = _quantile(ms, 0.99)
    metric = Metric(value=p99, unit="ms", goal=GOAL_MS, higher_is_better=False, min=min(ms), max=max(ms), runs=len(ms),
                    note=f"p99 of {len(ms)} Status calls during a {duration:g} s window of a digits Train job")
    extra = {"status_during_train": {"duration_s": duration, "calls": len(ms), "p50_ms": _quantile(ms, 0.5),
                                     "p99_ms": p99, "max_ms": max(ms),
                                     "idle_p50_ms": 1000 * _quantile(idle, 0.5), **facts}}
    return {"status_p99_during_train_ms": metric}, extra


if __name__ == "__main__":
    import json
    import sys

    metrics, extra = status_latency(10.0 if "--quick" in sys.argv else 60.0)
    for name, m in metrics.items():
        print(name, json.dumps(m.to_json()))
    print(json.dumps(extra, indent=2))
