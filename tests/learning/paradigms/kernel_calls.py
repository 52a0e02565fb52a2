"""Messages to a paradigm learner through a real kernel, in its process: each answer in order
(the RemoteError for a refused one). Shared by the paradigm tests of issue 28."""

from __future__ import annotations

from typing import Any

import trio

import neuro


def inproc(cls: type) -> type:
    """`cls` placed in the kernel's process (the trusted in-process sandbox), for tests."""
    return type(f"Inproc{cls.__name__}", (cls,), {"sandbox": "inproc", "__module__": cls.__module__})


def call_all(tmp_path: Any, cls: type, *msgs: Any, timeout: float = 120) -> list[Any]:
    """Spawn `cls` in-process under a kernel logging to tmp_path, send `msgs` in turn; a callable
    in `msgs` is given the answers so far and returns the message to send (a Restore of a Snapshot)."""

    async def main() -> list[Any]:
        async with neuro.Kernel(log=str(tmp_path / "run.db")) as k:
            await k.spawn(cls, policy="default")
            answers = []
            for m in msgs:
                if callable(m):
                    m = m(answers)
                try:
                    answers.append(await k.call(cls.name, m, timeout=timeout))
                except neuro.RemoteError as e:
                    answers.append(e)
            return answers

    return trio.run(main)
