"""Privacy labels that follow the data: taint, clearance, egress and declassification.

A neuro's taint (`Process.labels`) is the set of labels everything it sends carries: its
policy's `labels.inputs` and `labels.outputs`, and every label of every message it was given
or reply it got. It is sticky: a neuro that once held labelled data may have kept it in its
state, so what it sends later carries the labels too, until it declassifies them (an explicit,
logged act its policy must grant). A message's labels (`Envelope.labels`) are its sender's
taint when it was sent, which includes the message being handled (parent -> child).

The kernel checks each labelled message before it is accepted, so the sender gets the error:
the recipient must be cleared for every label (`labels.clearance`), and each way out of the
kernel the recipient has (network, a ray placement, files it may write, the control socket's
clients) must allow the label (`labels.egress`). A refusal is a `flow.refused` event and a
`FlowRefused` naming the label and the rule. docs/privacy.md says what this covers and what not.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Callable

import trio

from neuro._errors import FlowRefused, PolicyError

if TYPE_CHECKING:
    from ._process import Process

__all__ = ["NO_LABELS", "refusal", "admit", "refused", "taint", "egress_channels", "declassify", "check_labels",
           "ArtifactLabels", "artifact_labels", "client_egress", "reply_received", "policy_labels", "lineage_labels",
           "check_taint", "check_reload", "delivery_refused"]

NO_LABELS: frozenset[str] = frozenset()


def egress_channels(proc: Process) -> tuple[str, ...]:
    """The ways out of the kernel `proc` has, by the names of `labels.egress`'s fields."""
    return _channels(proc.policy, proc.backend)


def _channels(policy: Any, backend: str) -> tuple[str, ...]:
    caps = policy.capabilities
    out = []
    if caps.network:
        out.append("network")
    if backend == "ray":
        out.append("ray")
    if caps.write:
        out.append("files")
    return tuple(out)


def _allows(allowed: tuple[str, ...], label: str) -> bool:
    return label in allowed or "*" in allowed


def refusal(proc: Process, labels: frozenset[str]) -> tuple[str, str, str] | None:
    """The first (label, rule, why) that keeps `labels` from reaching `proc`, or None."""
    rules = proc.policy.labels
    for label in sorted(labels):
        if label in proc.labels:
            continue  # it holds this label already (its own inputs or outputs): nothing new reaches it
        if not _allows(rules.clearance, label):
            return label, "clearance", (f"its policy {proc.policy.name!r} does not clear it for {label!r}; add "
                                        f"{label!r} to `labels.clearance` if it may hold such data")
        for channel in egress_channels(proc):
            if not _allows(getattr(rules.egress, channel), label):
                return label, f"egress.{channel}", (
                    f"it has a way out ({_WAYS[channel]}) and its policy {proc.policy.name!r} does not let "
                    f"{label!r} leave through it (`labels.egress.{channel}`)")
    return None


_WAYS = {"network": "capabilities.network", "ray": "the ray backend, which may place it on another machine",
         "files": "capabilities.write", "clients": "the control socket's clients"}


def admit(proc: Process, sender: str, labels: frozenset[str], _event: Callable[..., None], what: str) -> None:
    """Refuse, with an event and a FlowRefused, labelled data `proc` may not be given."""
    found = refusal(proc, labels)
    if found is None:
        return
    label, rule, why = found
    raise refused(_event, proc.name, sender, label, rule, f"{what} from {sender!r} to {proc.name!r} carries the "
                  f"label {label!r} and was refused by rule `labels.{rule}`: {why}")


def delivery_refused(proc: Process, sender: str, labels: frozenset[str], _event: Callable[..., None],
                     what: str = "a queued message") -> str | None:
    """A message with `labels`, admitted under the policy `proc` had then, is about to reach it
    under the one it has now (a reload, a swap, or a kernel restart for a redelivered durable
    message, came between): it is checked again, as on first delivery. The reason to
    dead-letter it (after a `flow.refused` event), or None to deliver it."""
    if not labels or labels <= proc.labels:
        return None
    try:
        admit(proc, sender, labels, _event, what)
    except FlowRefused as e:
        return str(e)
    return None


def refused(_event: Callable[..., None], neuro: str, sender: str, label: str, rule: str, message: str) -> FlowRefused:
    _event("flow.refused", neuro, sender, label=label, rule=rule, reason=message)
    return FlowRefused(message, label=label, rule=rule, neuro=neuro)


def taint(proc: Process, labels: frozenset[str]) -> None:
    """`proc` was given data with `labels`: what it sends from now on carries them."""
    if not labels <= proc.labels:
        proc.labels = proc.labels | labels


