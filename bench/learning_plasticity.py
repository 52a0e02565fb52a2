"""Meta-learned Hebbian plasticity (issue 25), measured against hand-written rules in the same run.

One-shot hetero-associative recall: K random +-1 cue -> target pairs in D=32, each shown once,
recalled from the cue alone; 512 fresh test tasks (test seeds, never drawn in meta-training),
bit accuracy. The genome (a rule family holding Hebbian, Oja and the delta rule, started at
Hebbian: neuros/learning/plasticity/genome.py) is meta-trained here by the neuro's own code
(the teacher-forcing schedule's stages, Adam on theta alone), then measured beside no
plasticity, one-shot Hebbian, Oja's rule and the delta rule (their step sizes tuned on
training-stream tasks, every rule starting from the cortex's slow weights) and a Miconi-style
plastic net trained as many steps, on the same tasks, for every K of the sweep, and on two
families held out from meta-training: D=64 with K=32, and D=32 with K=32 (meta-training sees
D=32 and K from 4 to 24).
Also measured: what the built stages of the seed do (confidence, sleep, the recurrence, plastic
recall). Seeds fixed. Writes bench/results/learning_plasticity.png (meta-loss curve, recall
against K for every rule).

On a machine with CUDA (the device machine) and not --quick, it adds the GPU part: D=256, K up
to 0.5 D, with distractors between storing and recalling, written to learning_plasticity_gpu.json.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ._harness import RESULTS, Metric, ProgressBar, Report, write_result

SEED = 0
KS = (4, 8, 12, 16, 20, 24, 32)
HELD_OUT = (64, 32)  # (D, K): a width never meta-trained on; K=32 at D=32 is the other held-out family
GOAL_POINTS_K12 = 2.0
GOAL_K24 = 0.95
GOAL_HELD_OUT = 1.0
# Stages of the teacher-forcing schedule (each of the config's steps_per_stage meta-steps).
STAGES, QUICK_STAGES = 5, 3


def _config(quick: bool, dim: int = 32, device: str = "cpu") -> Any:
    from neuro.neuros.learning.plasticity.config import PlasticityConfig

    if quick:  # 24 meta-steps: enough to leave the Hebbian start behind, not to finish
        return PlasticityConfig(dim=dim, tasks_per_step=8, steps_per_stage=8, validation_tasks=64, seed=SEED,
                                device=device)
    return PlasticityConfig(dim=dim, tasks_per_step=16, steps_per_stage=100, validation_tasks=256, seed=SEED,
                            device=device)


def run(quick: bool) -> Report:
    import torch

    torch.set_num_threads(1)  # the machine is shared; one thread, the same on every run
    torch.manual_seed(SEED)
    from neuro.neuros.learning.plasticity import experiments as X
    from neuro.neuros.learning.plasticity.model import PlasticModel
    from neuro.neuros.learning.plasticity.rules import rule_accuracy
    from neuro.neuros.learning.plasticity.tasks import VALIDATION_SEED, random_tasks

    cfg = _config(quick)
    stages = QUICK_STAGES if quick else STAGES
    n_test = 128 if quick else 512
    model = PlasticModel(cfg)
    w0 = model.W0.numpy().tobytes()
    before_k12 = X.genome_accuracy(model, *X.test_tasks(n_test, 12, cfg.dim))[0]  # the Hebbian start

    # the K=12 goal on validation tasks (never the test tasks), after every stage
    vc, vt = (torch.from_numpy(a) for a in random_tasks(256, 12, cfg.dim, VALIDATION_SEED + 12))
    hebb_val = rule_accuracy("hebbian", vc, vt)
    reached: list[float] = []
    bar = ProgressBar(stages, "meta-training stages")

    def on_stage(stage: int, metrics: dict[str, float], seconds: float) -> None:
        acc = X.genome_accuracy(model, vc, vt)[0]
        metrics["val_k12_minus_hebbian_points"] = 100 * (acc - hebb_val)
        if not reached and 100 * (acc - hebb_val) >= GOAL_POINTS_K12:
            reached.append(seconds)
        bar.update(stage + 1)

    curve = X.meta_train(model, stages, on_stage)
    bar.close()
    slow_unchanged = w0 == model.W0.numpy().tobytes()

    ks = (4, 12, 24, 32) if quick else KS
    table = X.recall_table(model, ks, n_test)
    from neuro.neuros.learning.plasticity.miconi import plastic_net_accuracy, train_plastic_net

    t0 = time.perf_counter()
    net = train_plastic_net(cfg, model.meta_steps, seed=SEED)  # as many Adam steps as the genome had
    miconi_seconds = time.perf_counter() - t0
    table["miconi"] = {k: plastic_net_accuracy(net, *X.test_tasks(n_test, k, cfg.dim)) for k in ks}
    with torch.no_grad():
        held = X.recall_table(X.at_width(model, HELD_OUT[0]), (HELD_OUT[1],), n_test)
    held_genome = held["genome"][HELD_OUT[1]]

    metrics: dict[str, Metric] = {}
    k12, k24 = 12, 24
    metrics["k12_genome_minus_hebbian_points"] = Metric(
        100 * (table["genome"][k12] - table["hebbian"][k12]), "points", goal=GOAL_POINTS_K12,
        note=f"K={k12}, D={cfg.dim}, {n_test} test tasks; genome {table['genome'][k12]:.4f}, "
             f"hebbian {table['hebbian'][k12]:.4f}")
    metrics["k24_genome_bit_accuracy"] = Metric(
        table["genome"][k24], "bit accuracy", goal=GOAL_K24,
        note=f"K={k24}; delta rule {table['delta'][k24]:.4f} on the same tasks (one pass, step tuned)")
    metrics["heldout_d64_k32_genome_over_hebbian"] = Metric(
        held_genome / held["hebbian"][HELD_OUT[1]], "ratio", goal=GOAL_HELD_OUT,
        note=f"D={HELD_OUT[0]}, K={HELD_OUT[1]} (a width never meta-trained on): genome {held_genome:.4f}, "
             f"hebbian {held['hebbian'][HELD_OUT[1]]:.4f}")
    metrics["heldout_k32_genome_over_hebbian"] = Metric(
        table["genome"][32] / table["hebbian"][32], "ratio", goal=GOAL_HELD_OUT,
        note=f"D={cfg.dim}, K=32 (beyond meta-training's K <= {cfg.k_max}): genome {table['genome'][32]:.4f}, "
             f"hebbian {table['hebbian'][32]:.4f}")
    metrics["meta_train_seconds_to_k12_goal"] = Metric(
        reached[0] if reached else curve[-1]["seconds"], "s",
        note="wall time of meta-training until the genome beat Hebbian by 2 points on validation tasks"
             if reached else f"not reached in {stages} stages ({model.meta_steps} meta-steps); the value is "
                             "the whole meta-training's wall time")
    for rule in ("none", "hebbian", "oja", "delta", "miconi"):
        for k in (k12, k24):
            metrics[f"k{k}_{rule}_bit_accuracy"] = Metric(table[rule][k], "bit accuracy")
    metrics["k12_genome_bit_accuracy"] = Metric(table["genome"][k12], "bit accuracy")
    metrics["k12_genome_before_meta_training_bit_accuracy"] = Metric(
        before_k12, "bit accuracy", note="the untrained genome (its Hebbian start) on the same test tasks")

    # the built stages of the seed, each measured by what it does to recall
    k_stage = k24
    metrics["confidence_auroc"] = Metric(X.confidence_auroc(model, k_stage, n_test), "AUROC",
                                         note=f"|response| ranking right over wrong bits, K={k_stage} (0.5: chance)")
    base = table["genome"][k_stage]
    metrics["settle_1_minus_2_points"] = Metric(100 * (X.variant_accuracy(model, k_stage, n_test, settle_steps=1)
                                                       - base), "points",
                                                note="the seed's recurrence at recall: 1 step against 2")
    metrics["plastic_recall_on_minus_off_points"] = Metric(
        100 * (X.variant_accuracy(model, k_stage, n_test, plastic_recall=True) - base), "points",
        note="the rule left running while recalling (gate 0), against recall reading W only")
    for name, part, what in (("pulse", "reflect_gain", "the feedback pulse (stage 7) switched off"),
                             ("mlp", "w_out", "the genome's MLP term switched off")):
        metrics[f"{name}_off_minus_on_points"] = Metric(
            100 * (X.ablated_accuracy(model, k_stage, n_test, **{part: 0.0}) - base), "points",
            note=f"{what} at test time only, K={k_stage}: how much of the rule it is")
    sleep = X.sleep_effect(model, k_stage, n=8 if quick else 64)
    metrics["sleep_replay_minus_before_points"] = Metric(
        100 * (sleep["recall_after_replay"] - sleep["recall_before"]), "points",
        note=f"prune {cfg.prune_fraction:.0%} then replay the buffer, K={k_stage}: "
             f"before {sleep['recall_before']:.4f}, "
             f"after pruning {sleep['recall_after_prune']:.4f}, after replay {sleep['recall_after_replay']:.4f}")

    extra: dict[str, Any] = {
        "platform_note": f"{os.cpu_count()} CPU cores shared with other work, one torch thread",
        "config": {"dim": cfg.dim, "k_min": cfg.k_min, "k_max": cfg.k_max, "tasks_per_step": cfg.tasks_per_step,
                   "steps_per_stage": cfg.steps_per_stage, "stages": stages, "homeostasis": cfg.homeostasis,
                   "meta_loss": cfg.meta_loss, "teacher_forcing": cfg.teacher_forcing, "lr": cfg.lr,
                   "reflect_steps": cfg.reflect_steps, "plastic_recall": cfg.plastic_recall},
        "rule": _rule(model),
        "slow_weights_unchanged": slow_unchanged,
        "recall_against_k": {r: {str(k): v for k, v in row.items()} for r, row in table.items()},
        "held_out": {r: {str(k): v for k, v in row.items()} for r, row in held.items()},
        "stages": curve, "sleep": sleep, "meta_steps": model.meta_steps,
        "miconi": {"steps": model.meta_steps, "seconds": miconi_seconds,
                   "eta": float(torch.sigmoid(net.logit_eta.detach()))},
    }
    plots = _plots(model.losses, table, stages, cfg.steps_per_stage, n_test, cfg.meta_loss)
    if torch.cuda.is_available() and not quick:
        _gpu_part()
    return Report(metrics=metrics, extra=extra, plots=plots)


def _rule(model: Any) -> dict[str, float]:
    """The meta-learnt rule's linear coefficients, step and feedback pulse (genome.py names them)."""
    from neuro.neuros.learning.plasticity.genome import COEFFICIENTS

    g = model.genome
    out = dict(zip(COEFFICIENTS, (float(c) for c in g.coef.detach())))
    out.update(eta=float(g.eta.detach()), reflect_rate=float(g.reflect_rate.detach()),
               reflect_gain=float(g.reflect_gain.detach()),
               mlp_out_norm=float(g.w_out.detach().norm()))  # 0: the MLP adds nothing
    return out


