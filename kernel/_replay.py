"""The replay gate: before a new version goes live, the current version and the candidate each
answer the same logged calls in a shadow instance that sends nothing, from the same state, and
their answers are compared with each other.

Comparing the two shadows, not the candidate with the log, is what makes the gate work for a
neuro with state: a counter's logged answers were given from the totals it had then, so a
candidate started from today's totals answers every one of them differently, even when its
code is the same byte for byte. Two shadows started alike answer alike unless their code
differs, so identical code always passes.

Where both start (`ReplayReport.start`):

- ``window``: the state the current version had just before the replayed calls. The kernel
  knows it when the live instance began from a state it kept (fresh at spawn, or what a swap
  restored into it) and every message that instance has handled since is a logged call: then
  both shadows replay all of those calls from that state, and the gate compares the last N.
- ``live``: otherwise, one snapshot of the live instance, given to both (the candidate's copy
  through its `migrate`), and the last N logged calls.
- ``fresh``: both start as new instances, when the state cannot go across (the current version
  has no `snapshot`, or one of the two has no `restore`).

Answers agree when they are equal; with a tolerance, when numbers differ by at most that much
(relative to their size, or absolutely below 1); or, when the candidate (else the current
version) declares ``agree(old, new) -> bool``, when that hook says so. Two answers that are
both errors of the same type agree (`ReplayReport.raised` counts them: they say little).
"""

from __future__ import annotations

import copy
import math
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable

import msgspec
import trio

from neuro._context import Context
from neuro._errors import NeuroError

if TYPE_CHECKING:
    from ._kernel import Kernel
    from ._process import Process

__all__ = ["ReplayReport", "Difference", "ShadowContext", "ShadowRefused", "replay_gate", "same_answer",
           "remember_start", "keep_state", "replay_settings", "ReplayRefused", "FRESH"]

#: How many differences a report lists (the first ones, in log order).
DIFFERENCES_SHOWN = 20
#: Calls replayed before the window to rebuild the state it started from, at most; past this
#: the gate starts from a snapshot of the live state instead (it answers the same question).
WARMUP_LIMIT = 10_000
#: The largest state (msgpack bytes) kept per process for a later gate to start from.
KEPT_STATE_LIMIT = 16 * 1024 * 1024

_encoder = msgspec.msgpack.Encoder()


class Difference(msgspec.Struct, frozen=True):
    """One logged call the two versions answered differently: its input (`payload`), the
    current version's answer, the candidate's, and what the log says was answered then. An
    answer that was an error is None, with the error in `current_error` / `candidate_error`."""

    message_id: int
    payload: Any
    current: Any
    candidate: Any
    logged: Any = None
    current_error: str = ""
    candidate_error: str = ""
    note: str = ""


class ReplayReport(msgspec.Struct, frozen=True):
    """How the candidate's answers to the last `compared` logged calls matched the current
    version's. `judge`: how answers were compared (``exact``, ``tolerance``, ``agree``: the
    neuro's own hook); `start`: where both shadows began (``window``, ``live``, ``fresh``; see
    the module's docstring); `warmup`: calls replayed before the window to rebuild its state;
    `reproduced`: compared calls the current version's shadow answered as the log says it did
    (all of them, from ``window``, for a neuro that depends only on its inputs); `raised`:
    agreed calls that raised the same error in both."""

    compared: int
    agreed: int
    tolerance: float
    differences: list[Difference]
    seconds: float
    calls_per_second: float
    judge: str = "exact"
    start: str = "live"
    warmup: int = 0
    reproduced: int = 0
    raised: int = 0

    @property
    def agreement(self) -> float:
        return self.agreed / self.compared if self.compared else 1.0

    def refusal(self) -> str:
        """Why the gate refuses the candidate, in a sentence naming the first difference and the fix."""
        first = ""
        if self.differences:
            d = self.differences[0]
            first = (f" (first, message {d.message_id}: input {_brief(d.payload)}; current "
                     f"{d.current_error or _brief(d.current)}; candidate {d.candidate_error or _brief(d.candidate)})")
        return (f"{self.compared - self.agreed} of {self.compared} replayed calls answered differently by the "
                f"candidate than by the current version{first}; review the differences and swap again with "
                "accept=True (`neuro swap --accept`) to take them")


class ReplayRefused(NeuroError):
    """The replay gate refused a candidate: its answers differ from the current version's."""


class ShadowRefused(NeuroError):
    """A shadow instance tried to reach another neuro: during replay it sends nothing."""


