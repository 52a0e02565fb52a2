"""Hot swap: a new version of a running neuro goes live atomically, or not at all.

1. load the new version in its sandbox, beside the old one;
2. run its `selfcheck`;
3. when asked, the replay gate: the current version and the new one each answer the last N
   logged calls in a shadow instance that sends nothing, from the same state, and their
   answers are compared (kernel/_replay.py); a dry run stops here and reports;
4. stop handing messages to the old version and let its calls in flight finish there;
   move state: old `snapshot` -> new `migrate(old_version, state)` -> new `restore`;
5. switch: queued and arriving messages are served by the new version.
If any step fails, the old version keeps serving and the error (file, line, traceback) is
in the report and in the log.
"""

from __future__ import annotations

import time
import traceback
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from neuro._errors import NeuroError, SwapFailed

from ._envelope import next_id
from ._labels import check_labels, check_taint, lineage_labels, policy_labels
from ._process import Process, State
from ._replay import FRESH, ReplayRefused, ReplayReport, keep_state, remember_start, replay_gate, replay_settings

if TYPE_CHECKING:
    from ._kernel import Kernel

__all__ = ["SwapReport", "SwapError", "swap_process"]

# How long the old version's calls in flight may take to finish before the swap gives up.
DRAIN_TIMEOUT = 10.0


class SwapError(msgspec.Struct, frozen=True):
    """Why a swap failed: the stage, the exception, and where in the neuro's code."""

    stage: str
    type: str
    message: str
    file: str | None = None
    line: int | None = None
    traceback: str = ""


class SwapReport(msgspec.Struct, frozen=True):
    """What a swap did. `ok`: the new version went live (with `dry_run`: it would have: it
    loaded, passed its selfcheck and the gate, and nothing went live); `replay`: the gate's
    report, when it ran."""

    name: str
    old_version: str
    new_version: str
    origin: str
    ok: bool
    stage: str  # the last stage reached: load, selfcheck, replay, drain, migrate, live (unchanged: same version)
    seconds: float
    error: SwapError | None = None
    replay: ReplayReport | None = None
    state_moved: bool = False
    requeued: int = 0
    dropped: int = 0
    dry_run: bool = False


def _error(stage: str, exc: BaseException) -> SwapError:
    file = line = None
    if isinstance(exc, SyntaxError):
        file, line = exc.filename, exc.lineno
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            file, line = frames[-1].filename, frames[-1].lineno
    tb = getattr(exc, "remote_traceback", None) or "".join(traceback.format_exception(exc))
    kind = getattr(exc, "remote_type", None) or type(exc).__name__
    return SwapError(stage=stage, type=kind, message=str(exc), file=file, line=line, traceback=tb)