def declassify(proc: Process, label: str, reason: str, message_id: int | None, _event: Callable[..., None]) -> None:
    """Remove `label` from `proc`'s taint, if its policy grants it; logged either way."""
    if not isinstance(label, str) or not isinstance(reason, str):
        raise TypeError(f"declassify takes a label and a reason, both str, got {label!r}, {reason!r}")
    rules = proc.policy.labels
    if not _allows(rules.declassify, label):
        raise refused(_event, proc.name, proc.name, label, "declassify",
                      f"{proc.name!r} may not declassify {label!r}: its policy {proc.policy.name!r} does not grant "
                      f"it in `labels.declassify`")
    if not reason.strip():
        raise ValueError("declassify needs a reason (it is logged): say why this data may lose its label")
    keep = frozenset(rules.inputs + rules.outputs)  # its policy labels what it sends whatever it does
    proc.labels = (proc.labels - {label}) | keep
    _event("flow.declassified", proc.name, proc.name, label=label, reason=reason, message_id=message_id)


def check_labels(name: str, policy: Any, backend: str) -> None:
    """Before a neuro starts under `policy` in `backend`: a policy relying on labels cannot run
    in the kernel's process, whose code shares memory with every other neuro's and could read
    any label's data; and the labels it puts on its own data must be allowed out of every way
    out it has."""
    rules = policy.labels
    if backend == "inproc" and rules.used:
        raise PolicyError(f"{name}: policy {policy.name!r} relies on privacy labels (`labels`), which only a sandbox "
                          "can enforce: an in-process neuro shares the kernel's memory; give it sandbox = \"process\" "
                          "(or docker, ray), or drop `labels` from the policy")
    for label in sorted(policy_labels(policy)):
        for channel in _channels(policy, backend):
            if not _allows(getattr(rules.egress, channel), label):
                raise PolicyError(f"{name}: policy {policy.name!r} labels its data {label!r} and gives it a way out "
                                  f"({_WAYS[channel]}) that `labels.egress.{channel}` does not allow {label!r} through; "
                                  f"allow it there, or take the way out away")


def check_taint(name: str, labels: frozenset[str], policy: Any, backend: str) -> None:
    """Before `name`, which holds data with `labels` (its taint, a student's lineage), goes on
    under `policy` in `backend` (a swap): it must stay cleared for each label, and no way out
    the new policy gives it may let one leave; nor may it move into the kernel's process."""
    if not labels:
        return
    shown = ", ".join(map(repr, sorted(labels)))
    if backend == "inproc":
        raise PolicyError(f"{name} holds data labelled {shown}, and the new version would run in the kernel's "
                          "process, where labels cannot hold; give it a sandboxed policy, or declassify first")
    rules, own = policy.labels, policy_labels(policy)
    for label in sorted(labels):
        if label not in own and not _allows(rules.clearance, label):
            raise PolicyError(f"{name} holds data labelled {label!r}, for which the new version's policy "
                              f"{policy.name!r} does not clear it (`labels.clearance`); clear it there, or "
                              "declassify first")
        for channel in _channels(policy, backend):
            if not _allows(getattr(rules.egress, channel), label):
                raise PolicyError(f"{name} holds data labelled {label!r}, and the new version's policy "
                                  f"{policy.name!r} gives it a way out ({_WAYS[channel]}) that "
                                  f"`labels.egress.{channel}` does not allow {label!r} through")


def check_reload(name: str, labels: frozenset[str], policy: Any, backend: str) -> None:
    """Before a reloaded `policy` applies to running `name`, which holds data with `labels` (its
    taint): no way out it gives may let one of them leave. A reload that grants the network or
    a write path to a neuro that already holds labelled data is refused for it (it keeps its
    policy), as a swap into such a policy is; clearance may shrink (that leaks nothing)."""
    if not labels:
        return
    for channel in _channels(policy, backend):
        allowed = getattr(policy.labels.egress, channel)
        held = [label for label in sorted(labels) if not _allows(allowed, label)]
        if held:
            raise PolicyError(f"{name} holds data labelled {', '.join(map(repr, held))}, and the reloaded policy "
                              f"{policy.name!r} gives it a way out ({_WAYS[channel]}) that `labels.egress.{channel}` "
                              f"({', '.join(map(repr, allowed)) or 'nothing'}) does not let them through; it keeps "
                              "its old policy: allow them there, declassify first, or restart it")


