"""The System 1 / System 2 council on switching PatternWorld (issue 26), every condition in
the same run, seeds fixed.

PatternWorld: vocabulary 20, rules +1, x2 and +-1 alternating, each stream switching rule
every 50 steps (two phase groups of streams, so a batch holds streams just switched and
streams long settled), 16 streams, 3,000 online steps (--quick: 200). Conditions, each on the
same worlds and seeds: (a) System 1 only, (b) System 2 always, (c) gated per example by
System 1's doubt (its entropy, or the stream's alarm: its recent surprise), (d) random
per-example gating at (c)'s rate of the same seed; and, reported beside them in the full run,
(e) the entropy gate alone, (f) the learnt gate and (g) the seed's gate (the whole batch on its
mean entropy). Online accuracy scores the model's own answer at each step,
made before the next symbol is revealed. Recovery and gate precision are measured on the
switches after the first fifth of the run (the rules are being learnt before that).

Writes bench/results/learning_council.json and learning_council.png: loss and System 2
activity over time with the rule switches marked, and accuracy and System 2 rate against
steps since a switch for every condition.
"""

from __future__ import annotations

import math
import os
import statistics
from typing import Any

from ._harness import RESULTS, Metric, ProgressBar, Report

SEEDS = {False: (0, 1, 2), True: (0, 1)}
STEPS = {False: 3000, True: 200}
STREAMS = 16
MAIN = ("s1_only", "always", "gated")


def run(quick: bool) -> Report:
    from neuro.neuros.learning.council.experiments import run_condition

    seeds, steps = SEEDS[quick], STEPS[quick]
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    extra_conditions = () if quick else ("entropy", "learnt", "batch")
    total = len(seeds) * (len(MAIN) + 1 + len(extra_conditions))
    bar = ProgressBar(total, "council conditions")
    done = 0
    for seed in seeds:  # (d) needs (c)'s rate of the same seed, so a seed's runs go in order
        for cond in (*MAIN, *extra_conditions):
            runs[cond, seed] = run_condition(cond, seed=seed, steps=steps, streams=STREAMS)
            done += 1
            bar.update(done)
        rate = float(runs["gated", seed]["ran"].mean())
        runs["random", seed] = run_condition("random", seed=seed, steps=steps, streams=STREAMS, random_rate=rate)
        done += 1
        bar.update(done)
    bar.close()
    metrics, extra = _metrics(runs, seeds, steps, extra_conditions)
    extra["platform_note"] = (f"{os.cpu_count()} CPU cores shared with other work, one torch thread; "
                              f"{STREAMS} streams x {steps} steps x {len(seeds)} seeds per condition")
    plots = _plot(runs, seeds[0], steps)
    return Report(metrics=metrics, extra=extra, plots=plots)


