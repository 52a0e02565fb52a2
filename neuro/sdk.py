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
)
from ._manifest import Manifest, Message, Neuro, neuro

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
]
