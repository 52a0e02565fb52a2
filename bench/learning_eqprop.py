"""Equilibrium propagation, measured against backprop trained in the same run (issue 8).

Every figure comes from this run: an EP net trained on scikit-learn's digits by the neuro's
own training code (no autograd), a same-widths MLP trained by backprop for the same epochs,
the BPTT gradient of the same energy-based net for the cosine, and MNIST-1D generated locally
for the depth sweep. Seeds are fixed. Writes bench/results/learning_eqprop.png (the master
chart) and learning_eqprop_extra.png (cosine over training, settling vs margin, dreams).
"""

from __future__ import annotations

import math
import time
from typing import Any

from ._harness import RESULTS, Metric, ProgressBar, Report

SEED = 0


def run(quick: bool) -> Report:
    import numpy as np
    import torch

    torch.set_num_threads(1)  # a shared 2-core machine; 1 thread also keeps timings steady
    from neuro.neuros.learning.eqprop.config import EqPropConfig
    from neuro.neuros.learning.eqprop.data import load
    from neuro.neuros.learning.eqprop.measure import mlp_scores, peak_memory, train_mlp
    from neuro.neuros.learning.eqprop.train import Learner

    epochs = 3 if quick else 30
    base = EqPropConfig(epochs=epochs, seed=SEED, device="cpu")
    d = load("digits")
    metrics: dict[str, Metric] = {}
    extra: dict[str, Any] = {"epochs": epochs}

    # --------------------------------------------------------------- EP vs backprop on digits
    bar = ProgressBar(epochs, "eqprop digits")
    ep = Learner(base, d.input_shape, d.classes, d.input_range)
    xb = d.x_test[:128]
    yb = d.y_test[:128]
    checkpoints = sorted({0, max(1, epochs // 3), max(1, 2 * epochs // 3), epochs})
    cos_curve = []
    if 0 in checkpoints:
        cos_curve.append((0, *_cosine(ep, xb, yb)))
    ep_seconds = ep_flops = 0.0
    min_update = math.inf
    per_step_min = []
    for e in range(1, epochs + 1):
        m = ep.fit_epoch(d.x_train, d.y_train, on_step=lambda out: per_step_min.append(min(out["update_norms"][: ep.net.depth])))
        ep_seconds += m["seconds"]
        ep_flops += m["flops"]
        min_update = min(min_update, m["min_hidden_update_norm"])
        if e in checkpoints:
            cos_curve.append((e, *_cosine(ep, xb, yb)))
        bar.update(e)
    bar.close()
    ev = ep.evaluate(d.x_test, d.y_test)
    sizes = ep.net.sizes
    t0 = time.perf_counter()
    mlp = train_mlp(sizes, d.x_train, d.y_train, epochs, base.batch_size, seed=SEED)
    mlp_seconds = time.perf_counter() - t0
    mlp_acc = float((mlp_scores(mlp, d.x_test).argmax(1) == d.y_test).mean())
    n_params = sum(p.numel() for p in mlp.parameters())
    mlp_flops = 6.0 * n_params * len(d.x_train) * epochs  # forward 2P + backward 4P per example
    metrics["ep_test_accuracy_digits"] = Metric(ev["accuracy"], "fraction", goal=0.97,
                                                note=f"{epochs} epochs, widths {sizes}")
    metrics["mlp_test_accuracy_digits"] = Metric(mlp_acc, "fraction", note="backprop baseline, same widths and epochs")
    metrics["ep_accuracy_ratio_vs_backprop"] = Metric(ev["accuracy"] / mlp_acc, "ratio", goal=0.99)
    metrics["hidden_update_norm_min_over_steps"] = Metric(
        min(per_step_min), "frobenius", goal=1e-12,
        note=f"smallest ||dW|| into a hidden layer over all {len(per_step_min)} steps; goal > 0")
    cos_init, cos_final = cos_curve[0], cos_curve[-1]
    metrics["cosine_ep_vs_bptt_init"] = Metric(cos_init[1], "cosine", goal=0.95,
                                               note="centred EP update vs BPTT gradient, settled batch of 128, untrained net")
    metrics["cosine_ep_vs_bptt_trained"] = Metric(cos_final[1], "cosine", goal=0.95, note=f"after {epochs} epochs")
    all_layers = [c for row in cos_curve for c in row[2]]
    metrics["cosine_ep_vs_bptt_worst_layer"] = Metric(min(all_layers), "cosine", goal=0.95,
                                                      note="lowest per-layer cosine over all checkpoints")
    extra["cosine_checkpoints"] = [{"epoch": e, "overall": o, "per_layer": p, "settled_fraction": s}
                                   for e, o, p, s in cos_curve]
    one_sided = _cosine(ep, xb, yb, nudge="one-sided")
    extra["cosine_one_sided_trained"] = {"overall": one_sided[0], "per_layer": one_sided[1]}
    extra["timing"] = {"ep_train_seconds": ep_seconds, "mlp_train_seconds": mlp_seconds}
    metrics["ep_train_wall_ratio_vs_backprop"] = Metric(ep_seconds / mlp_seconds, "ratio",
                                                        note="EP training time / MLP training time, same epochs; info")

    # --------------------------------------------------------------- settling time as uncertainty
    from scipy.stats import spearmanr

    scores, settle, _ = ep.predict(d.x_test, max_steps=4 * base.free_steps)
    top2 = np.sort(scores, 1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    rho, p = spearmanr(settle, margin)
    metrics["settling_vs_margin_spearman"] = Metric(float(rho), "rho", goal=0.0, higher_is_better=False,
                                                    note=f"p = {p:.2g}; goal < 0: ambiguous inputs settle slower")
    metrics["settling_vs_margin_p_value"] = Metric(float(p), "p")
    wrong = scores.argmax(1) != d.y_test
    extra["settling"] = {"mean_steps_correct": float(settle[~wrong].mean()),
                         "mean_steps_wrong": float(settle[wrong].mean()) if wrong.any() else None}

    # --------------------------------------------------------------- ablation: 15% hidden units killed
    drops_ep, drops_mlp = [], []
    g = torch.Generator().manual_seed(SEED)
    for _ in range(5):
        masks = []
        for n in sizes[1:-1]:
            m = torch.ones(n)
            m[torch.randperm(n, generator=g)[: int(round(0.15 * n))]] = 0.0
            masks.append(m)
        s_abl, _, _ = ep.predict(d.x_test, max_steps=4 * base.free_steps, ablate=masks, ablate_at=5)
        drops_ep.append(ev["accuracy"] - float((s_abl.argmax(1) == d.y_test).mean()))
        drops_mlp.append(mlp_acc - float((mlp_scores(mlp, d.x_test, masks).argmax(1) == d.y_test).mean()))
    med_ep, med_mlp = float(np.median(drops_ep)), float(np.median(drops_mlp))
    metrics["ablation_drop_ep"] = Metric(med_ep, "fraction", higher_is_better=False,
                                         min=min(drops_ep), max=max(drops_ep), runs=5,
                                         note="accuracy lost with 15% of hidden units killed after 5 relaxation steps")
    metrics["ablation_drop_mlp"] = Metric(med_mlp, "fraction", higher_is_better=False, min=min(drops_mlp),
                                          max=max(drops_mlp), runs=5)
    metrics["ablation_drop_ratio_ep_vs_backprop"] = Metric(
        med_ep / med_mlp if med_mlp > 0 else (0.0 if med_ep <= 0 else math.inf), "ratio", goal=1.0,
        higher_is_better=False, note="median drops, same 5 masks for both")

    # --------------------------------------------------------------- robustness to input noise
    sigmas = [0.0, 0.1, 0.2, 0.3, 0.5]
    rng = np.random.default_rng(SEED)
    noise = rng.standard_normal(d.x_test.shape).astype(np.float32)
    robust = {"sigma": sigmas, "ep": [], "mlp": []}
    for s in sigmas:
        xn = d.x_test + s * noise
        robust["ep"].append(ep.evaluate(xn, d.y_test)["accuracy"])
        robust["mlp"].append(float((mlp_scores(mlp, xn).argmax(1) == d.y_test).mean()))
    extra["noise_robustness"] = robust
    metrics["noise_accuracy_ratio_sigma_0.3"] = Metric(robust["ep"][3] / robust["mlp"][3], "ratio",
                                                       note="EP / MLP test accuracy with N(0, 0.3^2) pixel noise")

    # --------------------------------------------------------------- lazy, ternary, feedback alignment
    variants: dict[str, dict[str, float]] = {
        "ep": {"accuracy": ev["accuracy"], "train_flops": ep_flops, "seconds": ep_seconds},
        "mlp": {"accuracy": mlp_acc, "train_flops": mlp_flops, "seconds": mlp_seconds},
    }
    var_epochs = epochs if not quick else 2
    for label, opts in [("lazy", {"lazy": True}), ("ternary", {"ternary": True}),
                        ("fa_random", {"feedback": "random"}), ("fa_learned", {"feedback": "learned"})]:
        cfg = EqPropConfig(epochs=var_epochs, seed=SEED, device="cpu", **opts)
        lrn = Learner(cfg, d.input_shape, d.classes, d.input_range)
        bar = ProgressBar(var_epochs, f"eqprop {label}")
        secs = flops = 0.0
        for e in range(var_epochs):
            m = lrn.fit_epoch(d.x_train, d.y_train)
            secs += m["seconds"]
            flops += m["flops"]
            bar.update(e + 1)
        bar.close()
        acc = lrn.evaluate(d.x_test, d.y_test)["accuracy"]
        variants[label] = {"accuracy": acc, "train_flops": flops, "seconds": secs}
        if label.startswith("fa"):
            cos = _cosine(lrn, xb, yb)
            align = [float(torch.nn.functional.cosine_similarity(lrn.net.B[k].flatten(), lrn.net.W[k].T.flatten(), dim=0))
                     for k in range(1, len(lrn.net.W))]
            variants[label].update(cosine_vs_bptt=cos[0], feedback_alignment=min(align))
        if label == "ternary":
            nz = sum(int((w != 0).sum()) for w in lrn.net.fwd)
            variants[label]["nonzero_weight_fraction"] = nz / sum(w.numel() for w in lrn.net.fwd)
    ref = variants["ep"]
    for label in ("lazy", "ternary", "fa_random", "fa_learned"):
        v = variants[label]
        metrics[f"{label}_accuracy"] = Metric(v["accuracy"], "fraction",
                                              note=f"{var_epochs} epochs; dense symmetric EP: {ref['accuracy']:.3f}")
    metrics["lazy_train_flops_ratio_vs_dense"] = Metric(
        (variants["lazy"]["train_flops"] / var_epochs) / (ref["train_flops"] / epochs), "ratio",
        note="FLOPs done per epoch, lazy / dense")
    metrics["lazy_train_wall_ratio_vs_dense"] = Metric(
        (variants["lazy"]["seconds"] / var_epochs) / (ref["seconds"] / epochs), "ratio",
        note="wall clock per epoch, lazy / dense, same process")
    metrics["ternary_train_wall_ratio_vs_dense"] = Metric(
        (variants["ternary"]["seconds"] / var_epochs) / (ref["seconds"] / epochs), "ratio",
        note=f"dense float matmuls on ternary values; {variants['ternary']['nonzero_weight_fraction']:.2f} of weights nonzero")
    metrics["fa_learned_cosine_vs_bptt"] = Metric(variants["fa_learned"]["cosine_vs_bptt"], "cosine",
                                                  note="asymmetric net's EP update vs its own BPTT gradient")
    extra["variants"] = variants

    # --------------------------------------------------------------- homeostatic braking
    # No Lipschitz bound and a 10x learning rate: only homeostasis can keep the couplings in
    # check. Reported as measured, including whether braking ever fired.
    brake_epochs = 2 if quick else 5
    homeo = {}
    for on in (False, True):
        cfg = EqPropConfig(epochs=brake_epochs, seed=SEED, device="cpu", lipschitz=None, homeostasis=on, lr=1e-2)
        lrn = Learner(cfg, d.input_shape, d.classes, d.input_range)
        unsettled, braked = [], 0.0
        for _ in range(brake_epochs):
            m = lrn.fit_epoch(d.x_train, d.y_train)
            unsettled.append(m["unsettled_fraction"])
            braked += m["braked_steps"]
        homeo["on" if on else "off"] = {"unsettled_fraction_per_epoch": unsettled, "braked_steps": braked,
                                        "accuracy": lrn.evaluate(d.x_test, d.y_test)["accuracy"],
                                        "final_coupling_norm": lrn.net.lipschitz_exact()}
    extra["homeostasis"] = homeo
    on, off = homeo["on"], homeo["off"]
    metrics["homeostasis_braked_steps"] = Metric(on["braked_steps"], "steps",
                                                 note=f"no Lipschitz bound, lr 1e-2, {brake_epochs} epochs; coupling norm "
                                                      f"{on['final_coupling_norm']:.2f} (off: {off['final_coupling_norm']:.2f})")
    metrics["homeostasis_unsettled_fraction_on"] = Metric(on["unsettled_fraction_per_epoch"][-1], "fraction",
                                                          higher_is_better=False,
                                                          note=f"off: {off['unsettled_fraction_per_epoch'][-1]:.3f}")
    metrics["homeostasis_accuracy_on_vs_off"] = Metric(on["accuracy"] / max(off["accuracy"], 1e-9), "ratio",
                                                       note=f"unbounded nets: on {on['accuracy']:.3f}, off {off['accuracy']:.3f}")

    # --------------------------------------------------------------- dreaming
    dreams = ep.dream(list(range(d.classes)))  # (10, 8, 8)
    ds, _, _ = ep.predict(dreams)
    means = np.stack([d.x_train[d.y_train == c].mean(0).ravel() for c in range(d.classes)])
    corr = np.corrcoef(np.concatenate([dreams.reshape(d.classes, -1), means]))[: d.classes, d.classes:]
    metrics["dream_self_agreement"] = Metric(float((ds.argmax(1) == np.arange(d.classes)).mean()), "fraction",
                                             note="dreamt inputs classified as the label they were dreamt from")
    metrics["dream_class_mean_match"] = Metric(float((corr.argmax(1) == np.arange(d.classes)).mean()), "fraction",
                                               note="dream most correlated with its own class's mean image")

    # --------------------------------------------------------------- memory vs relaxation steps
    steps_list = [10, 100] if quick else [10, 30, 100]
    mem = {"steps": steps_list, "ep": [], "bptt": []}
    bar = ProgressBar(2 * len(steps_list), "memory probes")
    for i, t in enumerate(steps_list):
        mem["ep"].append(peak_memory("ep", t)["peak_bytes"])
        mem["bptt"].append(peak_memory("bptt", t)["peak_bytes"])
        bar.update(2 * i + 2)
    bar.close()
    extra["memory_bytes"] = mem
    metrics["peak_memory_ratio_ep_vs_bptt_at_100_steps"] = Metric(mem["ep"][-1] / max(mem["bptt"][-1], 1.0), "ratio",
                                                                  note="peak RSS growth of one training step, child processes")
    metrics["ep_peak_memory_growth_steps_x10"] = Metric(mem["ep"][-1] / max(mem["ep"][0], 1.0), "ratio", goal=1.5,
                                                        higher_is_better=False,
                                                        note=f"EP flat; BPTT grew x{mem['bptt'][-1] / max(mem['bptt'][0], 1.0):.1f}")

    # --------------------------------------------------------------- depth sweep on MNIST-1D
    depths = [1, 2] if quick else [1, 2, 3, 5]
    d1 = load("mnist1d", n_samples=2000 if quick else 5000)
    depth_epochs = 1 if quick else 10
    width = 128
    sweep = {"depth": depths, "ep": [], "mlp": [], "cosine_per_layer": [], "ep_seconds": []}
    bar = ProgressBar(len(depths) * depth_epochs, "depth sweep mnist1d")
    done = 0
    for L in depths:
        cfg = EqPropConfig(hidden=(width,) * L, epochs=depth_epochs, seed=SEED, device="cpu",
                           free_steps=60 + 40 * L, nudge_steps=30 + 20 * L)
        lrn = Learner(cfg, d1.input_shape, d1.classes, d1.input_range)
        secs = 0.0
        for _ in range(depth_epochs):
            secs += lrn.fit_epoch(d1.x_train, d1.y_train)["seconds"]
            done += 1
            bar.update(done)
        sweep["ep"].append(lrn.evaluate(d1.x_test, d1.y_test, max_steps=4 * cfg.free_steps)["accuracy"])
        sweep["ep_seconds"].append(secs)
        sweep["cosine_per_layer"].append(_cosine(lrn, d1.x_test[:128], d1.y_test[:128])[1])
        m = train_mlp(lrn.net.sizes, d1.x_train, d1.y_train, depth_epochs, cfg.batch_size, seed=SEED)
        sweep["mlp"].append(float((mlp_scores(m, d1.x_test).argmax(1) == d1.y_test).mean()))
    bar.close()
    extra["depth_sweep_mnist1d"] = {**sweep, "epochs": depth_epochs, "width": width, "train_examples": len(d1.x_train)}
    worst = min(c for row in sweep["cosine_per_layer"] for c in row)
    metrics["mnist1d_depth_cosine_worst_layer"] = Metric(worst, "cosine", goal=0.95,
                                                         note=f"depths {depths}, after {depth_epochs} epochs (CPU)")
    metrics["mnist1d_ep_accuracy_ratio_deepest"] = Metric(sweep["ep"][-1] / sweep["mlp"][-1], "ratio",
                                                          note=f"depth {depths[-1]}: EP {sweep['ep'][-1]:.3f}, MLP {sweep['mlp'][-1]:.3f}")

    plots = _plots(sweep, mem, robust, variants, cos_curve, settle, margin, dreams, d.y_test, wrong)
    return Report(metrics=metrics, extra=extra, plots=plots)


def _cosine(learner, x, y, nudge: str | None = None):
    """(overall, per-layer weights cosine, settled fraction) of EP's update vs BPTT on a batch.

    EP runs with the learner's own config (its beta and nudging) but with step caps raised so
    every phase settles; BPTT differentiates the same number of relaxation steps from rest.
    """
    import msgspec
    import torch

    from neuro.neuros.learning.eqprop.measure import bptt_direction, cosines
    from neuro.neuros.learning.eqprop.model import ep_direction

    net = learner.net
    saved = net.cfg
    fields = {"free_steps": 1000, "nudge_steps": 1000, "tol": 1e-7, "lazy": False}
    if nudge:
        fields["nudge"] = nudge
    net.cfg = msgspec.structs.replace(saved, **fields)
    try:
        X = learner.tensor(x)
        Y = torch.nn.functional.one_hot(torch.as_tensor(y, dtype=torch.long), learner.classes).float().to(X.device)
        d = ep_direction(net, X, Y)
        settled = float((d.free.settle < 1000).float().mean())
        steps = int(d.free.steps) + 50
        gW, gb, _ = bptt_direction(net, X, Y, steps)
        overall, per = cosines([*d.dW, *d.db], [*gW, *gb])
    finally:
        net.cfg = saved
    return overall, per[: len(d.dW)], settled


def _plots(sweep, mem, robust, variants, cos_curve, settle, margin, dreams, y_test, wrong) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    RESULTS.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(2, 2, figsize=(11, 8.5))
    a = ax[0, 0]
    a.plot(sweep["depth"], sweep["ep"], "o-", label="EqProp")
    a.plot(sweep["depth"], sweep["mlp"], "s--", label="backprop MLP")
    a.set(title="Accuracy vs depth (MNIST-1D test)", xlabel="hidden layers", ylabel="test accuracy", xticks=sweep["depth"])
    a.legend()
    a = ax[0, 1]
    mib = 1 / 2**20
    a.plot(mem["steps"], np.array(mem["ep"]) * mib, "o-", label="EqProp (no graph kept)")
    a.plot(mem["steps"], np.array(mem["bptt"]) * mib, "s--", label="BPTT (autograd graph)")
    a.set(title="Peak training memory vs relaxation steps", xlabel="relaxation steps per phase",
          ylabel="peak RSS growth of one step (MiB)", xscale="log")
    a.legend()
    a = ax[1, 0]
    a.plot(robust["sigma"], robust["ep"], "o-", label="EqProp")
    a.plot(robust["sigma"], robust["mlp"], "s--", label="backprop MLP")
    a.set(title="Robustness vs input noise (digits test)", xlabel="Gaussian noise sigma (pixels in [0,1])",
          ylabel="test accuracy")
    a.legend()
    a = ax[1, 1]
    for name, v in variants.items():
        a.scatter(v["train_flops"], v["accuracy"], s=40)
        a.annotate(f"{name}\n{v['seconds']:.1f}s", (v["train_flops"], v["accuracy"]), fontsize=8,
                   xytext=(4, 4), textcoords="offset points")
    a.set(title="Accuracy vs training FLOPs (digits; wall clock labelled)", xlabel="training FLOPs (log)",
          ylabel="test accuracy", xscale="log")
    fig.suptitle("learning.eqprop master chart: every point measured in this run", fontsize=12)
    fig.tight_layout()
    master = RESULTS / "learning_eqprop.png"
    fig.savefig(master, dpi=110)
    plt.close(fig)

    fig = plt.figure(figsize=(12, 6.5))
    gs = fig.add_gridspec(2, 10, height_ratios=[3, 1.2])
    a = fig.add_subplot(gs[0, :5])
    ep_ = [c[0] for c in cos_curve]
    a.plot(ep_, [c[1] for c in cos_curve], "o-", label="overall")
    for k in range(len(cos_curve[0][2])):
        a.plot(ep_, [c[2][k] for c in cos_curve], ".:", label=f"W{k}")
    a.axhline(0.95, color="grey", lw=0.8, label="goal 0.95")
    a.set(title="cosine(EP update, BPTT gradient), digits", xlabel="epoch", ylabel="cosine")
    a.legend(fontsize=8)
    a = fig.add_subplot(gs[0, 5:])
    a.scatter(margin[~wrong], settle[~wrong], s=6, alpha=0.5, label="correct")
    a.scatter(margin[wrong], settle[wrong], s=14, c="red", label="wrong")
    a.set(title="settling steps vs output margin (digits test)", xlabel="top-1 minus top-2 output", ylabel="steps to settle")
    a.legend(fontsize=8)
    for c in range(min(10, len(dreams))):
        a = fig.add_subplot(gs[1, c])
        a.imshow(dreams[c].reshape(8, 8) if dreams[c].size == 64 else dreams[c][None, :], cmap="gray_r", vmin=0, vmax=1)
        a.set_title(f"dream of {c}", fontsize=8)
        a.axis("off")
    fig.tight_layout()
    extra = RESULTS / "learning_eqprop_extra.png"
    fig.savefig(extra, dpi=100)
    plt.close(fig)
    return [str(master), str(extra)]


# ----------------------------------------------------------------------------- the GPU run


def run_gpu(npz: str | None = None, budget_s: float = 420.0, epochs: int = 20) -> Report:
    """Depth 1/2/3/5 per-layer cosine and wall time on MNIST-1D, on the GPU (device machine).

    `python -m bench.learning_eqprop --gpu [mnist1d.npz]` writes learning_eqprop_gpu.json.
    Stops adding depths when `budget_s` would be exceeded, and says so in `extra`.
    """
    import numpy as np
    import torch

    from neuro.neuros.learning.eqprop.config import EqPropConfig
    from neuro.neuros.learning.eqprop.measure import bptt_direction, mlp_scores, train_mlp
    from neuro.neuros.learning.eqprop.model import EqPropNet, ep_direction
    from neuro.neuros.learning.eqprop.train import Learner, make_optimizer, train_step

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t_start = time.perf_counter()
    if npz:
        z = np.load(npz)
        xtr, ytr, xte, yte = z["x_train"], z["y_train"], z["x_test"], z["y_test"]
    else:
        from neuro.neuros.learning.eqprop.data import load

        d1 = load("mnist1d", n_samples=10000)
        xtr, ytr, xte, yte = d1.x_train, d1.y_train, d1.x_test, d1.y_test
    width, batch = 256, 64
    metrics: dict[str, Metric] = {}
    extra: dict[str, Any] = {"device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
                             "torch": torch.__version__, "epochs": epochs, "width": width, "batch_size": batch,
                             "train_examples": int(len(xtr)), "depths": {}}

    for L in (1, 2, 3, 5):
        if time.perf_counter() - t_start > budget_s:
            extra["stopped_before_depth"] = L
            break
        cfg = EqPropConfig(hidden=(width,) * L, epochs=epochs, batch_size=batch, seed=SEED, device="cuda",
                           free_steps=60 + 40 * L, nudge_steps=30 + 20 * L)
        lrn = Learner(cfg, (40,), 10, (-4.0, 4.0), dev)
        rows = [{"epoch": 0, **dict(zip(("overall", "per_layer", "settled_fraction"), _cosine(lrn, xte[:128], yte[:128])))}]
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        train_s = 0.0
        for e in range(1, epochs + 1):
            train_s += lrn.fit_epoch(xtr, ytr)["seconds"]
            if e % 5 == 0 or e == epochs:
                rows.append({"epoch": e, **dict(zip(("overall", "per_layer", "settled_fraction"),
                                                    _cosine(lrn, xte[:128], yte[:128])))})
        if dev.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        acc = lrn.evaluate(xte, yte, max_steps=4 * cfg.free_steps)["accuracy"]
        t1 = time.perf_counter()
        mlp = train_mlp(lrn.net.sizes, xtr, ytr, epochs, batch, seed=SEED, device=str(dev))
        if dev.type == "cuda":
            torch.cuda.synchronize()
        mlp_s = time.perf_counter() - t1
        mlp_acc = float((mlp_scores(mlp, xte).argmax(1) == yte).mean())
        worst_final = min(rows[-1]["per_layer"])
        worst_init = min(rows[0]["per_layer"])
        extra["depths"][str(L)] = {"cosine": rows, "ep_accuracy": acc, "mlp_accuracy": mlp_acc,
                                   "ep_train_seconds": train_s, "ep_wall_seconds_incl_checks": wall,
                                   "mlp_train_seconds": mlp_s}
        metrics[f"depth{L}_cosine_worst_layer_trained"] = Metric(worst_final, "cosine", goal=0.95,
                                                                 note=f"per layer {[round(c, 3) for c in rows[-1]['per_layer']]}")
        metrics[f"depth{L}_cosine_worst_layer_init"] = Metric(worst_init, "cosine", goal=0.95,
                                                              note=f"per layer {[round(c, 3) for c in rows[0]['per_layer']]}")
        metrics[f"depth{L}_ep_accuracy_ratio_vs_backprop"] = Metric(acc / mlp_acc, "ratio",
                                                                    note=f"EP {acc:.3f}, MLP {mlp_acc:.3f}")
        metrics[f"depth{L}_ep_train_seconds"] = Metric(train_s, "s", higher_is_better=False,
                                                       note=f"{epochs} epochs on the GPU; MLP {mlp_s:.1f}s")

    if dev.type == "cuda":  # exact peak GPU memory of one training step vs relaxation steps
        mem = {"steps": [10, 100, 1000], "ep": [], "bptt": []}
        x = torch.rand(256, 40, device=dev)
        y = torch.randint(0, 10, (256,), device=dev)
        oh = torch.nn.functional.one_hot(y, 10).float()
        for t in mem["steps"]:
            for kind in ("ep", "bptt"):
                cfg = EqPropConfig(hidden=(512, 512), free_steps=t, nudge_steps=t, tol=0.0, homeostasis=False, device="cuda")
                net = EqPropNet(cfg, 40, 10, dev)
                opt = make_optimizer(net)
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
                if kind == "ep":
                    train_step(net, opt, x, y)
                else:
                    bptt_direction(net, x, oh, t)
                torch.cuda.synchronize()
                mem[kind].append(float(torch.cuda.max_memory_allocated() - base))
        extra["gpu_memory_bytes"] = mem
        metrics["gpu_peak_memory_ratio_ep_vs_bptt_1000_steps"] = Metric(mem["ep"][-1] / mem["bptt"][-1], "ratio",
                                                                        note="torch.cuda.max_memory_allocated, one step")
        metrics["gpu_ep_peak_memory_growth_steps_x100"] = Metric(mem["ep"][-1] / mem["ep"][0], "ratio", goal=1.5,
                                                                 higher_is_better=False,
                                                                 note=f"BPTT grew x{mem['bptt'][-1] / mem['bptt'][0]:.0f}")
    extra["total_seconds"] = time.perf_counter() - t_start
    return Report(metrics=metrics, extra=extra)


if __name__ == "__main__":
    import sys

    from ._harness import format_table, write_result

    if "--gpu" in sys.argv:
        rest = [a for a in sys.argv[1:] if a != "--gpu"]
        rep = run_gpu(rest[0] if rest else None)
        path = write_result("learning_eqprop_gpu", False, rep)
        print(format_table([("learning_eqprop_gpu", k, m.to_json()) for k, m in rep.metrics.items()]))
        print(path)
