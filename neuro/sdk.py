"""The neuro SDK: everything a neuro author needs, and nothing of the kernel's insides.

    from neuro import sdk

    class EchoIn(sdk.Message):
        text: str

    class EchoOut(sdk.Message):
        text: str

    class Echo(sdk.Neuro):
        name = "echo"
        input = EchoIn
        output = EchoOut

        async def handle(self, ctx: sdk.Context, msg: EchoIn) -> EchoOut:
            return EchoOut(text=msg.text)

`ctx.resources` is a `Resources`: what the neuro's policy grants it (CPU share, memory, wall
time, a GPU and its memory share) and what of it the machine has; ``ctx.resources.gpu`` is
true only when a GPU is both granted and present.

``await ctx.start_background(fn, *args, name=...)`` runs ``await fn(task_ctx, *args)`` beside
the neuro's message handling (a training job while Status is answered) and returns its handle
(`name`, `done`, `error`, `cancel()`, ``await wait()``); the task ends with the instance (stop,
restart, crash, swap), and an error it does not catch crashes the neuro. ``await
ctx.put_artifact(data, label=...)`` keeps bytes in the kernel's artifact store and returns
their sha256, ``await ctx.get_artifact(hash)`` reads them, ``await ctx.find_artifact(label)``
finds the latest kept under a label, also after a restart. Both work in-process and in a
sandbox (docs/learning/protocol.md, "The SDK underneath").
"""

from ._context import Context, KernelEvent, Progress
from ._errors import (
    CallTimeout,
    DeadLetter,
    InvalidPayload,
    ManifestError,
    NeuroError,
    NoSuchNeuro,
    Reject,
    RemoteError,
    FlowRefused,
)
from ._manifest import Manifest, Message, Neuro, neuro
from ._net import Net
from ._resources import Resources

__all__ = [
    "Message",
    "Neuro",
    "Manifest",
    "neuro",
    "Context",
    "Progress",
    "KernelEvent",
    "NeuroError",
    "ManifestError",
    "NoSuchNeuro",
    "InvalidPayload",
    "CallTimeout",
    "DeadLetter",
    "RemoteError",
    "Reject",
    "FlowRefused",
    "Net",
    "Resources",
]
