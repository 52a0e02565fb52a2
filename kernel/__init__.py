"""The microkernel: process table, supervisors, mailboxes, messaging, event log.

Swap, replay and log-reader names load on first use: an empty kernel starting up needs none
of them (the start-up benchmark counts every module)."""

from ._envelope import Envelope, ErrorInfo
from ._kernel import Kernel, KernelEvent, KernelStatistics, LogQuery, VersionInfo
from ._policy import Capabilities, Policy
from ._process import MailboxStatistics, ProcessInfo
from ._supervisor import Child, SupervisorInfo, SupervisorSpec

__all__ = [
    "Kernel", "KernelEvent", "KernelStatistics", "LogQuery", "VersionInfo", "SwapReport", "SwapError",
    "ReplayReport", "Difference", "Envelope", "ErrorInfo",
    "LogReader", "EventRecord", "MessageRecord", "TraceNode", "Policy", "Capabilities",
    "MailboxStatistics", "ProcessInfo", "Child", "SupervisorInfo", "SupervisorSpec",
]

_LAZY = {
    "SwapReport": "_swap", "SwapError": "_swap", "ReplayReport": "_replay", "Difference": "_replay",
    "LogReader": "_logquery", "EventRecord": "_logquery", "MessageRecord": "_logquery", "TraceNode": "_logquery",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neuro.kernel' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
