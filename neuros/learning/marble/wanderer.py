"""`learning.marble.wanderer`: a parallel wanderer as a neuro of its own (a kernel worker).

Spawn as many as `parallel_wanderers`, named `remote_client`-0, -1, ... (the default
`remote_client` is ``learning.marble.wanderer``); in the process sandbox each is its own
process, so they train at once. It keeps no state: every request carries the net's snapshot,
and the reply the net it trained (parallel.py).
"""

from __future__ import annotations

from neuro import sdk

from .parallel import WanderReply, WanderRequest, train_share

__all__ = ["MarbleWanderer"]


class MarbleWanderer(sdk.Neuro):
    """Trains a share of a round of examples on a snapshot of a MARBLE net; answers what it learnt."""

    name = "learning.marble.wanderer"
    # the process sandbox by default: a wanderer in the kernel's process would share its GIL
    policy = "learning"
    input = WanderRequest
    output = WanderReply

    async def handle(self, ctx: sdk.Context, msg: WanderRequest) -> WanderReply:
        try:
            return await ctx.run_sync(train_share, msg)
        except (ValueError, KeyError, TypeError) as e:
            raise sdk.Reject(f"a wander request this wanderer cannot read: {e}") from e
