"""GPU runs of the paradigms that can use one (issue 28/29): diffusion, gpt, SAC, adversarial,
at a larger size than the CPU bench, and federated averaging with its 5 clients in 5 processes
(each on the GPU) beside the same rounds in one process; each figure with its wall time.
Writes $OUT/paradigms_gpu.json."""
import json, os, sys, time

import torch

out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}


def timed(name, fn):
    t0 = time.perf_counter()
    try:
        res = fn()
        torch.cuda.synchronize()
        out[name] = {**res, "seconds": time.perf_counter() - t0}
    except Exception as e:  # report, go on with the rest
        out[name] = {"error": f"{type(e).__name__}: {e}", "seconds": time.perf_counter() - t0}
    print(name, json.dumps(out[name]), flush=True)


def diffusion():
    from neuro.neuros.learning.diffusion.experiment import measure
    return measure(train_steps=20000, n=4000, seed=0, diffusion_steps=200, device="cuda")


def gpt():
    from neuro.neuros.learning.gpt.config import GPTConfig
    from neuro.neuros.learning.gpt.corpus import Vocab, corpus
    from neuro.neuros.learning.gpt.experiment import ngram_cross_entropy
    from neuro.neuros.learning.gpt.train import GPT
    vocab = Vocab()
    train, test = vocab.encode(corpus(20000, 0)), vocab.encode(corpus(1000, 1000))
    cfg = GPTConfig(seed=0, device="cuda", d_model=128, heads=4, layers=4, context=64, batch_size=64)
    model = GPT(cfg, len(vocab), "cuda")
    model.fit(train, 3000)
    return {"cross_entropy": model.cross_entropy(test), "unigram": ngram_cross_entropy(train, test, len(vocab), 1),
            "bigram": ngram_cross_entropy(train, test, len(vocab), 2), "d_model": 128, "layers": 4, "steps": 3000}


def adversarial():
    from neuro.neuros.learning.adversarial.experiment import run
    o = run(quick=False, seed=0, device="cuda")
    return {"figure": o.figure, "baseline": o.baseline, **o.extra}


def sac():
    import numpy as np
    from neuro.neuros.learning.reinforcement.pointmass import PointMass
    from neuro.neuros.learning.reinforcement.sac import SAC
    rng = np.random.default_rng(0)
    train_env, test_env = PointMass(seed=0), PointMass(seed=1)
    agent = SAC(PointMass.obs_dim, PointMass.act_dim, seed=0, device="cuda")
    agent.train(train_env, 20000, warmup=500, rng=rng)
    ret = float(np.mean([test_env.episode_return(lambda o: agent.act(o, greedy=True)) for _ in range(50)]))
    rnd = float(np.mean([test_env.episode_return(lambda o: rng.uniform(-1, 1, 2)) for _ in range(50)]))
    return {"sac_return": ret, "random_return": rnd, "env_steps": 20000}


def federated():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from neuro.neuros.learning.federated.config import FederatedConfig
    from neuro.neuros.learning.federated.fedavg import (accuracy, federated_round, load_state, make_net,
                                                        non_iid_split, state_of)
    from neuro.neuros.learning.paradigmkit.torchstate import digits_flat

    cfg = FederatedConfig(seed=0, hidden=256, device="cuda")
    xtr, ytr, xte, yte = digits_flat()
    shape = (xtr.shape[1], cfg.hidden, 10)
    shards = [(xtr[i], ytr[i]) for i in non_iid_split(ytr, cfg.clients, cfg.classes_per_client, 0)]
    rounds, res = 100, {"clients": cfg.clients, "hidden": cfg.hidden, "rounds": 100}
    pool = ProcessPoolExecutor(cfg.clients, mp_context=multiprocessing.get_context("spawn"))
    for label, run in (("processes", pool.map), ("one_process", map)):
        state = state_of(make_net(*shape, 0))
        if label == "processes":  # start the workers (and their CUDA contexts) outside the timing
            list(pool.map(abs, range(cfg.clients)))
        t0 = time.perf_counter()
        for r in range(rounds):
            state, _ = federated_round(state, shards, shape, cfg, r, run=run)
        res[f"{label}_seconds"] = time.perf_counter() - t0
        res[f"{label}_accuracy"] = accuracy(load_state(make_net(*shape, 0).to("cuda"), state), xte, yte)
    pool.shutdown()
    return res


def main() -> None:
    path = os.path.join(os.environ.get("OUT", "."), "paradigms_gpu.json")
    for name, fn in (("federated", federated), ("gpt", gpt), ("adversarial", adversarial), ("sac", sac),
                     ("diffusion", diffusion)):
        timed(name, fn)
        with open(path, "w") as f:  # after each run: a timeout keeps what finished
            json.dump(out, f, indent=2)


if __name__ == "__main__":  # the federated pool's spawned workers import this file too
    main()
