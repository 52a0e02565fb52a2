"""The experiments the bench runs, one function a job, each in its own process if asked.

Measuring code (it trains the backprop baselines): nothing on the training path imports it.
A job is a plain dict (so a process pool can ship it) and returns a plain dict:

- `depth_job`: EP, BPTT on the same net, or the MLP, on MNIST-1D at one depth;
- `conv_job`: the convolutional EP net, the same net by BPTT, or the feedforward CNN, on the
  image set;
- `dreams`: generated inputs and who recognises them;
- `lazy_timing`: lazy against dense relaxation, wall time and accuracy.

Seeds are fixed (0) everywhere, so a rerun gives the same numbers on the same machine.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

__all__ = ["DEPTH_EP", "CONV_SPECS", "depth_config", "depth_job", "conv_job", "dreams", "lazy_timing", "run_job"]

# The MNIST-1D depth runs' config, chosen by the runs in docs/learning/eqprop.md: alternating
# relaxation, linear output, half the default initial weights, Adam at 1e-3 with a warm-up and
# a cosine fall to 0, settling budget growing with depth; the coupling norm capped at 2 (not a
# contraction: a cap that lets depth 5 learn at the rate depth 3 wants and keeps the estimate
# aligned, runs 24 and 31-33), and a nudge of 0.01 (at 0.05 the estimate's bias took the
# per-layer cosine with BPTT down to 0.2-0.7 after training; at 0.01 it is 0.997 at depth 3,
# with the same accuracy, runs 26-30).
DEPTH_EP: dict[str, Any] = {
    "schedule": "alternating", "lipschitz": 2.0, "output": "linear", "init_gain": 0.5, "lr_decay": "cosine",
    "homeostasis": False, "tol": 1e-4, "check_every": 5, "nudge_steps": 30, "lr": 1e-3, "batch_size": 100,
    "beta": 0.01,
}

# The nudge at which the depth runs also measure the cosine with BPTT (bias O(beta^2) nearly gone).
SMALL_BETA = 1e-3

# The image task's net: 28x28 -> 32 x 14 x 14 -> 64 x 7 x 7 -> 10 (ConvSpec fields).
CONV_SPECS = ((32, 5, 2, 2), (64, 3, 2, 1))


def depth_config(depth: int, width: int, **overrides: Any):
    """The EqPropConfig of a depth run: DEPTH_EP, free-phase cap 30 + 15 per hidden layer, seed 0
    unless `overrides` name another (the seed draws the initial weights and the batch order)."""
    from .config import EqPropConfig

    opts = {**DEPTH_EP, "free_steps": 30 + 15 * depth, "seed": 0, **overrides}
    return EqPropConfig(hidden=(width,) * depth, **opts)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _device(job: dict[str, Any]) -> torch.device:
    want = job.get("device", "cpu")
    return torch.device("cuda" if want == "cuda" and torch.cuda.is_available() else "cpu")


def depth_job(job: dict[str, Any]) -> dict[str, Any]:
    """job: kind ("ep", "bptt" or "mlp"), depth, width, epochs, n_samples, opts, eval_every, and
    budget_s: stop training once this many seconds have gone (the result says how many epochs ran)."""
    from .data import load

    d = load("mnist1d", n_samples=job.get("n_samples", 5000))
    dev = _device(job)
    L, width, epochs = job["depth"], job["width"], job["epochs"]
    t0 = time.perf_counter()
    if job["kind"] == "mlp":
        from .baselines import mlp_scores, train_mlp

        m = train_mlp([40, *([width] * L), 10], d.x_train, d.y_train, epochs, job.get("batch_size", 100),
                      lr=job.get("lr", 1e-2), seed=0, device=str(dev))
        acc = float((mlp_scores(m, d.x_test).argmax(1) == d.y_test).mean())
        return {"accuracy": acc, "seconds": time.perf_counter() - t0}
    from .baselines import BPTTLearner
    from .train import Learner

    cfg = depth_config(L, width, device=str(dev), epochs=epochs, **job.get("opts", {}))
    cls = BPTTLearner if job["kind"] == "bptt" else Learner
    lrn = cls(cfg, d.input_shape, d.classes, d.input_range, dev)
    curve, unsettled, braked, train_s = [], [], 0.0, 0.0
    every = job.get("eval_every", 10)
    for e in range(1, epochs + 1):
        _sync(dev)
        t1 = time.perf_counter()
        m = lrn.fit_epoch(d.x_train, d.y_train)
        _sync(dev)
        train_s += time.perf_counter() - t1
        unsettled.append(m["unsettled_fraction"])
        braked += m["braked_steps"]
        over = job.get("budget_s") is not None and time.perf_counter() - t0 > job["budget_s"]
        if e % every == 0 or e == epochs or over:
            curve.append((e, lrn.evaluate(d.x_test, d.y_test)["accuracy"]))
        if over:
            break
    out = {"accuracy": curve[-1][1], "curve": curve, "epochs_done": e, "train_seconds": train_s, "braked_steps": braked,
           "unsettled_first": unsettled[0], "unsettled_last": unsettled[-1],
           "coupling_norm": lrn.net.lipschitz_estimate(iters=20), "seconds": time.perf_counter() - t0}
    if job.get("cosine"):
        out["cosine_per_layer"] = cosine_vs_bptt(lrn, d.x_test[:128], d.y_test[:128])[1]
        # the same trained net measured at a much smaller nudge: what is left is not the estimator's bias
        out["cosine_per_layer_small_beta"] = cosine_vs_bptt(lrn, d.x_test[:128], d.y_test[:128], beta=SMALL_BETA)[1]
    return out


def cosine_vs_bptt(learner, x, y, nudge: str | None = None, beta: float | None = None):
    """(overall, per-layer weights cosine, settled fraction) of EP's update vs BPTT on a batch,
    every phase run until settled (caps 1000, tol 1e-7), BPTT through as many steps from rest.
    `beta`: measure at this nudge instead of the net's own (the estimate's bias shrinks with it)."""
    import msgspec

    from .baselines import bptt_direction
    from .measure import cosines
    from .model import ep_direction

    net = learner.net
    saved = net.cfg
    fields: dict[str, Any] = {"free_steps": 1000, "nudge_steps": 1000, "tol": 1e-7, "lazy": False, "check_every": 1}
    if nudge:
        fields["nudge"] = nudge
    if beta is not None:
        fields["beta"] = beta
    net.cfg = msgspec.structs.replace(saved, **fields)
    try:
        X = learner.tensor(x)
        Y = torch.nn.functional.one_hot(torch.as_tensor(y, dtype=torch.long), learner.classes).float().to(X.device)
        d = ep_direction(net, X, Y)
        settled = float((d.free.settle < 1000).float().mean())
        gW, gb, _, _ = bptt_direction(net, X, Y, int(d.free.steps) + 50)
        overall, per = cosines([*d.dW, *d.db], [*gW, *gb])
    finally:
        net.cfg = saved
    return overall, per[: len(d.dW)], settled


def conv_job(job: dict[str, Any]) -> dict[str, Any]:
    """job: kind ("ep", "bptt" or "cnn"), epochs, opts, n_train (None: all), device."""
    from .baselines import ConvBPTTLearner, cnn_accuracy, train_cnn
    from .config import EqPropConfig
    from .conv import ConvLearner, ConvSpec
    from .data import load

    torch.backends.cudnn.allow_tf32 = False  # EP's contrast is a small difference of two states
    torch.backends.cuda.matmul.allow_tf32 = False
    d = load(job.get("data", "mnist5k"))
    n = job.get("n_train") or len(d.x_train)
    xtr, ytr = d.x_train[:n], d.y_train[:n]
    shape = (1, *d.input_shape)
    specs = tuple(ConvSpec(*s) for s in job.get("specs", CONV_SPECS))
    dev = _device(job)
    t0 = time.perf_counter()
    if job["kind"] == "cnn":
        m = train_cnn(shape, d.classes, specs, xtr, ytr, job["epochs"], 100, seed=0, device=str(dev))
        return {"accuracy": cnn_accuracy(m, d.x_test, d.y_test, shape), "seconds": time.perf_counter() - t0}
    opts = {"schedule": "alternating", "lipschitz": None, "tol": 1e-4, "check_every": 5,
            "free_steps": 40, "nudge_steps": 15, "batch_size": 100, "lr": 1e-3, **job.get("opts", {})}
    cfg = EqPropConfig(seed=0, device=str(dev), **opts)
    cls = ConvBPTTLearner if job["kind"] == "bptt" else ConvLearner
    lrn = cls(cfg, shape, d.classes, specs, dev)
    curve = []
    for e in range(1, job["epochs"] + 1):
        lrn.fit_epoch(xtr, ytr)
        if e % job.get("eval_every", 5) == 0 or e == job["epochs"]:
            curve.append((e, lrn.evaluate(d.x_test, d.y_test)["accuracy"]))
    _sync(dev)
    return {"accuracy": curve[-1][1], "curve": curve, "seconds": time.perf_counter() - t0}


def dreams(learner, d, per_class: int, mlp=None) -> dict[str, Any]:
    """Dream `per_class` inputs per label with the learner's config, and with refinement off;
    how often the same net (and, if given, an independent MLP) recognises them, and how often a
    dream correlates best with its own class's mean training input."""
    import msgspec

    from .baselines import mlp_scores

    labels = np.array([c for c in range(d.classes) for _ in range(per_class)])
    means = np.stack([d.x_train[d.y_train == c].mean(0).ravel() for c in range(d.classes)])
    out: dict[str, Any] = {}
    saved = learner.cfg
    for tag, cfg in (("energy_only", msgspec.structs.replace(saved, dream_refine=0)), ("refined", saved)):
        learner.cfg = cfg
        try:
            xs = learner.dream(labels.tolist())
        finally:
            learner.cfg = saved
        scores, _, _ = learner.predict(xs)
        flat = xs.reshape(len(labels), -1)
        corr = np.corrcoef(np.concatenate([flat, means]))[: len(labels), len(labels):]
        row = {"self_agreement": float((scores.argmax(1) == labels).mean()),
               "class_mean_match": float((corr.argmax(1) == labels).mean())}
        if mlp is not None:
            row["mlp_agreement"] = float((mlp_scores(mlp, xs).argmax(1) == labels).mean())
        out[tag] = row
        out[f"{tag}_images"] = xs[:: per_class]  # one per class, for the picture
    return out


