"""What the dream daemon needs of the kernel that `ctx.kernel` does not offer, in one place.

The dream daemon acts on the kernel through `ctx.kernel` (describe, which carries each
neuro's ``dream`` settings and hooks; messages, events, versions, spawn, swap, stop, hook,
ps). What is not there is read here from the kernel's own context object, and only here, as
the net runner does (nets/_kernelside.py):

- `_event(name, neuro, ctx, **data)`: a ``dream.*`` event into the log, checked against the
  catalogue (kernel/_events.py), as the kernel's own events are;
- `caller(ctx)`: who sent the message being handled (a neuro waiting in a ``DreamRun`` must
  not count as interactive work the trainer waits for, or the dream would never end);
- `distill_hook(ctx, name)`: the neuro's own `distill` classmethod, if it has one (it returns
  its student and loss as settings: ``{"student": "mlp", "hidden": [128], "loss": "huber"}``);
- `job_account(ctx, name)`: the kernel's energy account for one dream job of the neuro,
  against its policy's ``energy.per_dream_job`` (dream/_budget.py), a live kernel object.

Each falls back to what works anywhere (no event; no caller; no hook; no account) when the
context is not the kernel's. A ctx.kernel op for each would remove this module.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_event", "caller", "distill_hook", "job_account"]


def _event(name: str, neuro: str | None, ctx: Any, **data: Any) -> None:
    """Log event `name` of the catalogue about `neuro`, caused by the dream neuro of `ctx` (named
    like the kernel's own emitter, so tests/kernel/test_event_catalogue.py reads these calls)."""
    router = getattr(ctx, "_router", None)
    event = getattr(router, "_event", None)
    if event is not None:
        event(name, neuro, ctx.name, **data)


def caller(ctx: Any) -> str | None:
    """The sender of the message the handler of `ctx` is handling (None outside the kernel)."""
    return getattr(getattr(ctx, "_current", None), "sender", None)


def distill_hook(ctx: Any, name: str) -> Any:
    proc = _proc(ctx, name)
    hook = getattr(getattr(proc, "neuro", None), "distill", None)
    return hook if callable(hook) else None


def job_account(ctx: Any, name: str) -> Any:
    """A `JobAccount` (kernel/_energy.py) for a job on `name`; None without a budget or accounting."""
    proc = _proc(ctx, name)
    energy = getattr(proc, "energy", None)
    return energy.job() if energy is not None else None


def _proc(ctx: Any, name: str) -> Any:
    """The kernel's process of running neuro `name`, or None (not running, or not the kernel's context)."""
    procs = getattr(getattr(ctx, "_router", None), "procs", None)
    return procs.get(name) if isinstance(procs, dict) else None
