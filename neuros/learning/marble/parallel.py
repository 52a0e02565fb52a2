"""Parallel wanderers as kernel workers (section 4.8's `dynamic_wander_parallel`, without a
private process pool): each wanderer is a neuro (`wanderer.py`, named `remote_client`-0,
-1, ...) that takes a snapshot of the net and a share of a chunk of examples, wanders for
each (from a seed of its own), and answers the paths; the learner replays every path on its
own net to apply the updates, MARBLE's "main process replays each path".

The learner's job thread submits chunk k + 1 before it replays chunk k, so the wanderers
work while it learns: a chunk's paths come from the net as it was one chunk earlier.
`remote_timeout` bounds each call; with `remote_fallback` a failed call's share is wandered
locally instead of failing the job. With parallel_update_strategy "average", the paths of one
chunk are learnt with their updates averaged over the chunk (one flush a chunk).
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec

from neuro.sdk import Message

__all__ = ["ParallelWanderers", "snapshot", "wander_share", "WanderRequest", "WanderReply"]


class WanderRequest(Message, tag="marble_wander"):
    """A snapshot of the net (msgpack of `Neuronenblitz.to_dict`), the inputs of one share
    (rows, float32 bytes) with their example indexes, and the share's seed."""

    net: bytes
    x: bytes
    dim: int
    indexes: list[int]
    seed: int


class WanderReply(Message, tag="marble_paths"):
    """One row per path: [example index, output, entry k, synapse id, ...]."""

    paths: list[list[int]]


def snapshot(net: Any) -> bytes:
    return msgspec.msgpack.encode(net.to_dict())


def wander_share(req: WanderRequest) -> WanderReply:
    """What a wanderer does (also the local fallback): rebuild the net, wander each example's
    paths with the share's own generator, answer them."""
    import numpy as np

    from .blitz import Neuronenblitz
    from .wander import beam_wander, wander

    net = Neuronenblitz.from_dict(msgspec.msgpack.decode(req.net))
    net.rng = np.random.default_rng(req.seed)
    x = np.frombuffer(req.x, "<f4").reshape(len(req.indexes), req.dim)
    rows: list[list[int]] = []
    for i, row in zip(req.indexes, x):
        for c in range(net.outputs):
            target = int(net.core.output_ids[c])
            for j, (entry, _) in enumerate(net.entries(row)):
                if net.cfg.beam_width > 1:
                    path = beam_wander(net, entry, target, 1.0, net.cfg.beam_width)
                else:
                    path = wander(net, entry, target, 1.0, net.rng)
                rows.append([i, c, j, *path.synapses])
    return WanderReply(paths=rows)


class ParallelWanderers:
    """The job thread's handle on the wanderer neuros: `submit(k, net, x, chunk)` starts the
    calls for chunk k (on the trio side, through `nursery`), `collect(k)` waits for them."""

    def __init__(self, ctx: Any, nursery: Any, cfg: Any, epoch: int) -> None:
        self.ctx, self.nursery, self.cfg, self.epoch = ctx, nursery, cfg, epoch
        self.names = [f"{cfg.remote_client}-{i}" for i in range(cfg.parallel_wanderers)]
        self._results: dict[int, list[Any]] = {}
        self._done: dict[int, threading.Event] = {}
        self.fallbacks = 0

    def _requests(self, k: int, net: Any, x: Any, chunk: list[int]) -> list[WanderRequest]:
        import numpy as np

        blob = snapshot(net)
        n = len(self.names)
        shares = [chunk[w::n] for w in range(n)]
        return [WanderRequest(net=blob, x=np.ascontiguousarray(x[share], "<f4").tobytes(), dim=int(x.shape[1]),
                              indexes=list(share), seed=hash((self.cfg.seed, self.epoch, k, w)) & 0x7FFFFFFF)
                for w, share in enumerate(shares)]

    def submit(self, k: int, net: Any, x: Any, chunk: list[int]) -> None:
        import trio

        requests = self._requests(k, net, x, chunk)
        self._done[k] = threading.Event()
        trio.from_thread.run_sync(self.nursery.start_soon, self._call_all, k, requests)

    async def _call_all(self, k: int, requests: list[WanderRequest]) -> None:
        calls = [(name, req) for name, req in zip(self.names, requests) if req.indexes]
        outcomes = await self.ctx.gather(calls, timeout=self.cfg.remote_timeout, limit=len(calls) or 1)
        self._results[k] = list(zip([req for _, req in calls], outcomes))
        self._done[k].set()

    def collect(self, k: int) -> dict[int, dict[tuple[int, int], list[int]]]:
        """{example: {(output, entry k): synapse ids}} of chunk k."""
        self._done[k].wait()
        del self._done[k]
        given: dict[int, dict[tuple[int, int], list[int]]] = {}
        for req, outcome in self._results.pop(k):
            if isinstance(outcome, Exception):
                if not self.cfg.remote_fallback:
                    from neuro.sdk import NoSuchNeuro

                    fix = (f"spawn {len(self.names)} MarbleWanderer neuros named {', '.join(self.names)}"
                           if isinstance(outcome, NoSuchNeuro) else "see the wanderer's error above")
                    raise ValueError(f"parallel wanderer failed ({type(outcome).__name__}: {outcome}); {fix}, or set "
                                     "remote_fallback to wander here instead") from outcome
                self.fallbacks += 1
                outcome = wander_share(req)
            for row in outcome.paths:
                given.setdefault(row[0], {})[(row[1], row[2])] = row[3:]
        return given
