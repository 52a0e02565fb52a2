"""neuro.dream: the dream daemon, which distils what a neuro did into a faster version of it.

    async with neuro.Kernel(log="run.db", dream=True) as k:   # or: the daemon starts it
        ...

A neuro opts in from its manifest (``dream = {"agreement": 0.98, "speedup": 20}``, see
`DreamSettings`); the daemon (`Dream`, a system neuro named ``dream`` under the ``dream``
policy) reads its handled calls from the log, trains a student from its message types, and
ships it as a new version, with its lineage, only if every gate passes. docs/dream.md says it all.

Names: `Dream`, `DreamSettings`, `Job`, `DreamRun`, `DreamStatus`, `DreamJobs`, `DreamCancel`,
`DreamReply`, `jobs_from_events`, `check_dream`, `start`.
"""

from ._daemon import DREAM_NAME, Dream
from ._jobs import DreamCancel, DreamJobs, DreamReply, DreamRun, DreamStatus, Job, jobs_from_events
from ._settings import DreamSettings, check_dream

__all__ = ["Dream", "DREAM_NAME", "DreamSettings", "check_dream", "Job", "DreamRun", "DreamStatus", "DreamJobs",
           "DreamCancel", "DreamReply", "jobs_from_events", "start"]


async def start(kernel: object) -> object:
    """Start the dream daemon in `kernel` (a Kernel or a client) under the ``dream`` policy,
    supervised by the root supervisor, and wake it; returns its process row."""
    info = await kernel.spawn(Dream, policy="dream")  # type: ignore[attr-defined]
    await kernel.call(DREAM_NAME, DreamStatus())  # type: ignore[attr-defined]  # it starts watching
    return info