class ShadowContext(Context):
    """The context of a shadow instance: it can compute, but never sends, calls or publishes."""

    def __init__(self, name: str, version: str) -> None:
        self._name = name
        self._version = version

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str:
        return self._version

    async def send(self, to: str, payload: Any, *, timeout: float | None = None) -> int:
        raise ShadowRefused(f"a shadow instance of {self._name} sends nothing (tried to send to {to!r})")

    async def call(self, to: str, payload: Any, *, timeout: float = 10.0) -> Any:
        raise ShadowRefused(f"a shadow instance of {self._name} sends nothing (tried to call {to!r})")

    async def publish(self, topic: str, payload: Any) -> int:
        raise ShadowRefused(f"a shadow instance of {self._name} sends nothing (tried to publish on {topic!r})")

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)


def same_answer(old: Any, new: Any, tolerance: float) -> bool:
    """Equal, or (with a tolerance) equal but for numbers within `tolerance` (relative or absolute)."""
    if tolerance <= 0:
        return old == new
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool):
        if math.isnan(old) and math.isnan(new):
            return True
        return abs(old - new) <= tolerance * max(1.0, abs(old), abs(new))
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(same_answer(old[k], new[k], tolerance) for k in old)
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return len(old) == len(new) and all(same_answer(a, b, tolerance) for a, b in zip(old, new))
    return old == new


def replay_settings(neuro: type) -> tuple[int, float]:
    """The calls and tolerance a neuro declares for its gate: ``replay = N`` and
    ``replay_tolerance``, or neuro.toml's ``[replay] calls, match, tolerance``."""
    declared = getattr(neuro, "replay", 0)
    tolerance = float(getattr(neuro, "replay_tolerance", 0.0) or 0.0)
    if isinstance(declared, dict):  # neuro.toml's [replay] table
        if declared.get("match") == "tolerance":
            tolerance = float(declared.get("tolerance") or 0.0)
        declared = declared.get("calls")
    return (declared if isinstance(declared, int) and not isinstance(declared, bool) else 0), tolerance


# -- the state an instance began from ---------------------------------------------------------

FRESH: Any = type("Fresh", (), {"__repr__": lambda self: "FRESH"})()  # a new instance's own state


class _Kept:
    """A state held apart from every instance, handed out as independent copies: msgpack
    bytes for a sandboxed neuro (what crossed to it), a deep copy for an in-process one (so
    its types stay what its `restore` expects)."""

    def __init__(self, encoded: bytes | None, value: Any) -> None:
        self._bytes = encoded
        self._value = value

    def copy(self) -> Any:
        if self._bytes is not None:
            return msgspec.msgpack.decode(self._bytes)
        return copy.deepcopy(self._value)


def keep_state(state: Any, in_process: bool) -> _Kept | None:
    """`state` kept as it is now (before a `restore` that may hold and change it), for
    `remember_start`; None when it is not plain data or is larger than KEPT_STATE_LIMIT."""
    try:
        encoded = _encoder.encode(state)
        if len(encoded) > KEPT_STATE_LIMIT:
            return None
        return _Kept(None, copy.deepcopy(state)) if in_process else _Kept(encoded, None)
    except Exception:  # noqa: BLE001 - tensors, objects: not kept, and a later gate still works
        return None


class _Start:
    """Where a process's live instance began: its worker, the state it started from (`FRESH`,
    a `_Kept`, or None: not kept), the id after which its messages are its own, and the
    process's counters then."""

    __slots__ = ("worker", "state", "after_id", "handled", "errors", "dead")

    def __init__(self, worker: Any, state: Any, after_id: int, handled: int, errors: int, dead: int) -> None:
        self.worker = worker
        self.state = state
        self.after_id = after_id
        self.handled, self.errors, self.dead = handled, errors, dead


_starts: weakref.WeakKeyDictionary[Process, _Start] = weakref.WeakKeyDictionary()


def remember_start(proc: Process, worker: Any, kept: Any, after_id: int) -> None:
    """Record, as a swap goes live, what its new instance `worker` starts from: `FRESH` (no
    state moved), a `keep_state`, or None (not kept: a later gate starts from a snapshot of the
    live state). `after_id`: the messages with larger ids are the new instance's."""
    _starts[proc] = _Start(weakref.ref(worker), kept, after_id, proc.handled, proc.errors, proc.dead_letters)


