"""Equilibrium propagation's flat line over depth, over seeds (issue 20).

`bench.learning_eqprop` runs each MNIST-1D depth once, on seed 0, so its "EP at depth 5 ÷ EP
at depth 1" is one draw of two noisy numbers. This runs EP at depth 1 and at depth 5 (the
same jobs, DEPTH_EP, 30 epochs, width 256) on seeds 0-4, side by side in a process pool (one
torch thread each; 10 jobs, so it wants the device machine's 16 cores), and reports the ratio
of each seed, its median and its spread. The seed draws the initial weights and the batch
order; the data set is the paper's fixed split. Writes learning_eqprop_seeds.json.

    python -m bench.learning_eqprop_seeds [--quick]
"""

from __future__ import annotations

import os
import statistics
from typing import Any

from ._harness import Metric, ProgressBar, Report
from .learning_eqprop import depth_job

SEEDS = {False: (0, 1, 2, 3, 4), True: (0, 1)}
SHALLOW, DEEP = 1, 5


def _jobs(quick: bool) -> dict[tuple[int, int], dict[str, Any]]:
    """(depth, seed) -> the depth job of bench.learning_eqprop with that seed."""
    return {(L, seed): depth_job("ep", L, quick, opts={"seed": seed})
            for seed in SEEDS[quick] for L in (DEEP, SHALLOW)}  # the deep ones first: they take longest


def run(quick: bool) -> Report:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from neuro.neuros.learning.eqprop.experiments import run_job

    jobs = _jobs(quick)
    workers = max(1, min(len(jobs), os.cpu_count() or 2))
    bar = ProgressBar(len(jobs), "EP depth x seed jobs")
    results: dict[tuple[int, int], dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {key: pool.submit(run_job, job) for key, job in jobs.items()}
        for i, (key, future) in enumerate(futures.items()):
            results[key] = future.result()
            bar.update(i + 1)
    bar.close()
    seeds = SEEDS[quick]
    shallow = [results[SHALLOW, s]["accuracy"] for s in seeds]
    deep = [results[DEEP, s]["accuracy"] for s in seeds]
    ratios = [d / s for d, s in zip(deep, shallow)]
    pooled = statistics.mean(deep) / statistics.mean(shallow)
    metrics = {
        "mnist1d_ep_deepest_over_shallowest_median_over_seeds": Metric(
            statistics.median(ratios), "ratio", goal=0.95, min=min(ratios), max=max(ratios), runs=len(ratios),
            note=f"EP at depth {DEEP} / depth {SHALLOW}, one ratio per seed {list(seeds)}: "
                 f"{[round(r, 3) for r in ratios]}"),
        "mnist1d_ep_deepest_over_shallowest_of_means": Metric(
            pooled, "ratio", note=f"mean accuracy over the seeds, depth {DEEP} / depth {SHALLOW}"),
        f"mnist1d_ep_accuracy_depth{SHALLOW}_mean": Metric(
            statistics.mean(shallow), "fraction", min=min(shallow), max=max(shallow), runs=len(shallow)),
        f"mnist1d_ep_accuracy_depth{DEEP}_mean": Metric(
            statistics.mean(deep), "fraction", min=min(deep), max=max(deep), runs=len(deep)),
    }
    extra = {"seeds": list(seeds), "depths": [SHALLOW, DEEP],
             "accuracy": {str(L): [results[L, s]["accuracy"] for s in seeds] for L in (SHALLOW, DEEP)},
             "epochs_done": {str(L): [results[L, s]["epochs_done"] for s in seeds] for L in (SHALLOW, DEEP)},
             "curves": {f"{L}/{s}": results[L, s]["curve"] for L in (SHALLOW, DEEP) for s in seeds},
             "platform_note": f"{os.cpu_count()} CPU cores, one torch thread per process; {len(jobs)} jobs in a "
                              f"pool of {workers}"}
    return Report(metrics=metrics, extra=extra)


if __name__ == "__main__":
    import sys

    from ._harness import format_table, write_result

    quick = "--quick" in sys.argv
    rep = run(quick)
    print(format_table([("learning_eqprop_seeds", k, m.to_json()) for k, m in rep.metrics.items()]))
    print(write_result("learning_eqprop_seeds", quick, rep))