def _plots(losses: list[float], table: dict[str, dict[int, float]], stages: int, per_stage: int,
           n_test: int, loss_name: str) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(range(1, len(losses) + 1), losses, lw=0.6, alpha=0.5, label="meta-loss per step")
    if len(losses) >= 20:
        w = max(5, len(losses) // 30)
        smooth = [sum(losses[max(0, i - w):i + 1]) / len(losses[max(0, i - w):i + 1]) for i in range(len(losses))]
        a.plot(range(1, len(losses) + 1), smooth, lw=1.5, label=f"running mean ({w})")
    for s in range(1, stages):
        a.axvline(s * per_stage, color="grey", lw=0.4, ls=":")
    a.set(xlabel="meta-step (dotted: teacher-forcing stages)", ylabel=f"meta-loss ({loss_name})", yscale="log",
          title="outer loop")
    a.legend()
    for rule, row in table.items():
        ks = sorted(row)
        b.plot(ks, [row[k] for k in ks], marker="o", lw=2.5 if rule == "genome" else 1.2, label=rule)
    b.set(xlabel="K pairs (D=32)", ylabel=f"bit accuracy, {n_test} fresh tasks", title="one-shot recall",
          ylim=(0.45, 1.01))
    b.legend()
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "learning_plasticity.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [str(path.name)]


def _gpu_part() -> None:
    """D=256, K up to 0.5 D, distractors between storing and recalling: learning_plasticity_gpu.json."""
    write_result("learning_plasticity_gpu", False, _gpu_report())


def _gpu_report(dim: int = 256, device: str = "cuda", stages: int = 6, steps: int = 100,
                ks: tuple[int, ...] = (32, 64, 128), n_test: int = 512, distractors: int = 32,
                miconi_steps: int = 600) -> Report:
    """The GPU part's measurements; the sizes are arguments so a test can run it small on a CPU."""
    import msgspec
    import torch

    from neuro.neuros.learning.plasticity import experiments as X
    from neuro.neuros.learning.plasticity.miconi import plastic_net_accuracy, train_plastic_net
    from neuro.neuros.learning.plasticity.model import PlasticModel
    from neuro.neuros.learning.plasticity.rules import RULES, rule_accuracy, tune
    from neuro.neuros.learning.plasticity.tasks import TRAIN_SEED, random_tasks

    # BPTT keeps a few (16, 256, 256) tensors for each of up to 288 plastic steps (128 pairs
    # stored, 32 distractors, 128 recalled): a few GB.
    cfg = msgspec.structs.replace(_config(False, dim, device), k_min=max(1, dim // 16), k_max=dim // 2,
                                  distractors=distractors, steps_per_stage=steps, validation_tasks=64)
    model = PlasticModel(cfg, device)
    net = train_plastic_net(cfg, miconi_steps, seed=SEED, device=device)
    t0 = time.perf_counter()
    X.meta_train(model, stages)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    metrics: dict[str, Metric] = {
        "meta_train_seconds": Metric(seconds, "s", note=f"on {device}, {stages} stages of {steps} steps")}
    W0 = model.W0
    for k in ks:
        cues, targets = (a.to(device) for a in X.test_tasks(n_test, k, dim))
        tuning = [torch.from_numpy(a).to(device)
                  for a in random_tasks(64, k, dim, TRAIN_SEED + (1 << 30) + (dim << 20) + k)]
        metrics[f"d{dim}_k{k}_genome_bit_accuracy"] = Metric(
            X.genome_accuracy(model, cues.cpu(), targets.cpu())[0], "bit accuracy",
            note=f"{distractors} distractors before recall")
        for rule in RULES[1:]:
            metrics[f"d{dim}_k{k}_{rule}_bit_accuracy"] = Metric(
                rule_accuracy(rule, cues, targets, tune(rule, *tuning), W0=W0), "bit accuracy",
                note="no distractors (a static rule ignores them); step tuned on training tasks")
        metrics[f"d{dim}_k{k}_miconi_bit_accuracy"] = Metric(plastic_net_accuracy(net, cues, targets), "bit accuracy",
                                                             note="no distractors")
    return Report(metrics=metrics, extra={"rule": _rule(model)})


if __name__ == "__main__":
    import sys

    from ._harness import format_table

    report = run(quick="--quick" in sys.argv)
    write_result("learning_plasticity", "--quick" in sys.argv, report)
    print(format_table([("learning_plasticity", k, m.to_json()) for k, m in report.metrics.items()]))