def lazy_timing(job: dict[str, Any]) -> dict[str, Any]:
    """Dense and lazy training, interleaved `repeats` times: wall seconds, FLOPs, accuracy."""
    from .config import EqPropConfig
    from .data import load
    from .train import Learner

    d = load(job.get("data", "digits"))
    dev = _device(job)
    rows: dict[str, list[dict[str, float]]] = {"dense": [], "lazy": []}
    for _ in range(job.get("repeats", 2)):
        for tag in ("dense", "lazy"):
            cfg = EqPropConfig(seed=0, device=str(dev), lazy=tag == "lazy", **job.get("opts", {}))
            lrn = Learner(cfg, d.input_shape, d.classes, d.input_range, dev)
            _sync(dev)
            t0 = time.perf_counter()
            flops = 0.0
            for _ in range(job["epochs"]):
                flops += lrn.fit_epoch(d.x_train, d.y_train)["flops"]
            _sync(dev)
            rows[tag].append({"seconds": time.perf_counter() - t0, "flops": flops,
                              "accuracy": lrn.evaluate(d.x_test, d.y_test)["accuracy"]})
    return rows


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job dict in this process (one torch thread; the pool runs jobs side by side)."""
    torch.set_num_threads(1)
    fn = {"depth": depth_job, "conv": conv_job, "lazy": lazy_timing}[job["family"]]
    return fn(job)