def _own_start(proc: Process) -> _Start | None:
    """The start of `proc`'s live instance, if the kernel knows it: one a swap recorded, or,
    for a process never restarted nor swapped, its spawn (fresh state, counters at zero)."""
    if proc.worker is None:
        return None
    start = _starts.get(proc)
    if start is not None:
        return start if start.worker() is proc.worker and start.state is not None else None
    if proc.restarts == 0:
        return _Start(None, FRESH, int(proc.started_at * 1e9), 0, 0, 0)
    return None


async def _window(kernel: Kernel, proc: Process, count: int) -> tuple[str, Any, list[Any], int]:
    """(start, state, records, warmup): the state both shadows start from and the logged
    calls (id, payload, reply) they replay; the last ``len(records) - warmup`` are compared."""
    query = kernel.log._query
    start = _own_start(proc)
    records: list[Any] | None = None
    if start is not None and proc.errors == start.errors and proc.dead_letters == start.dead:
        since = proc.handled - start.handled  # messages this instance handled, all of them calls if the log agrees
        if since <= count + WARMUP_LIMIT:
            records = await query("replay_records", proc.name, max(since, count))
            own = len(records) == since and all(r[0] > start.after_id for r in records)
            if own and proc.handled - start.handled == since and proc.errors == start.errors:
                state = start.state.copy() if isinstance(start.state, _Kept) else FRESH
                return "window", state, records, max(since - count, 0)
            records = records[-count:] if count else []
    if records is None:
        records = await query("replay_records", proc.name, count) if count else []
    if "snapshot" in proc.manifest.hooks and proc.worker is not None:
        return "live", await proc.worker.hook("snapshot"), records, 0
    return "fresh", FRESH, records, 0


# -- the shadows ------------------------------------------------------------------------------

class _Shadow:
    """One shadow instance: its worker, its version's input decoder, a context that sends
    nothing, and the wall time a call may take."""

    def __init__(self, worker: Any, name: str, neuro: type, decoder: msgspec.msgpack.Decoder, wall: float) -> None:
        self.worker = worker
        self.ctx = ShadowContext(name, neuro.version())
        self.decoder = decoder
        self.wall = wall

    async def answer(self, payload: bytes) -> tuple[Any, str]:
        """(answer as plain data, "") or (None, "Type: message") for an input it refuses or an error."""
        try:
            msg = self.decoder.decode(payload)
        except msgspec.ValidationError as e:
            return None, f"InvalidPayload: its input type refuses it: {e}"
        try:
            if self.wall > 0:
                with trio.fail_after(self.wall):
                    result = await self.worker.invoke(self.ctx, msg)
            else:
                result = await self.worker.invoke(self.ctx, msg)
            return (msgspec.msgpack.decode(_encoder.encode(result)) if result is not None else None), ""
        except trio.TooSlowError:
            return None, f"WallTimeExceeded: ran past its wall time of {self.wall:g} s per message"
        except Exception as e:  # noqa: BLE001 - an answer of its own, compared like the others
            return None, f"{getattr(e, 'remote_type', None) or type(e).__name__}: {e}"

    async def answers(self, records: list[Any], out: list[tuple[Any, str]]) -> None:
        for _, payload, _ in records:
            out.append(await self.answer(payload))


async def _give(worker: Any, hooks: tuple[str, ...], state: Any, migrate_from: str | None) -> None:
    """Restore `state` into a shadow (through its `migrate` first, for the candidate)."""
    if migrate_from is not None and "migrate" in hooks:
        state = await worker.hook("migrate", migrate_from, state)
    await worker.hook("restore", state)


def _error_type(error: str) -> str:
    return error.split(":", 1)[0]


def _brief(value: Any, limit: int = 80) -> str:
    try:
        text = msgspec.json.encode(value, enc_hook=repr).decode()
    except Exception:  # noqa: BLE001 - for a message only
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


