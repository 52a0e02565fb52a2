"""Catalogue entries: hooks, swaps, versions, drop folders, keeps, control, events, the log, nets and dreams. Each Struct's docstring is its line in docs/events.md."""

from __future__ import annotations

from typing import Any

import msgspec

from ._eventschema import EventData, _entry

# -- hook -------------------------------------------------------------------------------------


@_entry("hook.done")
class HookDone(EventData):
    """A neuro's `hook` (sleep or selfcheck) ran for `seconds`: its `result`, or the `error` it raised."""

    hook: str
    seconds: float
    ok: bool
    error: str | None = None
    result: Any = None


# -- swap -------------------------------------------------------------------------------------


@_entry("swap.done")
class SwapDone(EventData):
    """A new version of the neuro went live (`state_moved`: its state went across; `replayed`: calls the
    gate compared)."""

    old_version: str
    new_version: str
    state_moved: bool
    replayed: int


@_entry("swap.failed")
class SwapFailed(EventData):
    """A new version did not go live: it failed at `stage` (load, selfcheck, replay, state); the old one
    keeps serving."""

    old_version: str
    new_version: str
    stage: str
    error: str
    file: str | None = None
    line: int | None = None
    traceback: str | None = None


@_entry("swap.replayed")
class SwapReplayed(EventData):
    """The replay gate ran logged calls through the new version: `agreed` of `compared` answered alike."""

    new_version: str
    compared: int
    agreed: int
    differences: int


# -- version ----------------------------------------------------------------------------------


@_entry("version.recorded")
class VersionRecorded(EventData):
    """A version of the neuro entered the version store (its `parent`: the version it came from)."""

    version: str
    parent: str | None
    module: str | None
    path: str | None


# -- drop -------------------------------------------------------------------------------------


@_entry("drop.spawned")
class DropSpawned(EventData):
    """A neuro file in a drop folder was loaded and spawned."""

    file: str
    folder: str
    version: str
    pid: int


@_entry("drop.swapped")
class DropSwapped(EventData):
    """A changed neuro file in a drop folder went live as a new version."""

    file: str
    folder: str
    old_version: str | None
    version: str


@_entry("drop.removed")
class DropRemoved(EventData):
    """A neuro file left its drop folder and its neuro was stopped."""

    file: str
    folder: str


@_entry("drop.error")
class DropError(EventData):
    """A file in a drop folder was refused (it did not load, spawn, swap or stop); nothing changed."""

    folder: str
    file: str | None
    line: int | None
    error: str
    traceback: str | None


@_entry("drop.fixed")
class DropFixed(EventData):
    """A drop-folder file that did not load loads again (`error` was its last error)."""

    file: str
    folder: str
    version: str
    error: str


@_entry("drop.pinned")
class DropPinned(EventData):
    """A person stopped or rolled back (`how`: stopped, rolled_back, to `version`) a neuro a drop
    folder runs: saves of its file are not applied until `neuro unpin`."""

    file: str
    folder: str
    how: str
    version: str | None


@_entry("drop.unpinned")
class DropUnpinned(EventData):
    """A pinned drop-folder neuro follows its file again (`neuro unpin`); its file is loaded."""

    file: str
    folder: str
    how: str


@_entry("drop.held")
class DropHeld(EventData):
    """A pinned neuro's file loaded (`version`) but was not applied: it stays as pinned (`how`,
    `pinned_version`) until `neuro unpin`."""

    file: str
    folder: str
    how: str
    version: str
    pinned_version: str | None


@_entry("drop.folder_lost")
class DropFolderLost(EventData):
    """The drop folder itself was deleted or moved away (`how`); its `running` neuros keep running."""

    folder: str
    how: str
    running: list[str]


@_entry("drop.folder_back")
class DropFolderBack(EventData):
    """A lost drop folder is back: it is watched again and its files load."""

    folder: str


# -- keep -------------------------------------------------------------------------------------


@_entry("keep.respawned")
class KeepRespawned(EventData):
    """The daemon started a kept neuro again (`spec` as kept; `version` now, `kept_version` when
    kept: they differ when its code changed meanwhile)."""

    spec: str
    version: str
    kept_version: str | None
    applied: str | None


@_entry("keep.failed")
class KeepFailed(EventData):
    """A kept neuro (or the keep file itself, `spec` None) could not be started again at the
    daemon's start; `error` says why."""

    spec: str | None
    error: str
    file: str


# -- control ----------------------------------------------------------------------------------


@_entry("control.refused")
class ControlRefused(EventData):
    """A client of the control socket was refused at accept (`reason`); `suppressed`: like events left out
    just before."""

    pid: int
    uid: int
    reason: str
    suppressed: int = 0


@_entry("control.turned_away")
class ControlTurnedAway(EventData):
    """A client was turned away for too many connections (`reason`); `suppressed`: like events left out just
    before."""

    pid: int
    uid: int
    reason: str
    suppressed: int = 0


