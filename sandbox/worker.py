"""The process a sandboxed neuro lives in: `python -m neuro.sandbox.worker --fd N`.

It starts before it knows which neuro it will serve (so a pool of them can be kept warm),
says Hello, waits for Load, then serves Call and Hook frames until Stop or end of input.
A neuro's sends, calls and publishes travel back to the kernel as CtxOp frames. The neuro's
code arrives inside the Load frame, so the sandbox needs no view of the user's folders.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import socket
import sys
import tempfile
import traceback
from collections import deque
from types import CoroutineType
from typing import Any, Callable

import msgspec
import trio

from neuro._aio import carry_on, send_locked
from neuro._context import Context, register_artifacts
from neuro._errorinfo import error_info, revive

from ._frames import (
    PROTOCOL, Call, CtxOp, CtxResult, Describe, Described, FrameDecoder, Hello, Hook, Load, Loaded, Result, Stop,
    encode,
)

_enc = msgspec.msgpack.Encoder()


class WorkerContext(Context):
    """A handler's context inside the sandbox: every operation is a CtxOp to the kernel."""

    def __init__(self, worker: Worker, call_id: int) -> None:
        self._worker = worker
        self._call = call_id

    @property
    def name(self) -> str:
        return self._worker.neuro_name

    @property
    def version(self) -> str:
        return self._worker.version

    async def send(self, to: str, payload: Any, *, timeout: float | None = None) -> int:
        return msgspec.msgpack.decode(await self._worker.ctx_op(self._call, "send", to, payload, timeout))

    async def call(self, to: str, payload: Any, *, timeout: float = 10.0) -> Any:
        result = await self._worker.ctx_op(self._call, "call", to, payload, timeout, whole=True)
        return _decode_reply(result.reply, result.reply_type)

    async def publish(self, topic: str, payload: Any) -> int:
        return msgspec.msgpack.decode(await self._worker.ctx_op(self._call, "publish", topic, payload, None))

    _control_remote = True  # `ctx.kernel` from here: a class to spawn travels as `module:Class`

    async def _control(self, request: Any) -> Any:
        """A `ctx.kernel` request (a control frame) to the kernel, which checks the grant."""
        from neuro._wire_errors import reply_of

        return reply_of(await self._worker.ctx_op(self._call, "control", "", request, None))

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)

    async def _start_background(self, fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> Any:
        # The kernel gives the task an id of its own while this call is still served (its
        # CtxOps must name a call the kernel knows); the task runs in this worker's loop.
        from neuro._context import Background

        task_id = msgspec.msgpack.decode(await self._worker.ctx_op(self._call, "background", name, None, None))
        handle = Background(name)
        worker = self._worker
        assert worker.nursery is not None
        worker.busy += 1  # the reader must not block this thread in recv while the task runs
        worker.nursery.start_soon(worker.run_background, handle, fn, WorkerContext(worker, task_id), args, task_id)
        return handle

    async def _artifact_op(self, op: str, key: str, data: bytes | None) -> Any:
        return msgspec.msgpack.decode(await self._worker.ctx_op(self._call, f"artifact_{op}", key, data, None))

    async def _declassify(self, label: str, reason: str) -> None:
        # The kernel's context checks the policy and logs it (kernel/_labels.py).
        await self._worker.ctx_op(self._call, "declassify", label, reason, None)

    def _grant(self) -> Any:
        return self._worker.grant  # from the Load frame; `resources` adds what this sandbox sees

    @property
    def labels(self) -> frozenset[str]:
        return self._worker.labels  # as the kernel last said (each Call and CtxResult says it)


class RemoteCallError(Exception):
    """What the kernel said went wrong with a ctx operation, when its type cannot be made
    here (its type is in the message). A neuro's error is a RemoteError, and the kernel's own
    refusals are Neuro's exceptions (NoSuchNeuro, CallTimeout, ...), as in-process."""


class Worker:
    """Serves one neuro over one socket.

    While nothing is in flight, the worker reads, runs the handler and answers with plain
    blocking calls on its own thread: cheaper than an event loop's wake-up, and nothing else
    needs the loop then. A handler that awaits something (a ctx call, a sleep) keeps running
    in the task that started it, and a fresh task takes over reading; while such calls are
    in flight, reading goes through trio.
    """

    def __init__(self, sock: socket.socket) -> None:
        # Blocking, so the idle read needs no mode switch (two syscalls a call); the reads
        # and writes that must not block pass MSG_DONTWAIT instead.
        sock.setblocking(True)
        self.sock = sock
        self.send_lock = trio.Lock()
        self.frames: deque[Any] = deque()
        self.decoder = FrameDecoder()
        self.busy = 0  # calls and hooks being finished by tasks of their own
        self.instance: Any = None
        self.is_async = True
        self.input: msgspec.msgpack.Decoder | None = None
        self.neuro_name = ""
        self.version = ""
        self.pending: dict[int, tuple[trio.Event, list[CtxResult]]] = {}
        self.next_op = 0
        self.nursery: trio.Nursery | None = None
        self.described: tuple[str, Any] | None = None  # (version, class) imported by Describe
        self.grant: Any = None  # the Load frame's `resources`
        self.labels: frozenset[str] = frozenset()  # the neuro's taint, as the kernel last told it
        self._told: tuple[str, ...] | None = None  # ... in the frame's form

    async def write(self, frame: Any) -> None:
        await send_locked(self.sock, self.send_lock, encode(frame))

    async def read(self) -> bool:
        """Read more frames into the queue; False at end of input."""
        if self.busy == 0:
            data = self.sock.recv(1 << 16)  # idle: nothing else runs, so block this thread
        else:
            while True:
                await trio.lowlevel.wait_readable(self.sock)
                try:
                    data = self.sock.recv(1 << 16, socket.MSG_DONTWAIT)
                    break
                except BlockingIOError:
                    continue
        if not data:
            return False
        self.frames.extend(self.decoder.feed(data))
        return True

    async def ctx_op(self, call_id: int, op: str, to: str, payload: Any, timeout: float | None,
                     whole: bool = False) -> Any:
        self.next_op += 1
        op_id = self.next_op
        done, box = trio.Event(), []
        self.pending[op_id] = (done, box)
        await self.write(CtxOp(id=op_id, call=call_id, op=op, to=to, payload=_enc.encode(payload), timeout=timeout))
        await done.wait()
        result = box[0]
        if not result.ok:
            failure = result.failure
            error = revive(failure) if failure is not None else None
            if error is not None:
                raise error
            raise RemoteCallError(f"{failure.type}: {failure.message}" if failure is not None
                                  else f"{result.error_type}: {result.error}")
        return result if whole else result.reply

    async def run_background(self, handle: Any, fn: Callable[..., Any], ctx: Context, args: tuple[Any, ...],
                             task_id: int) -> None:
        """A `ctx.start_background` task; at its end the kernel hears how it ended (a crash
        crashes the neuro) and forgets its id. The worker's end cancels it."""
        from neuro._context import run_background

        try:
            crashed = await run_background(handle, fn, ctx, args)
            error = None if crashed is None else (handle.error or "crashed")
            try:
                await self.ctx_op(task_id, "background_end", handle.name, error, None)
            except Exception:  # noqa: BLE001 - the kernel is going away; nothing to tell
                pass
        finally:
            self.busy -= 1

    def describe(self, frame: Describe) -> Described:
        """Import the neuro's files here, in the sandbox, and return its manifest as data; the
        class stays loaded, so a Load of the same version that follows reuses it."""
        from neuro._neurofile import NeuroFileError, load_neuro_source

        from ._described import describe

        try:
            loaded = load_neuro_source(frame.source, origin=frame.origin or "sandbox")
            description = describe(loaded.cls, loaded.replay)
            self.described = (frame.version, loaded.cls)
            return Described(ok=True, description=_enc.encode(description))
        except NeuroFileError as e:
            return Described(ok=False, error=e.error, file=e.file, line=e.line or 0, traceback=e.traceback or "")
        except BaseException as e:  # noqa: BLE001 - reported to the kernel, which decides
            return Described(ok=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())

    def load(self, frame: Load) -> Loaded:
        try:
            if self.described is not None and self.described[0] == frame.version:
                cls = self.described[1]  # imported by Describe: the same bytes, already checked
            elif frame.source is not None and (frame.module.startswith("neuro_drop.")
                                               or frame.module == "neuro_described"):
                # Loaded from files (a path, a drop folder, a stored version, a described neuro;
                # its neuro.toml applied): load it the way the kernel did. An imported class's
                # files (neuro.toml among them) are imported as the kernel imported them.
                from neuro._neurofile import load_neuro_files

                cls = load_neuro_files(frame.source, origin="sandbox")
            else:
                if frame.source is not None:
                    # A neuro declared in a script: load it under another name, so the script's
                    # `if __name__ == "__main__":` block does not run again in here.
                    name = "__neuro_main__" if frame.module == "__main__" else frame.module
                    module = _module_from_source(name, frame.source)
                else:
                    module = importlib.import_module(frame.module)
                cls = module
                for part in frame.qualname.split("."):
                    cls = getattr(cls, part)
            # Where its declared artifacts are in here (the read-only files the backend bound),
            # for `ctx.artifact`: WorkerContext answers it as the kernel's context does.
            register_artifacts(frame.version, frame.artifacts)
            self.grant = frame.resources
            if frame.gpu_memory:
                _limit_gpu_memory(frame.gpu_memory)  # before the neuro's own code can allocate
            self.instance = cls()
            manifest = cls.__manifest__
            self.input = msgspec.msgpack.Decoder(manifest.input)
            self.neuro_name = manifest.name
            self.version = frame.version
            self.is_async = manifest.is_async
        except BaseException as e:  # noqa: BLE001 - reported to the kernel, which decides
            return Loaded(ok=False, error=f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        return Loaded(ok=True, version=self.version)

    async def serve(self) -> None:
        """Take frames off the queue; the task that runs this is the reader."""
        assert self.nursery is not None
        while True:
            if not self.frames:
                if not await self.read():
                    self.nursery.cancel_scope.cancel()  # the kernel went away
                    return
                continue
            frame = self.frames.popleft()
            if isinstance(frame, Call):
                if frame.labels != self._told:
                    self.taint(frame.labels)
                if not await self.serve_call(frame):
                    return  # this task finished a call that needed the loop; another reads
            elif isinstance(frame, CtxResult):
                if frame.labels != self._told:
                    self.taint(frame.labels)
                waiter = self.pending.pop(frame.id, None)
                if waiter is not None:
                    waiter[1].append(frame)
                    waiter[0].set()
            elif isinstance(frame, Hook):
                self.busy += 1
                self.nursery.start_soon(self.serve_hook, frame)
            elif isinstance(frame, Load):
                await self.write(self.load(frame))
            elif isinstance(frame, Describe):
                await self.write(self.describe(frame))
            elif isinstance(frame, Stop):
                self.nursery.cancel_scope.cancel()
                return

    def taint(self, labels: tuple[str, ...] | None) -> None:
        """The kernel's word on the neuro's taint (None: none), for `ctx.labels`."""
        self._told, self.labels = labels, frozenset(labels or ())

    async def serve_call(self, frame: Call) -> bool:
        """Serve one call; False when this task had to give up reading to finish it."""
        assert self.input is not None and self.nursery is not None
        keep_reading = True
        try:
            msg = self.input.decode(frame.payload)
            result = self.instance.handle(WorkerContext(self, frame.id), msg)
            if self.is_async or type(result) is CoroutineType:  # a plain handler's work that waits, too
                coro = result
                try:
                    step = coro.send(None)  # most handlers finish without awaiting anything
                except StopIteration as done:
                    result = done.value
                else:
                    keep_reading = False
                    self.busy += 1
                    self.nursery.start_soon(self.serve)
                    try:
                        result = await carry_on(coro, step)
                    finally:
                        self.busy -= 1
            out = Result(id=frame.id, ok=True, reply=_enc.encode(result) if result is not None else b"")
        except Exception as e:
            out = Result(id=frame.id, ok=False, failure=error_info(e, traceback.format_exc()))
        await self.write(out)
        return keep_reading

    async def serve_hook(self, frame: Hook) -> None:
        try:
            fn = getattr(self.instance, frame.name)
            if frame.name == "sleep":
                result = fn(WorkerContext(self, frame.id))
            else:
                result = fn(*(msgspec.msgpack.decode(frame.arg) if frame.arg else ()))
            if hasattr(result, "__await__"):
                result = await result
            out = Result(id=frame.id, ok=True, reply=_enc.encode(result))
        except Exception as e:
            out = Result(id=frame.id, ok=False, failure=error_info(e, traceback.format_exc()))
        finally:
            self.busy -= 1
        await self.write(out)

    async def run(self) -> None:
        await self.write(Hello(protocol=PROTOCOL, pid=os.getpid()))
        _preload_when_idle(self.sock)
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self.serve)


def _preload_when_idle(sock: socket.socket, wait: float = 0.05) -> None:
    """A worker that waits in a warm pool imports what loading a file from its bytes needs
    (~20 ms), so a drop's Describe does not pay for it. One started for a spawn gets its Load
    at once and skips this: its start is not made slower."""
    import select

    if select.select([sock], [], [], wait)[0]:
        return
    import neuro._neurofile  # noqa: F401 - imported for its side effect: loaded now, not at the first drop

    from . import _described  # noqa: F401


def _module_from_source(name: str, files: dict[str, bytes]) -> Any:
    """Write the neuro's files into this sandbox's private temp folder and import them."""
    root = tempfile.mkdtemp(prefix="neuro-src-")
    for rel, data in files.items():
        if rel.startswith("/") or ".." in rel.split("/"):
            raise ValueError(f"refusing a source path outside the folder: {rel!r}")
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    main = next(iter(files))
    if "/" in main:  # a package folder: import it as a package from root
        package = main.split("/")[0]
        sys.path.insert(0, root)
        importlib.import_module(package)
        return importlib.import_module(name if name.startswith(package) else f"{package}.{name.rsplit('.', 1)[-1]}")
    spec = importlib.util.spec_from_file_location(name, os.path.join(root, main))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _decode_reply(data: bytes, type_path: str) -> Any:
    """Decode a reply as its own type when this sandbox can import it, else as plain data."""
    if type_path:
        module, _, qualname = type_path.partition(":")
        try:
            tp: Any = importlib.import_module(module)
            for part in qualname.split("."):
                tp = getattr(tp, part)
            return msgspec.msgpack.decode(data, type=tp)
        except (ImportError, AttributeError, msgspec.DecodeError):
            pass
    return msgspec.msgpack.decode(data)


def _limit_gpu_memory(fraction: float) -> None:
    """The policy's gpu_memory: torch's per-process memory fraction on every visible GPU.

    Only where torch is installed and sees a GPU; torch's caching allocator then refuses
    (OutOfMemoryError) any allocation past the fraction."""
    os.environ["NEURO_GPU_MEMORY_FRACTION"] = str(fraction)
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        for device in range(torch.cuda.device_count()):
            torch.cuda.set_per_process_memory_fraction(fraction, device)
        from neuro._resources import mark_fraction_applied

        mark_fraction_applied()  # `ctx.resources.gpu_memory_enforced`


def _apply_limits(args: argparse.Namespace) -> None:
    """Lower this process's rlimits (soft and hard) before any neuro code runs."""
    import resource

    for value, kind, extra in ((args.cpu_time, resource.RLIMIT_CPU, 1), (args.address_space, resource.RLIMIT_AS, 0),
                               (args.open_files, resource.RLIMIT_NOFILE, 0), (args.file_size, resource.RLIMIT_FSIZE, 0)):
        if value:
            # RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL a second later.
            resource.setrlimit(kind, (value, value + extra))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m neuro.sandbox.worker")
    parser.add_argument("--fd", type=int, help="an inherited, connected Unix socket")
    parser.add_argument("--connect", help="a Unix socket path to connect to")
    parser.add_argument("--cpu-time", type=int, default=0, help="RLIMIT_CPU, seconds")
    parser.add_argument("--address-space", type=int, default=0, help="RLIMIT_AS, bytes")
    parser.add_argument("--open-files", type=int, default=0, help="RLIMIT_NOFILE")
    parser.add_argument("--file-size", type=int, default=0, help="RLIMIT_FSIZE, bytes")
    args = parser.parse_args()
    _apply_limits(args)
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(args.connect)

    async def run() -> None:
        await Worker(sock).run()

    try:
        trio.run(run)
    except MemoryError:
        os._exit(3)  # the kernel reports 3 as the worker's own account of a MemoryError, not a quota breach


if __name__ == "__main__":
    main()