async def replay_gate(kernel: Kernel, proc: Process, neuro: type, policy: Any, backend: str,
                      decoder: msgspec.msgpack.Decoder, count: int, tolerance: float, judge: str) -> ReplayReport:
    """Run the current version of `proc` and the candidate `neuro` (under `policy` in `backend`)
    in two shadow instances from the same state over the same logged calls; compare answers.
    Both shadows are stopped whatever happens."""
    if kernel._eventlog is None:
        raise NeuroError("the replay gate needs the event log; start the kernel with Kernel(log=...)")
    start, state, records, warmup = await _window(kernel, proc, count)
    current_hooks, candidate_hooks = proc.manifest.hooks, neuro.__manifest__.hooks
    if state is not FRESH and not ("restore" in current_hooks and "restore" in candidate_hooks):
        start, state = "fresh", FRESH  # the same start for both: neither gets the state
    workers: list[Any] = []
    try:
        shadows = await _launch(kernel, [(proc.backend, proc.neuro, proc.policy), (backend, neuro, policy)], workers)
        current = _Shadow(shadows[0], proc.name, proc.neuro, proc.decoder, proc.policy.wall_time)
        candidate = _Shadow(shadows[1], proc.name, neuro, decoder, policy.wall_time)
        if state is not FRESH:
            in_process = proc.backend == "inproc" or backend == "inproc"
            await _give(current.worker, current_hooks, copy.deepcopy(state) if in_process else state, None)
            await _give(candidate.worker, candidate_hooks, copy.deepcopy(state) if in_process else state,
                        proc.version)
        replaying = time.perf_counter()
        mine: list[tuple[Any, str]] = []
        theirs: list[tuple[Any, str]] = []
        async with trio.open_nursery() as nursery:  # two sandboxes answer at once
            nursery.start_soon(current.answers, records, mine)
            nursery.start_soon(candidate.answers, records, theirs)
        agree_worker = None
        if judge == "agree":
            agree_worker = candidate.worker if "agree" in candidate_hooks else current.worker
        return await _compare(records, warmup, mine, theirs, tolerance, judge, agree_worker, start, replaying)
    finally:
        with trio.CancelScope(shield=True):
            for worker in workers:
                try:
                    await worker.stop(1.0)
                except Exception:  # noqa: BLE001 - the other shadow is stopped all the same
                    pass


async def _launch(kernel: Kernel, specs: list[tuple[str, type, Any]], workers: list[Any]) -> list[Any]:
    """Start one shadow per (backend, neuro, policy), at once; each started worker is added
    to `workers` (for the caller to stop), and the first start that failed is raised as itself."""
    started: list[Any] = [None] * len(specs)
    errors: list[BaseException] = []

    async def one(i: int) -> None:
        backend_name, cls, pol = specs[i]
        try:
            started[i] = await kernel._backends[backend_name].start(cls, pol)
            workers.append(started[i])
        except Exception as e:  # noqa: BLE001 - raised below, once both starts have ended
            errors.append(e)

    async with trio.open_nursery() as nursery:
        for i in range(len(specs)):
            nursery.start_soon(one, i)
    if errors:
        raise errors[0]
    return started


async def _compare(records: list[Any], warmup: int, mine: list[tuple[Any, str]], theirs: list[tuple[Any, str]],
                   tolerance: float, judge: str, agree_worker: Any, start: str, started: float) -> ReplayReport:
    """Compare the two shadows' answers past the warm-up; `started`: when the replay began."""
    tol = tolerance if judge == "tolerance" else 0.0
    differences: list[Difference] = []
    agreed = reproduced = raised = 0
    compared = records[warmup:]
    for (message_id, payload, logged_raw), (cur, cur_err), (cand, cand_err) in zip(
            compared, mine[warmup:], theirs[warmup:]):
        logged = msgspec.msgpack.decode(logged_raw) if logged_raw else None
        if not cur_err and same_answer(logged, cur, tol):
            reproduced += 1
        note = ""
        if cur_err or cand_err:
            same = bool(cur_err and cand_err) and _error_type(cur_err) == _error_type(cand_err)
            raised += same
        elif cur == cand:
            same = True
        elif agree_worker is not None:
            try:
                verdict = await agree_worker.hook("agree", cur, cand)
            except Exception as e:  # noqa: BLE001 - the hook's bug is this call's difference
                verdict, note = False, f"agree raised {getattr(e, 'remote_type', None) or type(e).__name__}: {e}"
            if not isinstance(verdict, bool):
                verdict, note = False, f"agree returned {_brief(verdict, 40)}, not a bool"
            same = verdict
        else:
            same = same_answer(cur, cand, tol)
        if same:
            agreed += 1
        elif len(differences) < DIFFERENCES_SHOWN:
            differences.append(Difference(message_id, msgspec.msgpack.decode(payload), cur, cand, logged,
                                          cur_err, cand_err, note))
    seconds = time.perf_counter() - started
    n = len(compared)
    return ReplayReport(compared=n, agreed=agreed, tolerance=tol, differences=differences, seconds=seconds,
                        calls_per_second=len(records) / seconds if seconds > 0 else float("inf"), judge=judge,
                        start=start, warmup=warmup, reproduced=reproduced, raised=raised)