def _metrics(runs: dict, seeds: tuple[int, ...], steps: int, extra_conditions: tuple[str, ...]) -> tuple[dict, dict]:
    from neuro.neuros.learning.council.experiments import NEAR, precision_after_switch, recovery_steps

    start = steps // 5
    per: dict[str, dict[str, list[float]]] = {}
    for (cond, seed), r in sorted(runs.items(), key=lambda kv: kv[0][1]):
        d = per.setdefault(cond, {"acc": [], "s1_acc": [], "rate": [], "recovery": [], "precision": [], "seconds": []})
        d["acc"].append(float(r["correct"].mean()))
        d["s1_acc"].append(float(r["s1_correct"].mean()))
        d["rate"].append(float(r["ran"].mean()))
        d["recovery"].append(recovery_steps(r["correct"], r["since"], r["switch_every"], start))
        d["precision"].append(precision_after_switch(r["ran"], r["since"], start))
        d["seconds"].append(r["seconds"])

    def ratio(a: list[float], b: list[float]) -> list[float]:
        return [x / y if y else math.nan for x, y in zip(a, b)]

    def metric(xs: list[float], unit: str, goal: float | None = None, hib: bool = True, note: str = "") -> Metric:
        xs = [x for x in xs if not math.isnan(x)] or [math.nan]
        return Metric(value=statistics.median(xs), unit=unit, goal=goal, higher_is_better=hib, min=min(xs),
                      max=max(xs), runs=len(xs), note=note)

    p = per
    m: dict[str, Metric] = {}
    m["accuracy_gated_over_always"] = metric(ratio(p["gated"]["acc"], p["always"]["acc"]), "ratio", 0.98,
                                             note="online accuracy, gated / council always; goal >= 0.98")
    m["s2_call_share_gated"] = metric(p["gated"]["rate"], "fraction", 0.5, hib=False,
                                      note="System 2 calls of the gated run / the always run's (every example)")
    m["accuracy_gated_minus_random"] = metric([a - b for a, b in zip(p["gated"]["acc"], p["random"]["acc"])],
                                              "accuracy", 1e-9, note="goal > 0; min..max is the spread over seeds")
    m["gate_precision_after_switch"] = metric(p["gated"]["precision"], "ratio", 2.0,
                                              note=f"share of System 2 calls within {NEAR} steps after a switch / "
                                                   "base rate")
    m["recovery_gated_over_s1_only"] = metric(ratio(p["gated"]["recovery"], p["s1_only"]["recovery"]), "ratio", 0.5,
                                              hib=False, note="steps to 3 right in a row after a switch")
    gaps = []
    for d, a, b in zip(p["gated"]["s1_acc"], p["s1_only"]["acc"], p["always"]["acc"]):
        gaps.append((d - a) / (b - a) if b - a > 1e-3 else math.nan)
    m["distillation_gap_closed"] = metric(gaps, "fraction", 0.5,
                                          note="(System 1's own accuracy in the gated run - System 1 only) / "
                                               "(always - System 1 only)")
    for cond in ("s1_only", "always", "gated", "random", *extra_conditions):
        m[f"online_accuracy_{cond}"] = metric(p[cond]["acc"], "fraction")
    m["online_accuracy_s1_within_always"] = metric(p["always"]["s1_acc"], "fraction",
                                                   note="System 1's own answers in the always run (distilled "
                                                        "every step)")
    extra: dict[str, Any] = {"per_seed": {c: {k: v for k, v in d.items()} for c, d in per.items()},
                             "seeds": list(seeds), "steps": steps, "streams": STREAMS, "burn_in_steps": start,
                             "ponder_steps_per_call": {c: statistics.mean(runs[c, s]["ponder"] for s in seeds)
                                                       for c in ("always", "gated")},
                             "meta_update_choices": {c: runs[c, seeds[0]]["choices"] for c in ("s1_only", "gated")},
                             "sleep_seed0_gated": runs["gated", seeds[0]]["sleep"],
                             "gpu_part": "python -m bench.learning_council --gpu (vocabulary 64; parity with an "
                                         "extrapolation split): learning_council_gpu.json, not run with this file"}
    return m, extra


