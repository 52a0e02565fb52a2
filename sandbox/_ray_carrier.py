"""The kernel's side of the ray backend's wire: a `Carrier` over one Ray actor.

A frame sent is one `exchange` call on the actor (`_ray_host.py`), numbered; what the
worker wrote comes back as the results of those calls, numbered too, and is put back in
order here before the frame decoder sees it. One exchange is always left waiting on the
actor, so a frame the worker sends on its own is not stuck until the kernel's next one.
An ObjectRef is awaited without a thread: its future's callback wakes the trio loop
through the trio token.

The end, and why: the host's note when its worker ended or broke a limit (`memory`,
`cpu_time`, counted by the host's watchdog); otherwise Ray's own account, from the error
of the `watch` call that never returns while the actor lives (node died, killed, out of
memory on the node). Ray's "may or may not have been executed" (`ActorUnavailableError`)
is never passed on: an actor that cannot be reached is killed at once, so nothing more
runs there, and the calls it held fail with that reason.
"""

from __future__ import annotations

import signal
from typing import Any

import trio

from ._carrier import Carrier, CarrierClosed, Evidence
from ._frames import FrameDecoder, encode

__all__ = ["RayCarrier", "ray_reason"]


def ray_reason(error: BaseException) -> str:
    """Ray's account of an actor's end, in one line: the cause without the actor's id
    fields, the list of common causes or Ray's "may or may not"."""
    import ray.exceptions as rex

    lines = [line.strip() for line in str(error).splitlines()
             if line.strip() and not line.startswith("\t") and "died unexpectedly before finishing" not in line]
    text = " ".join(" ".join(lines).split()).split(" Some common causes include")[0]
    if isinstance(error, rex.ActorUnavailableError):
        text = text.split(". The task may or may not have been executed")[0]
        return (f"ray: the actor could not be reached ({text}); the kernel killed it, so nothing more runs "
                "there, and no call it held was answered")
    if isinstance(error, rex.RayActorError):
        return f"ray: {text}"
    return f"ray: {type(error).__name__}: {text}"


def _is_oom(error: BaseException) -> bool:
    """Did Ray's raylet (not the neuro) kill the actor for the node's memory?"""
    import ray.exceptions as rex

    text = str(error).lower()
    return isinstance(error, rex.OutOfMemoryError) or "low on memory" in text or "memory pressure" in text


def _killed(error: BaseException) -> bool:
    """Ended from outside (`ray.kill`, its node gone), not by its own exit."""
    text = str(error)
    return "killed by `ray.kill`" in text or "node has died" in text or "node died" in text


class RayCarrier(Carrier):
    """The frames and life of the worker hosted by Ray actor `actor`."""

    def __init__(self, actor: Any) -> None:
        import ray

        self._ray = ray
        self.actor = actor
        self._exchange = actor.exchange.remote
        self._token = trio.lowlevel.current_trio_token()
        self._in_seq = 0
        self._waiting = 0  # exchanges the actor holds
        self._chunks: dict[int, bytes] = {}
        self._next = 1
        self._decoder = FrameDecoder()
        self._arrived = trio.Event()
        self._end: dict[str, Any] | None = None  # the host's note
        self._error: BaseException | None = None  # Ray's account, when it came first
        self._killed = False
        self._gone = False  # a call on the actor failed: it is dead or unreachable
        self._closed = False
        self._dead = trio.Event()
        self._post(0, b"")
        actor.watch.remote().future().add_done_callback(self._from_ray(self._watch_done))

    # -- refs resolved on Ray's threads, handled on trio's --------------------------------

    def _from_ray(self, handler: Any) -> Any:
        def callback(future: Any) -> None:
            try:
                self._token.run_sync_soon(handler, future)
            except trio.RunFinishedError:
                pass
        return callback

    def _post(self, seq: int, data: bytes) -> None:
        self._waiting += 1
        self._exchange(seq, data).future().add_done_callback(self._from_ray(self._exchanged))

    def _exchanged(self, future: Any) -> None:
        self._waiting -= 1
        try:
            seq, chunk, end = future.result()
        except BaseException as e:  # noqa: BLE001 - the actor's end, Ray's way
            self._failed(e)
            return
        if chunk:
            self._chunks[seq] = chunk
        if end is not None and self._end is None:
            self._end = end  # receive() ends the actor once every chunk before it is in
        self._arrived.set()
        if self._waiting == 0 and self._end is None and not self._gone and not self._closed:
            self._post(0, b"")  # one exchange always waits on the actor

    def _watch_done(self, future: Any) -> None:
        try:
            future.result()
        except BaseException as e:  # noqa: BLE001 - it only ever ends with the actor
            self._failed(e)
        self._gone = True
        self._dead.set()
        self._arrived.set()

    def _failed(self, error: BaseException) -> None:
        import ray.exceptions as rex

        self._gone = True  # whoever ended it, nothing more comes
        if self._error is None and not self._killed:
            self._error = error  # Ray's account counts only when the kernel did not end it
            if isinstance(error, rex.ActorUnavailableError):
                self.kill()  # its fate would be unknown: make it known
        self._arrived.set()

    # -- the Carrier ----------------------------------------------------------------------

    async def send(self, frame: Any) -> None:
        if self._closed or self._end is not None or self._gone:
            raise CarrierClosed()
        self._in_seq += 1
        try:
            self._post(self._in_seq, encode(frame))  # one submission: whole, or not at all
        except Exception:  # noqa: BLE001 - Ray refused the call: the actor is out of reach
            raise CarrierClosed() from None

    async def receive(self) -> list[Any]:
        while True:
            if self._next in self._chunks:
                data = bytearray()
                while self._next in self._chunks:
                    data += self._chunks.pop(self._next)
                    self._next += 1
                frames = self._decoder.feed(bytes(data))  # raises ProtocolError on a bad frame
                if frames:
                    return frames
                continue
            if self._closed or self._gone:
                return []
            if self._end is not None and self._next > self._end.get("last", 0):
                self.kill()  # the host lives on only until told: end it now
                return []
            self._arrived = trio.Event()
            await self._arrived.wait()

    async def wait_exit(self) -> None:
        await self._dead.wait()

    def evidence(self) -> Evidence:
        end = self._end
        if end is not None:
            quota = end.get("quota")
            if quota == "memory":
                return Evidence(exit_code=-signal.SIGKILL, oom_kills=1)
            if quota == "cpu_time":
                return Evidence(exit_code=-signal.SIGXCPU, cpu_seconds=float(end.get("used", 0.0)))
            return Evidence(exit_code=end.get("code"))
        error = self._error
        if error is not None and _is_oom(error):
            return Evidence(exit_code=-signal.SIGKILL, oom_kills=1)
        if error is None or _killed(error):
            return Evidence(exit_code=-signal.SIGKILL)  # by the kernel, `ray.kill` or its node's end
        return Evidence()  # Ray does not say how its process ended; its account is the output tail

    def kill(self) -> None:
        if self._killed:
            return
        self._killed = True
        try:
            self._ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - an actor already gone is fine
            pass

    def close(self) -> None:
        self._closed = True
        self._arrived.set()

    @property
    def output_tail(self) -> bytes:
        """The host's account of the end (a limit, a traceback), else Ray's."""
        end = self._end
        if end is not None and end.get("detail"):
            return str(end["detail"]).encode()
        if self._error is not None:
            return ray_reason(self._error).encode()
        return b""