@_entry("control.slow_client")
class ControlSlowClient(EventData):
    """A client that did not read its replies was disconnected (`reason`); `suppressed`: like events left
    out just before."""

    pid: int
    uid: int
    reason: str
    suppressed: int = 0


# -- events -----------------------------------------------------------------------------------


@_entry("events.missed")
class EventsMissed(EventData):
    """A subscriber of `kernel.events` missed `missed` events while its mailbox was full (sent to it, not
    logged)."""

    missed: int


# -- log --------------------------------------------------------------------------------------


@_entry("log.pruned")
class LogPruned(EventData):
    """Retention removed old rows from the log: messages (with outcomes), events and unreferenced artifacts,
    and the bytes freed."""

    messages: int  # removed, each with its outcome
    events: int
    artifacts: int  # that no version referenced
    bytes: int  # the log's logical size freed: pages in use x page size
    cutoff: float | None = None  # rows from before this time went: the age limit, or as far as the size limit needed
    keep: str = ""  # the policy applied: 30d, 10GB, 30d,10GB
    bytes_after: int = 0  # the log's logical size afterwards
    compacted: bool = False  # VACUUM rewrote the file


@_entry("log.prune_failed")
class LogPruneFailed(EventData):
    """A background pass of retention failed (the disk, or another process holding the log's lock); the next
    pass tries again."""

    error: str
    keep: str  # the policy it was applying


# -- net --------------------------------------------------------------------------------------


class NetStepRecord(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One node's step in a net's run: the lineage of one edge crossing (or of several, joined)."""

    node: str  # its id; a node of a net inside the net is `outer/inner`
    calls: str | None  # the neuro it calls, or the net it runs (None: a lambda)
    kind: str  # neuro, net, lambda, map, loop
    version: str  # the node's version: with the input hash, the key of its memo entry
    edges: list[str]  # the edges that fired into it (src -> dst)
    input_hash: str
    output_hash: str
    reason: str  # called; cached: no message was sent, so no outcome is owed; compiled: in a Ray compiled graph
    seconds: float


@_entry("net.run")
class NetRun(EventData):
    """A net's run ended: `run` is the id of the message that asked for it (the parent of every call it made),
    `steps` the lineage of every node that ran or came from the memo, in order; `error` names a failed node."""

    run: int
    net: str
    version: str  # the net's version: the hash of its graph and its nodes' versions
    input_hash: str
    output_hash: str | None
    ok: bool
    error: str | None
    called: int  # node calls made (messages sent)
    cached: int  # node results taken from the memo
    seconds: float
    steps: list[NetStepRecord]


@_entry("net.ray_graph")
class NetRayGraph(EventData):
    """A net that asks for `ray_graph` now runs as one Ray compiled graph over `nodes` (`compiled`), or through
    actor calls, and `reason` says why (a node not on Ray or not running, a compile that failed, a graph that broke)."""

    net: str
    compiled: bool
    nodes: list[str]
    reason: str | None = None


# -- dream ------------------------------------------------------------------------------------


@_entry("dream.started")
class DreamStarted(EventData):
    """A dream job began for the neuro: `kind` distil (a student from its traces) or sleep (a learner's
    consolidation); `teacher` is the version it learns from; `trigger`: run, schedule, traces, idle, drift."""

    job: str
    kind: str
    teacher: str | None
    trigger: str


@_entry("dream.shipped")
class DreamShipped(EventData):
    """A distilled student passed every gate and went live as `version` of the neuro (a `cascade` in front of
    its `teacher`, or alone), learnt from the `traces` window (first and last message id) of data set
    `dataset` (its hash); `figures` are the gates' (agreement, speedup, replay, ...)."""

    job: str
    teacher: str
    version: str
    student: str  # linear or mlp
    cascade: bool
    dataset: str
    traces: list[int]
    figures: dict[str, float]


@_entry("dream.rejected")
class DreamRejected(EventData):
    """A gate refused the student (`gate`: traces, types, agreement, speedup, selfcheck, replay, load, ...),
    `reason` says why, with the `figures` measured so far; nothing changed."""

    job: str
    gate: str
    reason: str
    figures: dict[str, float]


@_entry("dream.failed")
class DreamFailed(EventData):
    """A dream job raised at `stage` (`error`); nothing changed."""

    job: str
    stage: str
    error: str


@_entry("dream.cancelled")
class DreamCancelled(EventData):
    """A dream job was cancelled at `stage` (`neuro dream cancel`, or its daemon stopped); nothing changed."""

    job: str
    stage: str


@_entry("dream.slept")
class DreamSlept(EventData):
    """A learner's `sleep` hook (consolidation) ran for `seconds` as its dream, and returned `result`."""

    job: str
    seconds: float
    result: Any = None


@_entry("dream.drift")
class DreamDrift(EventData):
    """A cascade's student deferred `rate` of its last `calls` calls to its teacher (`deferred`), well over
    the `expected` share it deferred on held-out traces: its inputs shifted; the deferred calls are dreamt of."""

    student: str
    calls: int
    deferred: int
    rate: float
    expected: float
