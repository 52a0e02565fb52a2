"""Parallel wanderers as kernel workers (section 4.8's `dynamic_wander_parallel`, without a
private process pool): each wanderer is a neuro (`wanderer.py`, named `remote_client`-0,
-1, ...) in a process of its own. An epoch runs in rounds of `parallel_chunk_size` examples
a wanderer: the learner sends each wanderer the net as it is (a snapshot) and its share of
the round; each trains its share on its copy, wandering *and* learning, leaving the graph's
shape alone; the learner merges what they learnt (merge.py), then settles each example's
structural side effects and bookkeeping on its own net (`Neuronenblitz.settle`), and the
next round starts from the merged net. So the wanderers do the work per example at once and
the learner only merges, once a round.

`remote_timeout` bounds each call; with `remote_fallback` a failed call's share is trained
here on a copy instead of failing the job. Each reply carries the CPU seconds the wanderer
spent on it (`cpu_s`), so a job reports the work per example whatever else the machine runs.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import msgspec

from neuro.sdk import Message

__all__ = ["ParallelWanderers", "snapshot", "train_share", "WanderRequest", "WanderReply", "PROCESS"]

#: this interpreter's name in a reply: pid (the sandbox's own pid space may repeat it) and a
#: token drawn at import, so two replies name one process only if they came from one
PROCESS = f"{os.getpid()}-{secrets.token_hex(4)}"


class WanderRequest(Message, tag="marble_share"):
    """A snapshot of the net (msgpack of `Neuronenblitz.to_dict`), the training rows the
    share may touch (`rows`: indexes into the `n` examples; x float32 and t float64 bytes),
    the examples to train in order (`indexes`) and the share's seed."""

    net: bytes
    n: int
    rows: list[int]
    x: bytes
    t: bytes
    indexes: list[int]
    seed: int


class WanderReply(Message, tag="marble_learnt"):
    """What the share learnt (`learnt`: msgpack of the columns learning moves and the
    learning state, see `learnt`), each example's squared error (in `indexes`' order), its
    reached paths (rows [example index, synapse id, ...]), its new episodic memories (rows
    [entry, target, synapse id, ...]), the CPU seconds the wanderer spent on the request and
    the process that did it (`PROCESS`)."""

    learnt: bytes
    indexes: list[int]
    errors: list[float]
    paths: list[list[int]]
    episodic: list[list[int]]
    cpu_s: float
    process: str


def snapshot(net: Any) -> bytes:
    """The net a share starts from: all of it but the buffers a share does not read."""
    return msgspec.msgpack.encode(net.to_dict(buffers=net.cfg.use_experience_replay))


def learnt(net: Any) -> bytes:
    """What merge.py reads of a trained share: the columns learning moves, and the state."""
    from .merge import ADDED_COLUMNS, MEAN_COLUMNS

    arrays = {name: getattr(net.core, name).astype("<f8").tobytes() for name in (*ADDED_COLUMNS, *MEAN_COLUMNS)}
    return msgspec.msgpack.encode({"arrays": arrays, "state": net.state.to_dict()})


def train_share(req: WanderRequest) -> WanderReply:
    """What a wanderer does (also the local fallback): rebuild the net, train the share's
    examples with the share's own generator, leaving the graph's shape to the learner."""
    import time

    import numpy as np

    from .blitz import Neuronenblitz
    from .learn import flush_updates

    started = time.thread_time()
    net = Neuronenblitz.from_dict(msgspec.msgpack.decode(req.net))
    net.rng = np.random.default_rng(req.seed)
    net.episodic.added = 0  # count this share's memories only
    dim, outputs = net.core.centre.shape[1], net.outputs
    x, t = np.zeros((req.n, dim), np.float32), np.zeros((req.n, outputs))
    x[req.rows] = np.frombuffer(req.x, "<f4").reshape(len(req.rows), dim)
    t[req.rows] = np.frombuffer(req.t, "<f8").reshape(len(req.rows), outputs)
    net.prime_entries(x[req.indexes])
    errors: list[float] = []
    rows: list[list[int]] = []
    for i in req.indexes:
        paths: list[list[int]] = []
        errors.append(net.train_example(x[i], t[i], index=i, deferred=paths))
        rows.extend([i, *p] for p in paths)
        if net.cfg.use_experience_replay:
            net.replay_step(x, t)
    flush_updates(net)
    blob = learnt(net)
    new = list(net.episodic.paths)[len(net.episodic.paths) - min(net.episodic.added, len(net.episodic.paths)):]
    return WanderReply(learnt=blob, indexes=list(req.indexes), errors=errors, paths=rows,
                       episodic=[[e, t, *p] for e, t, p in new], cpu_s=time.thread_time() - started,
                       process=PROCESS)