def _plot(runs: dict, seed: int, steps: int) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:
        return []
    from neuro.neuros.learning.council.experiments import NEAR

    g = runs["gated", seed]
    T, S = g["correct"].shape
    lo = max(0, T - 400)  # the last 400 steps: the rules learnt, the switches what is left
    t = np.arange(lo, T)
    fig, axes = plt.subplots(3, 1, figsize=(11, 9))
    smooth = np.ones(5) / 5
    for grp, style in ((0, "-"), (1, "--")):
        cols = np.arange(grp, S, 2)
        loss = np.convolve(g["nll"][lo:, cols].mean(1), smooth, "same")
        rate = np.convolve(g["ran"][lo:, cols].mean(1), smooth, "same")
        axes[0].plot(t, loss, style, label=f"group {grp}: loss of the answer scored (nats)")
        axes[1].plot(t, rate, style, label=f"group {grp}: System 2 calls")
        switches = [s for s in range(lo, T) if g["since"][s, cols[0]] == 0]
        for ax in axes[:2]:
            for s in switches:
                ax.axvline(s, color="C0" if grp == 0 else "C1", alpha=0.35, linestyle=style)
    axes[0].set_title(f"gated run, seed {seed}: loss and System 2 activity; lines mark each group's rule switches")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].legend(loc="upper right", fontsize=8)
    axes[1].set_xlabel("online step")
    k = np.arange(50)
    for cond in ("s1_only", "always", "gated", "random"):
        r = runs[cond, seed]
        since = r["since"][T // 5:]
        acc = [r["correct"][T // 5:][since == j].mean() if (since == j).any() else np.nan for j in k]
        axes[2].plot(k, acc, label=f"{cond}: accuracy")
    since = g["since"][T // 5:]
    axes[2].plot(k, [g["ran"][T // 5:][since == j].mean() if (since == j).any() else np.nan for j in k], "k:",
                 label="gated: System 2 rate")
    axes[2].axvspan(0, NEAR, color="grey", alpha=0.1)
    axes[2].set_xlabel("steps since the stream's rule switch")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "learning_council.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [str(path.relative_to(RESULTS.parent.parent))]


# ------------------------------------------------------------------------------ the GPU part

GPU_VOCAB = 64
GPU_STEPS = 6_000  # 2x the CPU run; what fits one 10-minute device call beside parity
GPU_STREAMS = 64
GPU_PARITY_STEPS = 10_000


def run_gpu(quick: bool) -> Report:
    """On the device machine: switching PatternWorld with vocabulary 64, 64 streams, 6,000
    steps (quick: 500), conditions (a)-(d) on the GPU; and parity trained on <= 8 bits, tested
    on 9-16, System 1 only against the council always and gated. Reported, no goals.

    Every run is a process of its own, side by side (spawn: CUDA does not survive a fork): one
    run is a chain of small kernels paced by its own CPU thread, so runs in parallel share the
    GPU without slowing each other much; (d) starts when (c) has given its rate."""
    import dataclasses
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    import torch

    from neuro.neuros.learning.council.experiments import run_condition

    device = "cuda" if torch.cuda.is_available() else "cpu"
    steps = 500 if quick else GPU_STEPS
    parity_steps = 300 if quick else GPU_PARITY_STEPS
    world = {"seed": 0, "steps": steps, "streams": GPU_STREAMS, "vocab": GPU_VOCAB, "device": device}
    parity_conditions = ("s1_only", "always", "gated")
    bar = ProgressBar(len(MAIN) + 1 + len(parity_conditions), "council GPU runs")
    done = 0
    with ProcessPoolExecutor(max_workers=len(MAIN) + len(parity_conditions),
                             mp_context=mp.get_context("spawn")) as pool:
        pattern = {c: pool.submit(run_condition, c, **world) for c in MAIN}
        parity_jobs = {c: pool.submit(_parity, c, parity_steps, device) for c in parity_conditions}
        runs: dict[tuple[str, int], dict[str, Any]] = {}
        for cond, future in pattern.items():
            runs[cond, 0] = future.result()
            done += 1
            bar.update(done)
        rate = float(runs["gated", 0]["ran"].mean())
        runs["random", 0] = pool.submit(run_condition, "random", random_rate=rate, **world).result()
        done += 1
        bar.update(done)
        parity = {}
        for cond, future in parity_jobs.items():
            parity[cond] = future.result()
            done += 1
            bar.update(done)
    bar.close()
    metrics: dict[str, Metric] = {}
    # the figures, measured on this larger world too; reported (the goals are the CPU run's)
    figures, _ = _metrics(runs, (0,), steps, ())
    for name in ("accuracy_gated_over_always", "s2_call_share_gated", "accuracy_gated_minus_random",
                 "gate_precision_after_switch", "recovery_gated_over_s1_only", "distillation_gap_closed"):
        metrics[f"vocab{GPU_VOCAB}_{name}"] = dataclasses.replace(figures[name], goal=None)
    for cond in (*MAIN, "random"):
        r = runs[cond, 0]
        metrics[f"vocab{GPU_VOCAB}_online_accuracy_{cond}"] = Metric(float(r["correct"].mean()), "fraction")
        metrics[f"vocab{GPU_VOCAB}_seconds_{cond}"] = Metric(r["seconds"], "s", note=f"on {device}")
    for cond, p in parity.items():
        for split in ("in", "out"):
            metrics[f"parity_accuracy_{split}_{cond}"] = Metric(p[f"accuracy_{split}"], "fraction",
                                                                note="train <= 8 bits; in: 1-8, out: 9-16")
    extra = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu (no GPU found)", "steps": steps,
             "parity_steps": parity_steps, "streams": GPU_STREAMS, "vocab": GPU_VOCAB, "parity": parity,
             "platform_note": f"{os.cpu_count()} CPU cores; {len(MAIN) + len(parity_conditions)} runs side by side, "
                              "one process each"}
    return Report(metrics=metrics, extra=extra)


def _parity(condition: str, steps: int, device: str) -> dict[str, Any]:
    """One parity run in a pool's process, on one CPU thread like the PatternWorld runs."""
    import torch

    from neuro.neuros.learning.council.parity import run_parity

    torch.set_num_threads(1)
    return run_parity(condition, seed=0, steps=steps, device=device)


if __name__ == "__main__":
    import sys

    from ._harness import format_table, write_result

    if "--gpu" in sys.argv:
        rep = run_gpu("--quick" in sys.argv)
        print(format_table([("learning_council_gpu", k, m.to_json()) for k, m in rep.metrics.items()]))
        print(write_result("learning_council_gpu", "--quick" in sys.argv, rep))