async def swap_process(kernel: Kernel, proc: Process, neuro: type, *, replay: int | None, tolerance: float | None,
                       accept: bool, origin: str, dry_run: bool = False) -> SwapReport:
    started = time.perf_counter()
    old_version, new_version = proc.version, neuro.version()
    manifest = neuro.__manifest__

    def report(ok: bool, stage: str, **extra: Any) -> SwapReport:
        return SwapReport(name=proc.name, old_version=old_version, new_version=new_version, origin=origin,
                          ok=ok, stage=stage, seconds=time.perf_counter() - started, dry_run=dry_run, **extra)

    def fail(stage: str, exc: BaseException, **extra: Any) -> SwapFailed:
        rep = report(False, stage, error=_error(stage, exc), **extra)
        if not dry_run:  # a dry run tried nothing: its report is the whole answer
            kernel._event("swap.failed", proc.name, origin, old_version=old_version, new_version=new_version,
                          stage=stage, error=f"{rep.error.type}: {rep.error.message}", file=rep.error.file,
                          line=rep.error.line, traceback=rep.error.traceback)
        return SwapFailed(f"swap of {proc.name} to {new_version} failed at {stage}: {rep.error.type}: "
                          f"{rep.error.message}" + (f" ({rep.error.file}, line {rep.error.line})" if rep.error.file else ""),
                          rep)

    if manifest.name != proc.manifest.name:
        raise fail("load", NeuroError(f"the new version declares name {manifest.name!r}, not {proc.manifest.name!r}"))
    for check in list(getattr(kernel._router, "swap_checks", ())):  # a running net the new types break (nets/)
        if why := check(proc.name, neuro):
            raise fail("load", NeuroError(why))
    # The policy it was spawned under (an explicit spawn policy, a drop folder's) while the new
    # version declares what the old one did; a new declaration is the new code's own, under the
    # same trust checks as a spawn (code from a file never gets a policy that runs it in-process).
    keep = proc.policy.name if manifest.policy == proc.manifest.policy else None
    try:
        policy = await kernel._policy_of(neuro, keep)  # with read grants of its artifacts
        backend = manifest.sandbox or policy.sandbox
        if backend not in policy.sandboxes or backend not in kernel._backends:
            raise NeuroError(f"sandbox {backend!r} is not allowed by policy {policy.name!r} or not available")
        check_labels(proc.name, policy, backend)  # labels hold only where memory is not shared
        check_taint(proc.name, proc.labels | lineage_labels(neuro), policy, backend)  # what it holds stays in
        new_worker = await kernel._backends[backend].start(neuro, policy)
    except Exception as e:
        raise fail("load", e) from None

    async def discard() -> None:
        with trio.CancelScope(shield=True):
            await new_worker.stop(1.0)

    try:
        if "selfcheck" in manifest.hooks:
            await new_worker.hook("selfcheck")
    except Exception as e:
        await discard()
        raise fail("selfcheck", e) from None

    decoder, outputs = kernel._codec(neuro)
    replay_report = None
    declared, declared_tolerance = replay_settings(neuro)
    count = replay if replay is not None else declared
    if count:
        tol, judge = _judge(proc, neuro, tolerance, declared_tolerance)
        try:
            replay_report = await replay_gate(kernel, proc, neuro, policy, backend, decoder, count, tol, judge)
        except Exception as e:
            await discard()
            raise fail("replay", e) from None
        kernel._event("swap.replayed", proc.name, origin, new_version=new_version, compared=replay_report.compared,
                      agreed=replay_report.agreed, differences=replay_report.compared - replay_report.agreed)
        if replay_report.agreed < replay_report.compared and not accept:
            await discard()
            raise fail("replay", ReplayRefused(replay_report.refusal()), replay=replay_report)
    if dry_run:
        await discard()
        return report(True, "replay" if replay_report is not None else "selfcheck", replay=replay_report)

    # Stop handing messages to the old version; its calls in flight finish there.
    proc.state = State.SWAPPING
    if proc.runners:
        proc.exited = trio.Event()
        kernel._wake_idle(proc)
        with trio.move_on_after(DRAIN_TIMEOUT):
            await proc.exited.wait()
        proc.exited = None
        if proc.runners:
            _resume(kernel, proc)
            await discard()
            raise fail("drain", NeuroError(f"calls in flight in the old version did not finish within {DRAIN_TIMEOUT:g} s"),
                       replay=replay_report)

    # Checked again now the old version takes no more messages: what it was given while the new
    # one was checked (selfcheck, replay, drain) counts too, before its state moves across.
    try:
        check_taint(proc.name, proc.labels | lineage_labels(neuro), policy, backend)
    except Exception as e:
        _resume(kernel, proc)
        await discard()
        raise fail("drain", e, replay=replay_report) from None

    moved = False
    begun: Any = FRESH  # the state the new instance starts from, kept for a later replay gate
    try:
        if "snapshot" in proc.manifest.hooks and proc.worker is not None and "restore" in manifest.hooks:
            state = await proc.worker.hook("snapshot")
            if "migrate" in manifest.hooks:
                state = await new_worker.hook("migrate", old_version, state)
            if kernel._eventlog is not None:  # kept before `restore` may change it; no log, no gate
                begun = keep_state(state, backend == "inproc")
            await new_worker.hook("restore", state)
            moved = True
    except Exception as e:
        _resume(kernel, proc)
        await discard()
        raise fail("migrate", e, replay=replay_report) from None

    # Switch. Nothing below awaits until the process is RUNNING again: the switch is atomic.
    old_worker = proc.worker
    requeued, dropped = _revalidate_queue(kernel, proc, decoder)
    proc.neuro, proc.manifest, proc.version = neuro, manifest, new_version
    proc.decoder, proc.output_types, proc.policy, proc.backend = decoder, outputs, policy, backend
    proc.labels = proc.labels | policy_labels(policy) | lineage_labels(neuro)  # a student keeps its traces' labels
    new_worker.on_exit = lambda died: kernel._worker_died(proc, new_worker, died)
    proc.worker = new_worker
    proc.state = State.RUNNING
    if kernel._eventlog is not None:
        # Queued messages are the new instance's too: its own are those from the first queued on.
        first = min((letter.env.id for letter in proc.queue), default=None)
        remember_start(proc, new_worker, begun, first - 1 if first is not None else next_id())
    if proc.queue:
        kernel._router._start_runner(proc)
    if old_worker is not None:
        await old_worker.stop(1.0)
    kernel._event("swap.done", proc.name, origin, old_version=old_version, new_version=new_version,
                  state_moved=moved, replayed=replay_report.compared if replay_report else 0)
    return report(True, "live", replay=replay_report, state_moved=moved, requeued=requeued, dropped=dropped)


def _resume(kernel: Kernel, proc: Process) -> None:
    proc.state = State.RUNNING
    if proc.queue and proc.runners < proc.policy.concurrency:
        kernel._router._start_runner(proc)


def _revalidate_queue(kernel: Kernel, proc: Process, decoder: msgspec.msgpack.Decoder) -> tuple[int, int]:
    """Queued messages were checked against the old input type: check them against the new."""
    kept, dropped = 0, 0
    for letter in list(proc.queue):
        try:
            letter.env.payload = decoder.decode(letter.raw)
            kept += 1
        except msgspec.ValidationError as e:
            proc.queue.remove(letter)
            kernel._router._dead(proc, letter, f"does not fit the new version's input type: {e}")
            dropped += 1
    return kept, dropped


def _judge(proc: Process, neuro: type, tolerance: float | None, declared: float) -> tuple[float, str]:
    """(tolerance, judge) of a gate: a tolerance the caller gave; else the neuro's own `agree`
    (the candidate's, else the current version's); else the tolerance the candidate declares."""
    if tolerance is None:
        if "agree" in neuro.__manifest__.hooks or "agree" in proc.manifest.hooks:
            return 0.0, "agree"
        tolerance = declared
    return tolerance, "tolerance" if tolerance > 0 else "exact"

