"""The governance parts of a policy: privacy labels (`[labels]`) and energy budgets (`[energy]`).

Their schema is here; `_labels` enforces the labels and `_energy` accounts and enforces the
budgets (docs/privacy.md, docs/energy.md). Both tables default to nothing asked, so a policy
that says nothing about them behaves as before.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import msgspec

from neuro._checks import brief
from neuro._errors import PolicyError

__all__ = ["Egress", "LabelRules", "EnergyBudget", "EGRESS_CHANNELS", "OnEnergy"]

#: The ways out of the kernel a neuro may have, each a field of `Egress`.
EGRESS_CHANNELS = ("network", "ray", "files", "clients")
OnEnergy = Literal["throttle", "reject", "stop"]
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:@/*")


def _check_labels(rules: msgspec.Struct, name: str, field: str) -> None:
    """Field `name` of `rules` must be a tuple of labels (a list is made one): a bare string would
    make `in` a substring test; "*" (any) stands alone."""
    labels = getattr(rules, name)
    if isinstance(labels, list):
        labels = tuple(labels)
        msgspec.structs.force_setattr(rules, name, labels)
    if not isinstance(labels, tuple):
        raise PolicyError(f"`{field}` must be a tuple of labels, for example (\"private\",), got {brief(labels)}")
    if "*" in labels and len(labels) > 1:
        raise PolicyError(f"`{field}` mixes \"*\" (any label) with other labels {brief(labels)}: give \"*\" alone "
                          "or only the labels")
    for label in labels:
        if not isinstance(label, str) or not label or not set(label) <= _LABEL_CHARS:
            raise PolicyError(f"`{field}` entry {brief(label)} is not a label: letters, digits and _-.:@/ "
                              "(for example \"private\" or \"user:alice\")")


class Egress(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The labels that may leave the kernel through each way out a neuro has ("*": any).

    A channel counts only where the neuro has it: `network` when `capabilities.network` is
    granted, `ray` when it runs in the ray backend (an actor may be placed on another machine),
    `files` when `capabilities.write` grants a path (files outlive the message), `clients`
    for replies and publishes that reach the control socket's clients."""

    network: tuple[str, ...] = ()
    ray: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for channel in EGRESS_CHANNELS:
            _check_labels(self, channel, f"labels.egress.{channel}")


class LabelRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Privacy labels: where labelled data comes from, who may hold it, and how it may leave."""

    # Labels every message it receives is given: what it is handed is labelled data (an inbox
    # of the user's mail). Its taint from the start, like `outputs`.
    inputs: tuple[str, ...] = ()
    # Labels everything it sends, replies and publishes carries (a store of the user's contacts).
    outputs: tuple[str, ...] = ()
    # The labels it may receive ("*": any). Nothing by default: labelled data reaches only
    # neuros cleared for it.
    clearance: tuple[str, ...] = ()
    # The labels that may leave through each way out it has; see Egress.
    egress: Egress = Egress()
    # The labels it may remove from its taint with `ctx.declassify` (logged); none by default.
    declassify: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field in ("inputs", "outputs", "clearance", "declassify"):
            _check_labels(self, field, f"labels.{field}")
        if not isinstance(self.egress, Egress):
            raise PolicyError(f"`labels.egress` must be an Egress (for example Egress(network=(\"public\",))), "
                              f"got {brief(self.egress)}")
        for field in ("inputs", "outputs"):
            if "*" in getattr(self, field):
                raise PolicyError(f"`labels.{field}` names labels to put on data; \"*\" (any) is for "
                                  "clearance, egress and declassify")

    @property
    def used(self) -> bool:
        """Whether the policy relies on labels (then in-process neuros are refused)."""
        return bool(self.inputs or self.outputs or self.clearance or self.declassify)


class EnergyBudget(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Joules a neuro may use; 0: no budget. Measured or estimated (docs/energy.md)."""

    # Over any rolling hour (the window is the last 3600 s of its accounting).
    per_hour: float = 0.0
    # On one message's handling.
    per_message: float = 0.0
    # On one dream job that distils this neuro: the dream daemon stops the job at it (dream/_budget.py).
    per_dream_job: float = 0.0
    # Past a budget: throttle (each message waits what the budget's rate takes to pay for the last),
    # reject (new messages get EnergyExceeded), or stop the neuro.
    on_breach: OnEnergy = "reject"
    # Background work (priority "background") runs only while the machine is on mains power,
    # where /sys/class/power_supply says; where it cannot tell, it runs.
    mains_only: bool = False

    def __post_init__(self) -> None:
        for field in ("per_hour", "per_message", "per_dream_job"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise PolicyError(f"`energy.{field}` must be joules, 0 (no budget) or more, got {brief(value)}")
        if self.on_breach not in get_args(OnEnergy):
            raise PolicyError(f"`energy.on_breach` must be one of {', '.join(map(repr, get_args(OnEnergy)))}, "
                              f"got {self.on_breach!r}")

    @property
    def used(self) -> bool:
        return bool(self.per_hour or self.per_message or self.per_dream_job)

