"""Neuro: a local-first runtime for self-improving agents.

An embedded kernel runs neuros (skill units declared with `neuro.sdk`) as message-passing
tasks on trio:

    import neuro, trio
    from neuro import sdk

    async def main():
        async with neuro.Kernel(log="run.db") as k:
            await k.spawn(Echo)
            reply = await k.call("echo", EchoIn(text="hi"), timeout=1.0)

    trio.run(main)

The kernel's names (and `neuro.sdk` itself) are imported on first use, so a sandboxed worker
that only needs `neuro.sdk` never pays for the kernel, and `neuro ps` pays for neither.
"""

from ._errors import (
    AlreadyRunning,
    CallTimeout,
    DeadLetter,
    InvalidPayload,
    KernelClosed,
    LogError,
    MailboxFull,
    ManifestError,
    MessageTooLarge,
    NeuroError,
    NoSuchNeuro,
    PolicyError,
    RateLimited,
    RemoteError,
    SettingError,
    SwapFailed,
    FlowRefused,
    EnergyExceeded,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a few ms at start-up)
if TYPE_CHECKING:
    from typing import Any

    from . import sdk
    from .client import connect
    from .kernel import (
        Child,
        Envelope,
        EventRecord,
        Kernel,
        KernelEvent,
        KernelStatistics,
        LogReader,
        MessageRecord,
        Policy,
        ProcessInfo,
        SupervisorSpec,
        SwapReport,
        TraceNode,
        VersionInfo,
    )

__version__ = "0.1.0"

__all__ = [
    "sdk",
    "connect",
    "Kernel",
    "Child",
    "SupervisorSpec",
    "Policy",
    "Envelope",
    "ProcessInfo",
    "KernelStatistics",
    "KernelEvent",
    "LogReader",
    "MessageRecord",
    "EventRecord",
    "TraceNode",
    "NeuroError",
    "ManifestError",
    "NoSuchNeuro",
    "AlreadyRunning",
    "InvalidPayload",
    "MessageTooLarge",
    "MailboxFull",
    "RateLimited",
    "PolicyError",
    "CallTimeout",
    "DeadLetter",
    "RemoteError",
    "SwapFailed",
    "KernelClosed",
    "LogError",
    "SettingError",
    "FlowRefused",
    "EnergyExceeded",
    "SwapReport",
    "VersionInfo",
]

_FROM_KERNEL = {
    "Kernel", "Child", "SupervisorSpec", "Policy", "Envelope", "ProcessInfo", "KernelStatistics",
    "KernelEvent", "LogReader", "MessageRecord", "EventRecord", "TraceNode", "SwapReport", "VersionInfo",
}


def __getattr__(name: str) -> "Any":
    if name == "sdk":
        import importlib

        value = importlib.import_module(".sdk", __name__)
        globals()["sdk"] = value
        return value
    if name == "connect":
        from .client import connect

        globals()["connect"] = connect
        return connect
    if name in _FROM_KERNEL:
        from . import kernel

        value = getattr(kernel, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neuro' has no attribute {name!r}")
