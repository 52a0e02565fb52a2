"""Kernel events to the neuros that subscribe to ``kernel.events``.

Each event reaches each subscriber as a typed message, a `KernelEvent` sent by ``kernel`` on
the topic ``kernel.events``, under the subscriber's mailbox rule:

- while its mailbox has room, the event is queued like any other event;
- when it is full, a ``drop_oldest`` mailbox drops its oldest message, as that rule says;
  under the other rules the event stays out (the kernel never waits on a subscriber, and
  its own events never push out a neuro's work) and is *missed*;
- missed events are counted, and as soon as the mailbox has room again the subscriber gets
  one ``events.missed`` KernelEvent whose ``data["missed"]`` is the count, ahead of any later
  event. A subscriber that falls behind learns how far; it never meets silence.

Two guards keep events from feeding on themselves. A neuro never receives events about itself
(handling one could cause the next: a crash, a rejection, a quota breach, each an event about
it). And an event raised while an event is being delivered (a ``message.rejected``, say) goes
to the log and to clients, never to neuros.

A neuro that names ``kernel.events`` in `subscribe` must take a KernelEvent as input (it is
refused at spawn otherwise); one that only matches it by a pattern (``*``, ``kernel.*``) and
whose input takes no KernelEvent is not sent kernel events.
"""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from neuro._context import EVENTS_MISSED, KernelEvent
from neuro._errors import NeuroError

from ._events import as_dict, event_data

if TYPE_CHECKING:
    from ._process import Letter, Process
    from ._router import Router

__all__ = ["EventFeed", "TOPIC", "takes_events"]

TOPIC = "kernel.events"
SENDER = "kernel"
_SAMPLE = msgspec.msgpack.encode(KernelEvent(time=0.0, name="neuro.crashed", neuro="a", actor="kernel",
                                             data={"pid": 1, "error": "RuntimeError: a sample"}))
_plain = msgspec.msgpack.Encoder(enc_hook=str)  # an event's data may hold paths, exceptions, ...
_decoders: list[msgspec.msgpack.Decoder] = []  # made at the first event a neuro receives: its
# type's annotations are strings, and resolving them imports typing_extensions (~20 ms of start-up)


def _event_decoder() -> msgspec.msgpack.Decoder:
    if not _decoders:
        _decoders.append(msgspec.msgpack.Decoder(KernelEvent))
    return _decoders[0]


def takes_events(decoder: msgspec.msgpack.Decoder) -> bool:
    """Whether a neuro whose input decoder is `decoder` can take a KernelEvent."""
    try:
        decoder.decode(_SAMPLE)
    except msgspec.ValidationError:
        return False
    return True


class EventFeed:
    """Delivers the kernel's events to subscribed neuros; see the module docstring."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.nursery: trio.Nursery | None = None  # where markers wait for room (the kernel's background)
        self._missed: weakref.WeakKeyDictionary[Process, int] = weakref.WeakKeyDictionary()
        self._waiting: weakref.WeakSet[Process] = weakref.WeakSet()
        self._takes: dict[type, bool] = {}
        self._delivering = False

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the nursery the missed-events markers wait in, until cancelled."""
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def deliver(self, event: KernelEvent) -> None:
        """Offer `event` to every subscribed neuro, now (never waits)."""
        router = self.router
        if self._delivering or not router.neuro_topics:
            return
        names = router._subscribers(router.neuro_topics, TOPIC)
        if not names:
            return
        self._delivering = True
        try:
            event = _event_decoder().decode(_plain.encode(event))  # plain data, encoded once
            for name in dict.fromkeys(names):
                proc = router.procs.get(name)
                if proc is None or not proc.accepting or name == event.neuro or not self._takes_events(proc):
                    continue
                self._feed(proc, event)
        finally:
            self._delivering = False

    def _takes_events(self, proc: Process) -> bool:
        takes = self._takes.get(proc.neuro)
        if takes is None:
            takes = self._takes[proc.neuro] = takes_events(proc.decoder)
        return takes

    def _feed(self, proc: Process, event: KernelEvent) -> None:
        if self._missed.get(proc) and self._has_room(proc):
            self._put(proc, self._marker(proc, self._missed.pop(proc)))
        if self._has_room(proc):
            self._put(proc, event)
        elif proc.policy.overflow == "drop_oldest" and proc.queue:
            self._count_dropped(proc, proc.queue[0])
            self._put(proc, event)  # the rule drops the oldest message, a dead letter with its reason
        else:
            self._miss(proc, 1)

    @staticmethod
    def _has_room(proc: Process) -> bool:
        return len(proc.queue) < proc.policy.mailbox_size and not proc.blocked

    def _put(self, proc: Process, event: KernelEvent) -> None:
        router = self.router
        try:
            letter = router._letter(proc, SENDER, event, "event", None, None, topic=TOPIC)
        except NeuroError:  # refused (bad payload, energy, labels): its `message.rejected` event is in the log
            self._miss(proc, 1)
            return
        router._offer(proc, letter)

    def _count_dropped(self, proc: Process, oldest: Letter) -> None:
        env = oldest.env
        if env.topic != TOPIC or env.sender != SENDER:
            return  # not an event: the rule's dead letter says what was dropped
        payload = env.payload
        name = payload.get("name") if isinstance(payload, dict) else getattr(payload, "name", None)
        data = payload.get("data") if isinstance(payload, dict) else getattr(payload, "data", None)
        missed = data.get("missed", 1) if name == EVENTS_MISSED and isinstance(data, dict) else 1
        self._miss(proc, missed if isinstance(missed, int) else 1)

    def _miss(self, proc: Process, count: int) -> None:
        self._missed[proc] = self._missed.get(proc, 0) + count
        if proc not in self._waiting and self.nursery is not None:
            self._waiting.add(proc)
            self.nursery.start_soon(self._mark_when_room, proc)

    @staticmethod
    def _marker(proc: Process, missed: int) -> KernelEvent:
        return KernelEvent(time=time.time(), name=EVENTS_MISSED, neuro=proc.name, actor=SENDER,
                           data=as_dict(event_data(EVENTS_MISSED, {"missed": missed})))

    async def _mark_when_room(self, proc: Process) -> None:
        """Once `proc`'s mailbox has room, the marker goes in (unless an event took it first)."""
        router = self.router
        try:
            while self._missed.get(proc) and proc.accepting:
                if self._has_room(proc):
                    self._put(proc, self._marker(proc, self._missed.pop(proc)))
                    return
                # Wait as a blocked sender does, woken when the neuro takes a message, but
                # admitted by nobody: the marker is made then, with the count at that moment.
                try:
                    letter = router._letter(proc, SENDER, self._marker(proc, 0), "event", None, None, topic=TOPIC)
                except NeuroError:  # it refuses messages now (its energy budget): the next event tries again
                    return
                waiter = router._block(proc, letter, timed=False)
                waiter.admit = False
                try:
                    await waiter.wait()
                except NeuroError:  # its send_timeout passed (wait again), or it stopped
                    pass
        finally:
            self._waiting.discard(proc)