def client_egress(proc: Process | None, _event: Callable[..., None], what: str,
                  labels: frozenset[str] | None = None) -> None:
    """Data from `proc` is about to reach a control-socket client: its taint (or `labels`, the
    taint it had when it made the data) must be allowed out through `labels.egress.clients`."""
    labels = proc.labels if labels is None and proc is not None else labels
    if proc is None or not labels:
        return
    allowed = proc.policy.labels.egress.clients
    for label in sorted(labels):
        if not _allows(allowed, label):
            raise refused(_event, proc.name, "client", label, "egress.clients",
                          f"{what} from {proc.name!r} carries the label {label!r}, which its policy "
                          f"{proc.policy.name!r} does not let out to the control socket's clients "
                          "(`labels.egress.clients`)")


class ArtifactLabels:
    """The labels of artifacts (state a neuro kept with ctx.put_artifact) a tainted neuro stored:
    a neuro that reads one back is given them, as if it had been sent the data. Kept in the
    log's `artifact_labels` table (the store's `keep_labels`) and read into memory at first use,
    so they outlive the kernel that stored them."""

    def __init__(self, store: Any, by_hash: dict[str, frozenset[str]]) -> None:
        self._store = store
        self._by_hash = by_hash

    async def put(self, proc: Process, data: bytes, media_type: str) -> str:
        """Store `data` for `proc`; returns its hash. Its taint is on disk first: a crash between
        leaves labels with no bytes, never bytes with no labels."""
        store = self._store
        if proc.labels:
            digest = await trio.to_thread.run_sync(_sha256, data)
            held = self._by_hash.get(digest, NO_LABELS)
            if not proc.labels <= held:
                held = self._by_hash[digest] = held | proc.labels
                await trio.to_thread.run_sync(store.keep_labels, digest, held)
        return (await trio.to_thread.run_sync(store.put_bytes, data, media_type)).hash

    def read(self, proc: Process, digest: str, _event: Callable[..., None]) -> None:
        labels = self._by_hash.get(digest)
        if labels:
            admit(proc, proc.name, labels, _event, f"artifact {digest[:12]}")
            taint(proc, labels)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def artifact_labels(router: Any, store: Any) -> ArtifactLabels:
    """The kernel's table of labelled artifacts (one per router, read from `store` on first use)."""
    table = router.__dict__.get("artifact_labels")
    if table is None:
        by_hash = await trio.to_thread.run_sync(store.labels)
        table = router.__dict__.setdefault("artifact_labels", ArtifactLabels(store, by_hash))
    return table


def reply_received(router: Any, caller: Process, callee_name: str, labels: frozenset[str]) -> None:
    """`caller` got an outcome (a reply, or an error whose text may hold the data) from
    `callee_name`, whose taint was `labels` when it gave it: refuse it if they may not reach
    the caller, else taint the caller with them."""
    if not labels or labels <= caller.labels:
        return
    admit(caller, callee_name, labels, router._event, "a reply")
    taint(caller, labels)


def policy_labels(policy: Any) -> frozenset[str]:
    """The labels a policy puts on what its neuro holds and sends."""
    rules = policy.labels
    return frozenset(rules.inputs + rules.outputs) if rules.inputs or rules.outputs else NO_LABELS


def lineage_labels(neuro: Any) -> frozenset[str]:
    """The labels a version's lineage records in its notes (a dream student trained on labelled
    traces: dream/_distil.py puts its teacher's labels there)."""
    lineage = vars(neuro).get("__neuro_lineage__") if isinstance(neuro, type) else None
    notes = lineage.get("notes") if isinstance(lineage, dict) else None
    labels = notes.get("labels") if isinstance(notes, dict) else None
    return frozenset(str(x) for x in labels) if labels else NO_LABELS


#: The event fields that may hold a neuro's data (a hook's result, an error's text).
_DATA_FIELDS = ("result", "error")


def redacted(router: Any, data: dict[str, Any], neuro: str | None, actor: str) -> dict[str, Any]:
    """`data` as subscribers may see it: what a labelled neuro's hook returned or raised stays in
    the log (docs/privacy.md), its subscribers only learn that there was something."""
    held = [f for f in _DATA_FIELDS if data.get(f) is not None]
    if not held:
        return data
    labels: frozenset[str] = frozenset()
    for name in (neuro, actor):
        proc = router.procs.get(name) if name is not None else None
        if proc is not None:
            labels |= proc.labels
    if not labels:
        return data
    return {**data, **{f: f"<redacted: labelled {', '.join(sorted(labels))}>" for f in held}}
