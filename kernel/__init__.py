"""The microkernel: process table, supervisors, mailboxes, messaging, event log."""

from ._envelope import Envelope, ErrorInfo
from ._kernel import Kernel, KernelEvent, KernelStatistics, LogQuery, VersionInfo
from ._replay import Difference, ReplayReport
from ._swap import SwapError, SwapReport
from ._logquery import LogReader
from ._logquery import EventRecord, MessageRecord, TraceNode
from ._policy import Capabilities, Policy
from ._process import MailboxStatistics, ProcessInfo
from ._supervisor import Child, SupervisorInfo, SupervisorSpec

__all__ = [
    "Kernel", "KernelEvent", "KernelStatistics", "LogQuery", "VersionInfo", "SwapReport", "SwapError",
    "ReplayReport", "Difference", "Envelope", "ErrorInfo",
    "LogReader", "EventRecord", "MessageRecord", "TraceNode", "Policy", "Capabilities",
    "MailboxStatistics", "ProcessInfo", "Child", "SupervisorInfo", "SupervisorSpec",
]