class ParallelWanderers:
    """The job thread's handle on the wanderer neuros: `train_round(k, net, x, t, chunk)`
    trains round k in them (the calls run on the trio side) and answers their replies."""

    def __init__(self, ctx: Any, cfg: Any, epoch: int) -> None:
        self.ctx, self.cfg, self.epoch = ctx, cfg, epoch
        self.names = [f"{cfg.remote_client}-{i}" for i in range(cfg.parallel_wanderers)]
        self.fallbacks = 0
        self.worker_cpu_s = 0.0  # what the wanderers spent, summed over them
        self.processes: set[str] = set()  # the processes other than this one that trained shares

    def _requests(self, k: int, net: Any, x: Any, t: Any, chunk: list[int]) -> list[WanderRequest]:
        import numpy as np

        from .learn import flush_updates

        flush_updates(net)  # else each share would apply the learner's pending updates again
        blob, n = snapshot(net), len(self.names)
        shares = [chunk[w::n] for w in range(n)]
        out = []
        for w, share in enumerate(shares):
            # experience replay draws from every example seen so far, so it needs them all
            rows = list(range(len(x))) if self.cfg.use_experience_replay else sorted(share)
            out.append(WanderRequest(net=blob, n=len(x), rows=rows, x=np.ascontiguousarray(x[rows], "<f4").tobytes(),
                                     t=np.ascontiguousarray(t[rows], "<f8").tobytes(), indexes=list(share),
                                     seed=hash((self.cfg.seed, self.epoch, k, w)) & 0x7FFFFFFF))
        return out

    def train_round(self, k: int, net: Any, x: Any, t: Any, chunk: list[int]) -> list[WanderReply]:
        requests = [r for r in self._requests(k, net, x, t, chunk) if r.indexes]
        outcomes = self._call(requests)
        replies = []
        for name, req, outcome in zip(self.names, requests, outcomes):
            if isinstance(outcome, Exception):
                if not self.cfg.remote_fallback:
                    from neuro.sdk import NoSuchNeuro

                    fix = (f"spawn {len(self.names)} MarbleWanderer neuros named {', '.join(self.names)}"
                           if isinstance(outcome, NoSuchNeuro) else f"see {name}'s error above")
                    raise ValueError(f"parallel wanderer failed ({type(outcome).__name__}: {outcome}); {fix}, or set "
                                     "remote_fallback to train its share here instead") from outcome
                self.fallbacks += 1
                outcome = train_share(req)
            self.worker_cpu_s += outcome.cpu_s
            if outcome.process != PROCESS:
                self.processes.add(outcome.process)
            replies.append(outcome)
        return replies

    def _call(self, requests: list[WanderRequest]) -> list[Any]:
        """Each request to its wanderer at once; a reply or the exception, in order."""
        import trio

        return trio.from_thread.run(self._call_all, requests)

    async def _call_all(self, requests: list[WanderRequest]) -> list[Any]:
        calls = list(zip(self.names, requests))
        return await self.ctx.gather(calls, timeout=self.cfg.remote_timeout, limit=len(calls) or 1)
