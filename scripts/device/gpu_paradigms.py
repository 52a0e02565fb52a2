"""GPU runs of the paradigms that can use one (issue 28/29): diffusion, gpt, SAC, adversarial,
at a larger size than the CPU bench; each figure with its wall time. Writes $OUT/paradigms_gpu.json."""
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


for name, fn in (("diffusion", diffusion), ("gpt", gpt), ("adversarial", adversarial), ("sac", sac)):
    timed(name, fn)
with open(os.path.join(os.environ.get("OUT", "."), "paradigms_gpu.json"), "w") as f:
    json.dump(out, f, indent=2)
