"""The client API: one set of async methods, whether the kernel is embedded or the daemon's.

    async with neuro.connect() as client:                 # the daemon, over its socket
        await client.spawn("neuro.neuros.echo:Echo")
        reply = await client.call("echo", {"text": "hi"})

    async with neuro.connect(embedded=True, log="run.db") as client:   # an embedded kernel
        ...

Both work from trio and from asyncio: over the socket it picks the transport for the loop it
runs in; under asyncio an embedded kernel runs as a trio guest run on the asyncio loop (so a
textual app can hold one). A neuro to spawn or swap is a class, ``module:Class``, or a neuro
file's path (``path.py`` or ``path.py:Class``); a class defined in a script travels as its
file's path.
Results are the kernel's own types (`ProcessInfo`, `MessageRecord`, ...); a reply comes back
as its Struct type when the client has imported that type's module, else as plain data.
With ``raw=True`` every result is plain data (what the CLI prints).

Methods (those of `neuro.Kernel`, which a test holds them to, and a few of the daemon's):
- the daemon: ``ping``, ``status``, ``shutdown``
- the process table: ``spawn``, ``load``, ``stop``, ``restart``, ``ps``, ``info``, ``hook``,
  ``statistics``, ``mailbox_statistics``, ``describe`` (everything about one neuro), ``usage``
  (each neuro's CPU and memory)
- supervision and drop folders: ``supervise``, ``supervisors``, ``drop_folders``
- messages: ``send``, ``call``, ``publish``, ``subscribe`` (an async context manager)
- the log: ``messages``, ``events``, ``trace``, ``tail`` (an async context manager), ``vacuum``
- versions and policies: ``swap``, ``rollback``, ``unpin``, ``versions``, ``source``, ``diff``,
  ``policies``, ``reload_policies``

Names:
- `connect`: a `Client` of the daemon (or, with ``embedded=True``, of a kernel of its own)
- `Client`: the methods above
- `blocking`, `run_blocking`: a raw client on a blocking socket, for code without an event loop
- `Loaded`: what `Client.load` found in a file
- `DaemonNotRunning`: no daemon answers on the socket (start one with `neuro daemon start`)
- `ControlError`: the daemon reported an error that is not one of Neuro's own

Any other error is the kernel's (`neuro.InvalidPayload`, `neuro.NoSuchNeuro`,
`neuro.RemoteError`, ...), raised by the client as the kernel raised it.
"""

from neuro._control import Loaded

from ._client import Client
from ._connect import blocking, connect, run_blocking
from ._errors import ControlError, DaemonNotRunning

__all__ = ["connect", "Client", "blocking", "run_blocking", "Loaded", "DaemonNotRunning", "ControlError"]
