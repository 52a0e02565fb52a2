"""Messaging: accept a message at the boundary, queue it, record its outcome (the runners that
deliver it are kernel/_delivery.py's).

Every message the router accepts is logged once when accepted and once when it reaches its
outcome (handled, error, or dead with a reason), and every path out of the router goes
through `_finish`, which refuses to give a message a second outcome.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from time import perf_counter
from typing import TYPE_CHECKING, Any, Callable

import msgspec
import outcome
import trio

from neuro._aio import cool_down, others_runnable
from neuro._checks import brief, check_timeout
from neuro._errors import (CallTimeout, DeadLetter, EnergyExceeded, FlowRefused, InvalidPayload, KernelClosed,
                           LogError, MailboxFull, MessageTooLarge, NeuroError, NoSuchNeuro, RateLimited, RemoteError)

from ._calls import Deadlines, Parked, PendingCall
from ._delivery import Deliveries, type_name
from ._envelope import Envelope, ErrorInfo, next_id
from ._labels import NO_LABELS, admit, client_egress, policy_labels
from ._process import Letter, Process, State
from ._sandboxcall import SandboxedCall

if TYPE_CHECKING:
    from ._eventlog import EventLog

__all__ = ["Router"]

_PATH = re.compile(r"at `(\$[^`]*)`")
_json_encode = msgspec.json.encode


class BlockedSend(Parked):
    """A sender waiting for room in a full mailbox whose rule is `block`."""

    __slots__ = ("letter", "proc", "admit", "by_policy")

    def __init__(self, letter: Letter, proc: Process, by_policy: bool = False) -> None:
        super().__init__()
        self.letter = letter
        self.proc = proc
        self.admit = True  # accept the letter when room comes (durable senders log it themselves)
        self.by_policy = by_policy  # the sender gave no timeout: the policy's send_timeout bounds it

    def expire(self) -> None:
        policy = self.proc.policy
        until = (f"for the {policy.send_timeout:g} s of its policy {policy.name!r}'s send_timeout (pass "
                 "timeout= to wait longer, math.inf for ever)" if self.by_policy else "until the deadline")
        self.resolve(outcome.Error(MailboxFull(
            f"the mailbox of {self.proc.name!r} stayed full ({policy.mailbox_size} messages) "
            f"{until}; the message was not accepted"
        )))


class Router(Deliveries):
    """Routes messages between clients and processes; owns no tasks but the runners."""

    def __init__(self, log: EventLog | None, deadlines: Deadlines,
                 event: Callable[..., None], crashed: Callable[[Process, str], None]) -> None:
        self.procs: dict[str, Process] = {}
        self.log = log
        self.deadlines = deadlines
        self._event = event
        self._crashed = crashed
        self.nursery: trio.Nursery | None = None
        self.closing = False
        self.encoder = msgspec.msgpack.Encoder()
        self.accepted = 0
        self.outcomes = {"handled": 0, "error": 0, "dead": 0}
        self.neuro_topics: dict[str, list[str]] = {}
        # Durable letters waiting for their group commit: (ticket, process, letter, sender).
        self._durable: deque[tuple[int, Process, Letter, Parked]] = deque()
        self.token: trio.lowlevel.TrioToken | None = None
        self.client_topics: dict[str, list[trio.MemorySendChannel]] = {}
        # Spawns a name of the kernel's on-demand table on first use (kernel/_ondemand.py).
        self.on_demand: Callable[[str], Any] | None = None

    # -- the boundary ---------------------------------------------------------------------

    def _lookup(self, to: str) -> Process:
        try:
            proc = self.procs.get(to)
        except TypeError:  # unhashable
            proc = None
        if proc is None or not proc.accepting:
            if not isinstance(to, str):
                raise TypeError(f"the recipient must be a neuro's name (a str), got {brief(to)}")
            if proc is not None:
                raise NoSuchNeuro(f"neuro {to!r} is {proc.state.value} and not accepting messages")
            known = ", ".join(sorted(self.procs)[:20]) or "none"
            raise NoSuchNeuro(f"no neuro named {to!r} is running (running: {known})")
        return proc

    def _letter(self, proc: Process, sender: str, payload: Any, kind: str, timeout: float | None,
                parent: Envelope | None, topic: str | None = None, source: Process | None = None) -> Letter:
        """Validate `payload` against `proc`'s input type and wrap it; nothing is accepted yet.
        `source` is the sending neuro where the caller knows it (a ctx): its taint, not that of
        whatever runs under `sender`'s name now."""
        try:
            raw = self.encoder.encode(payload)
        except (TypeError, ValueError, OverflowError) as e:
            raise self._reject(proc, sender, InvalidPayload(
                f"payload for {proc.name!r} cannot be encoded: {e}; send a msgspec Struct, dict, list or scalar"))
        if len(raw) > proc.policy.max_message_bytes:
            raise self._reject(proc, sender, MessageTooLarge(
                f"payload of {len(raw):,} bytes for {proc.name!r} exceeds the {proc.policy.max_message_bytes:,} "
                f"byte limit of policy {proc.policy.name!r}; send a reference to the data instead"))
        try:
            msg = proc.decoder.decode(raw)
        except msgspec.ValidationError as e:
            found = _PATH.search(str(e))
            raise self._reject(proc, sender, InvalidPayload(
                f"invalid payload for {proc.name!r} (expects {type_name(proc.manifest.input)}): {e}",
                path=found.group(1) if found else None))
        if proc.energy is not None and proc.energy.over and (why := proc.energy.refusal()):
            raise self._reject(proc, sender, EnergyExceeded(why))  # its energy budget's `reject` (kernel/_energy.py)
        if source is None:  # a neuro's sends carry its taint (kernel/_labels.py)
            source = self.procs.get(sender)
        labels = NO_LABELS if source is None else source.labels
        if labels and not labels <= proc.labels:  # what it holds already cannot leak to it
            admit(proc, sender, labels, self._event, f"a {kind}")
        mid = next_id()
        now = mid / 1e9
        if timeout is None or timeout == math.inf:
            deadline, wall_deadline = math.inf, None
        else:
            deadline, wall_deadline = trio.current_time() + timeout, now + timeout
        env = Envelope(
            id=mid, time=now, sender=sender, recipient=proc.name, kind=kind, payload=msg,
            correlation=parent.correlation if parent is not None else mid, topic=topic,
            deadline=wall_deadline, parent=parent.id if parent is not None else None, labels=labels,
        )
        return Letter(env, raw, None, deadline)

    def _reject(self, proc: Process, sender: str, error: Exception) -> Exception:
        self._event("message.rejected", proc.name, sender, error=type(error).__name__, reason=str(error))
        return error

    def _accept(self, proc: Process, letter: Letter) -> None:
        """The message is now the kernel's: log it and put it in the mailbox."""
        if self.log is not None:
            self.log.append_message(letter.env, letter.raw)
        self._enqueue(proc, letter)

    def _enqueue(self, proc: Process, letter: Letter) -> None:
        self._count_in(proc, letter)
        proc.queue.append(letter)
        self._wake(proc)

    def _wake(self, proc: Process) -> None:
        """A letter waits: wake an idle runner or start one, within the policy's concurrency
        (a call in flight from its caller's task, kernel/_sandboxcall.py, holds a place too)."""
        if proc.idle:
            if proc.runners - len(proc.idle) < proc.policy.concurrency:
                trio.lowlevel.reschedule(proc.idle.pop())
        elif proc.runners < proc.policy.concurrency and proc.state is State.RUNNING:
            self._start_runner(proc)

    def _count_in(self, proc: Process, letter: Letter) -> None:
        letter.accepted_at = perf_counter()
        proc.received += 1
        self.accepted += 1

    def _offer(self, proc: Process, letter: Letter, timed: bool = True) -> BlockedSend | None:
        """Accept `letter` under `proc`'s overflow rule; a BlockedSend means: wait for room
        (until the letter's deadline, or the policy's `send_timeout` unless `timed`)."""
        if len(proc.queue) < proc.policy.mailbox_size and not proc.blocked:
            self._accept(proc, letter)
            return None
        rule = proc.policy.overflow
        if rule == "block":
            return self._block(proc, letter, timed)
        if rule == "reject":
            raise self._reject(proc, letter.env.sender, MailboxFull(
                f"the mailbox of {proc.name!r} is full ({proc.policy.mailbox_size} messages) and its policy "
                f"{proc.policy.name!r} rejects; retry later or raise its mailbox_size"))
        if rule == "drop_oldest":
            oldest = proc.queue.popleft()
            self._accept(proc, letter)
            self._dead(proc, oldest, "mailbox full: dropped the oldest message")
            return None
        self._accept(proc, letter)  # drop_newest: accepted, then dead at once
        proc.queue.pop()
        self._dead(proc, letter, "mailbox full: dropped the newest message")
        return None

    def _admit_blocked(self, proc: Process) -> None:
        blocked = proc.blocked
        while blocked and len(proc.queue) < proc.policy.mailbox_size:
            waiter = blocked.popleft()
            if not waiter.resolved and waiter.resolve(outcome.Value(None)) and waiter.admit:
                self._accept(proc, waiter.letter)

    # -- quotas at the boundary -----------------------------------------------------------

    @staticmethod
    def _take_token(proc: Process) -> float:
        """Take one token from `proc`'s rate bucket; returns 0, or the seconds until one is due."""
        policy = proc.policy
        if not policy.rate:
            return 0.0
        now = trio.current_time()
        proc.tokens = min(policy.burst_size, proc.tokens + (now - proc.refilled) * policy.rate)
        proc.refilled = now
        if proc.tokens >= 1.0 - 1e-9:  # refills land a rounding error short of a whole token
            proc.tokens = max(0.0, proc.tokens - 1.0)
            return 0.0
        return (1.0 - proc.tokens) / policy.rate

    async def _rate(self, proc: Process, sender: str, deadline: float) -> None:
        """Enforce the message rate: reject, or wait for a token until the deadline."""
        wait = self._take_token(proc)
        while wait:
            policy = proc.policy
            if policy.on_rate == "reject" or trio.current_time() + wait > deadline:
                self._event("quota.rate", proc.name, sender, limit=policy.rate, burst=policy.burst_size,
                            action="rejected")
                raise RateLimited(
                    f"{proc.name!r} accepts at most {policy.rate:g} messages/s (burst {policy.burst_size:g}) "
                    f"under policy {policy.name!r}; retry in {wait:.3f} s")
            await trio.sleep(wait)
            wait = self._take_token(proc)

    def policy_changed(self, proc: Process) -> None:
        """A running process got a new policy: apply what the router keeps for it."""
        proc.tokens = min(proc.tokens, proc.policy.burst_size)
        proc.labels = proc.labels | policy_labels(proc.policy)  # a new policy may label more, never less
        if proc.blocked:
            self._admit_blocked(proc)
        while proc.queue and proc.state is State.RUNNING and proc.runners < proc.policy.concurrency:
            self._start_runner(proc)

    # -- sending --------------------------------------------------------------------------

    def check_open(self) -> None:
        if self.closing:
            raise KernelClosed("the kernel is shutting down and accepts no new messages")

    async def _wait_for_log(self) -> None:
        """Backpressure from the event log: wait while its writer is far behind."""
        log = self.log
        assert log is not None
        while log.overloaded:
            await trio.to_thread.run_sync(log.flush_sync, 30.0)

    # -- durable messages ------------------------------------------------------------------

    async def _accept_durable(self, proc: Process, letter: Letter, timed: bool) -> None:
        """Log `letter` with synchronous=FULL and return once it is on disk; it joins the
        mailbox then, even if this sender was cancelled meanwhile."""
        log = self.log
        if log is None:
            raise NeuroError("durable messages need the event log: start the kernel with Kernel(log=...)")
        if proc.policy.overflow == "block" and (len(proc.queue) >= proc.policy.mailbox_size or proc.blocked):
            await self._wait_for_room(proc, letter, timed)
        log.raise_if_failed()  # a writer that has stopped would never commit it
        if not self._durable and not others_runnable():
            # Nothing else to run: commit it here rather than wake the writer and sleep.
            if log.commit_durable_now(letter.env, letter.raw):
                self._deliver_durable(proc, letter)
                await trio.lowlevel.cancel_shielded_checkpoint()  # accepted: not cancelled now
                return
        ticket = log.append_durable(letter.env, letter.raw)
        waiter = Parked()
        self._durable.append((ticket, proc, letter, waiter))
        cool_down()  # the writer thread needs the GIL to commit this
        await waiter.wait()

    async def _wait_for_room(self, proc: Process, letter: Letter, timed: bool) -> None:
        blocked = self._block(proc, letter, timed)
        blocked.admit = False  # _admit_blocked only wakes it; it is logged as durable after
        await blocked.wait()

    def _block(self, proc: Process, letter: Letter, timed: bool) -> BlockedSend:
        """Park a sender until room comes in `proc`'s mailbox, or its deadline: the letter's
        if the sender gave a timeout, else the policy's `send_timeout` (0: none), so that no
        sender waits for ever by accident."""
        wait = proc.policy.send_timeout
        by_policy = not timed and wait > 0
        blocked = BlockedSend(letter, proc, by_policy)
        if proc.blocked is None:
            proc.blocked = deque()
        proc.blocked.append(blocked)
        self.deadlines.add(trio.current_time() + wait if by_policy else letter.deadline, blocked)
        return blocked

    def durable_committed(self, upto: int) -> None:
        """From the log writer (through the trio token): these tickets are on disk."""
        while self._durable and self._durable[0][0] <= upto:
            _, proc, letter, waiter = self._durable.popleft()
            self._deliver_durable(proc, letter)
            waiter.resolve(outcome.Value(None))

    def _deliver_durable(self, proc: Process, letter: Letter) -> None:
        """`letter` is on disk: into the mailbox (waking a runner), or a dead letter if the
        neuro stopped while it was being committed."""
        if proc.accepting:
            self._enqueue(proc, letter)
        else:
            self._count_in(proc, letter)
            self._dead(proc, letter, f"{proc.name} stopped before the message was delivered")

    def durable_failed(self, error: BaseException) -> None:
        """From the log writer (through the trio token): it stopped on `error`, so no durable
        message still waiting will be committed; each sender gets a LogError."""
        while self._durable:
            _, proc, letter, waiter = self._durable.popleft()
            waiter.resolve(outcome.Error(LogError(
                f"durable message {letter.env.id} to {proc.name!r} was not committed, so it was not "
                f"accepted: the event log writer failed ({error!r}); check the disk and the log file")))

    def from_writer(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        """`fn` as the log writer's thread may call it: run on the event loop."""
        return lambda arg: self._run_soon(fn, arg)

    def _run_soon(self, fn: Callable[[Any], None], arg: Any) -> None:
        if self.token is not None:
            try:
                self.token.run_sync_soon(fn, arg)
            except trio.RunFinishedError:
                pass  # the kernel has ended: nobody waits any more

    # -- sending --------------------------------------------------------------------------

    # trio's rule, for send, call and publish alike: each is always a cancel point and a
    # schedule point. Cancelled before it starts, it raises Cancelled having done nothing (no
    # message accepted, no handler run); once a message is accepted, it is not cancelled.

    async def send(self, sender: str, to: str, payload: Any, timeout: float | None,
                   parent: Envelope | None = None, durable: bool = False, source: Process | None = None) -> int:
        await trio.lowlevel.checkpoint_if_cancelled()
        if timeout is not None and not (type(timeout) is float and timeout >= 0):
            timeout = check_timeout(timeout)  # NaN or worse: refused here, not in the deadline heap
        if self.log is not None and self.log.overloaded:
            await self._wait_for_log()
        if self.on_demand is not None and isinstance(to, str) and to not in self.procs:
            await self.on_demand(to)  # an on-demand name's first use spawns it
        proc = self._lookup(to)
        letter = self._letter(proc, sender, payload, "send", timeout, parent, source=source)
        if proc.policy.rate:
            await self._rate(proc, sender, letter.deadline)
        if durable:
            await self._accept_durable(proc, letter, timeout is not None)
            return letter.env.id
        blocked = self._offer(proc, letter, timeout is not None)
        if blocked is not None:
            await blocked.wait()
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()  # accepted: not cancelled now
        return letter.env.id

    def send_nowait(self, sender: str, to: str, payload: Any, parent: Envelope | None = None) -> int:
        proc = self._lookup(to)
        letter = self._letter(proc, sender, payload, "send", None, parent)
        if proc.policy.overflow == "block" and (len(proc.queue) >= proc.policy.mailbox_size or proc.blocked):
            raise trio.WouldBlock
        if proc.policy.rate and self._take_token(proc):
            self._event("quota.rate", proc.name, sender, limit=proc.policy.rate, burst=proc.policy.burst_size, action="rejected")
            raise RateLimited(f"{proc.name!r} accepts at most {proc.policy.rate:g} messages/s "
                              f"under policy {proc.policy.name!r}")
        self._offer(proc, letter)
        return letter.env.id

    async def call(self, sender: str, to: str, payload: Any, timeout: float | None,
                   parent: Envelope | None = None, durable: bool = False, inline: bool = False,
                   check: Callable[[PendingCall], None] | None = None, source: Process | None = None) -> Any:
        """Send a request and wait for its outcome. `check`, given a labelled outcome (a reply or
        an error: an error's text may hold the data too), raises in its place if the caller may
        not have it (kernel/_labels.py)."""
        await trio.lowlevel.checkpoint_if_cancelled()  # the direct path's only cancel point
        if timeout is not None and not (type(timeout) is float and timeout >= 0):
            timeout = check_timeout(timeout)  # NaN or worse: refused here, not in the deadline heap
        if self.log is not None and self.log.overloaded:
            await self._wait_for_log()
        if self.on_demand is not None and isinstance(to, str) and to not in self.procs:
            await self.on_demand(to)  # an on-demand name's first use spawns it
        proc = self._lookup(to)
        letter = self._letter(proc, sender, payload, "call", timeout, parent, source=source)
        if proc.policy.rate:
            await self._rate(proc, sender, letter.deadline)
        mid = letter.env.id
        call = PendingCall(lambda: CallTimeout(
            f"no reply from {to!r} within {timeout} s (message {mid}); it will still get an outcome in the log"))
        letter.call = call
        if durable:
            await self._accept_durable(proc, letter, timeout is not None)
        elif (direct := self._direct(proc)) is not None:
            self._handle_now(proc, letter, direct)
            if call.result is not None:
                if inline:  # a net's chain step (nets/_runner.py): no schedule point
                    if check is not None and call.labels:
                        check(call)
                    return call.result.unwrap()
                return await _checked(call, check)  # resolved: its schedule point
            # else its handler returned work that waits, which a task of its own finishes
            # (kernel/_delivery.py `_finish_later`): wait for it as for a runner's
        elif (sandboxed := self._sandboxed(proc, letter)) is not None:
            if sandboxed.started.unsent:  # the socket took a part of the frame: the rest first
                await sandboxed.started.send_rest()
        else:
            blocked = self._offer(proc, letter, timeout is not None)
            if blocked is not None:
                await blocked.wait()
        self.deadlines.add(letter.deadline, call)
        return await _checked(call, check)

    def _sandboxed(self, proc: Process, letter: Letter) -> SandboxedCall | None:
        """A call to a sandboxed handler, sent from the caller's task when its mailbox is empty
        and a place is free (kernel/_sandboxcall.py); None: the mailbox takes it."""
        worker = proc.worker
        if (worker is None or not worker.starts_nowait or proc.state is not State.RUNNING or proc.queue
                or proc.blocked or proc.runners - len(proc.idle) >= proc.policy.concurrency
                or proc.policy.priority == "background" or (proc.energy is not None and proc.energy.hold)
                or (letter.deadline != math.inf and letter.deadline < trio.current_time())  # dead: a runner says so
                or (letter.env.labels and not letter.env.labels <= proc.labels)):  # new labels: `_deliver` checks them
            return None
        sandboxed = proc.sandboxed
        if sandboxed is None or sandboxed.worker is not worker:
            sandboxed = proc.sandboxed = SandboxedCall(self, proc, worker)
        elif sandboxed.letter is not None:
            return None  # one in flight already
        return sandboxed if sandboxed.start(letter) else None

    async def publish(self, sender: str, topic: str, payload: Any, parent: Envelope | None = None,
                      source: Process | None = None) -> int:
        """Deliver to every subscriber that has room now; returns how many it reached."""
        await trio.lowlevel.checkpoint_if_cancelled()
        reached = self.publish_nowait(sender, topic, payload, parent, source)
        await trio.lowlevel.cancel_shielded_checkpoint()  # delivered: not cancelled now
        return reached

    def publish_nowait(self, sender: str, topic: str, payload: Any, parent: Envelope | None = None,
                       source: Process | None = None) -> int:
        """`publish` without its checkpoint: it never waits (a subscriber without room now, or
        over its rate, is skipped with a `message.rejected` or `quota.rate` event)."""
        if not isinstance(topic, str):
            raise TypeError(f"topic must be a str, got {brief(topic)}")
        reached = 0
        for name in self._subscribers(self.neuro_topics, topic):
            proc = self.procs.get(name)
            if proc is None or not proc.accepting:
                continue
            try:
                letter = self._letter(proc, sender, payload, "event", None, parent, topic=topic, source=source)
            except NeuroError:  # refused (payload, labels, energy): logged as a `message.rejected` (`flow.refused`)
                continue  # event; other subscribers still get it
            if proc.policy.overflow == "block" and len(proc.queue) >= proc.policy.mailbox_size:
                self._event("message.rejected", name, sender, error="MailboxFull", reason=f"event on {topic!r} found the mailbox full")
                continue
            policy = proc.policy
            if policy.rate and self._take_token(proc):  # `_rate` without the wait
                self._event("quota.rate", name, sender, limit=policy.rate, burst=policy.burst_size, action="rejected")
                continue
            try:
                self._offer(proc, letter)
            except MailboxFull:
                continue
            reached += 1
        reached += self.publish_to_clients(topic, payload, sender, source)
        return reached

    def publish_to_clients(self, topic: str, payload: Any, sender: str, source: Process | None = None,
                           by_kernel: bool = False) -> int:
        """Hand an event to the clients subscribed to `topic`. A neuro's (`sender`, or `source`
        where known) reaches them only through its `labels.egress.clients`; the kernel's own
        (`by_kernel`: its events, which hold no labelled payload) whoever their actor."""
        reached = 0
        source = source if source is not None or by_kernel else self.procs.get(sender)
        if source is not None and source.labels and self._subscribers(self.client_topics, topic):
            try:  # labelled events reach clients only through `labels.egress.clients`
                client_egress(source, self._event, f"an event on {topic!r}")
            except FlowRefused:
                return 0
        for channel in self._subscribers(self.client_topics, topic):
            try:
                channel.send_nowait((topic, sender, payload))
                reached += 1
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # a slow client loses events rather than slowing the kernel
        return reached

    @staticmethod
    def _subscribers(table: dict[str, list], topic: str) -> list:
        found = list(table.get(topic, ()))
        for pattern, subs in table.items():
            if pattern.endswith("*") and topic.startswith(pattern[:-1]):
                found.extend(subs)
        return found

    # -- outcomes -------------------------------------------------------------------------

    def _finish(self, proc: Process, letter: Letter, kind: str, reason: str | None,
                reply_raw: bytes | None, error: str | None, result: outcome.Outcome) -> None:
        if letter.done:
            raise RuntimeError(f"kernel bug: message {letter.env.id} was given a second outcome ({kind})")
        letter.done = True
        self.outcomes[kind] += 1
        if kind == "handled":
            proc.handled += 1
        elif kind == "error":
            proc.errors += 1
        else:
            proc.dead_letters += 1
        end, started = perf_counter(), letter.started
        if proc.energy is not None and started is not None:
            proc.energy.charge(end - started, end)  # joules per neuro (kernel/_energy.py)
        if self.log is not None:
            self.log.append_outcome(letter.env.id, time.time(), kind, reason, proc.name, end - letter.accepted_at,
                                    reply_raw, error, version=letter.version,
                                    service=None if started is None else end - started)
        call = letter.call
        if call is not None:
            if kind != "dead":  # its handler ran: the outcome carries the taint it had then
                call.labels, call.callee = proc.labels, proc
            call.resolve(result)

    def _wall_time_breached(self, proc: Process, letter: Letter) -> None:
        wall = proc.policy.wall_time
        message = (f"{proc.name} ran past its wall time of {wall:g} s per message (policy "
                   f"{proc.policy.name!r}); the handler was cancelled")
        self._event("quota.wall_time", proc.name, letter.env.sender, limit=wall, message_id=letter.env.id)
        info = ErrorInfo(type="WallTimeExceeded", message=message, neuro=proc.name, path=[proc.name])
        self._finish(proc, letter, "error", "wall time exceeded", None, _json_encode(info).decode(),
                     outcome.Error(CallTimeout(message)))

    def _dead(self, proc: Process, letter: Letter, reason: str) -> None:
        self._finish(proc, letter, "dead", reason, None, None, outcome.Error(DeadLetter(
            f"message {letter.env.id} to {proc.name!r} was dead-lettered: {reason}", reason)))

    def _error(self, proc: Process, letter: Letter, info: ErrorInfo, reason: str) -> None:
        """An error outcome: `info`, placed (`relayed`), is logged and the caller's RemoteError."""
        self._finish(proc, letter, "error", reason, None, _json_encode(info).decode(),
                     outcome.Error(RemoteError.from_info(info)))

    def dead_letter_queue(self, proc: Process, reason: str, refuse_blocked: bool = True) -> int:
        """Give every queued message of `proc` a dead-letter outcome; refuse blocked senders
        (whose messages were never accepted) unless they may wait for a restarted instance."""
        n = 0
        while proc.queue:
            self._dead(proc, proc.queue.popleft(), reason)
            n += 1
        while refuse_blocked and proc.blocked:
            waiter = proc.blocked.popleft()
            waiter.resolve(outcome.Error(NoSuchNeuro(
                f"{proc.name!r} stopped ({reason}) before the message found room; it was not accepted")))
        return n


async def _checked(call: PendingCall, check: Callable[[PendingCall], None] | None) -> Any:
    """`call`'s outcome, once `check` has passed its labels (value and error alike)."""
    if check is None:
        return await call.wait()
    try:
        value = await call.wait()
    except trio.Cancelled:
        raise
    except BaseException as e:  # noqa: BLE001 - the outcome's error, raised below once checked
        error: BaseException | None = e
    else:
        error = None
    if call.labels:
        check(call)  # outside the except: a refusal must not carry the error (its text) as context
    if error is not None:
        raise error
    return value

