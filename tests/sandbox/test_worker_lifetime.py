"""A sandboxed worker lives as long as its kernel, however idle the kernel's threads are.

bubblewrap's --die-with-parent fires when the *thread* that forked it exits. Workers used to be
forked in one of trio's worker threads, which trio ends after 10 idle seconds: every sandbox
died then. The thread cache's idle timeout is shortened here so that the test takes a second.
"""

from __future__ import annotations

import shutil

import pytest
import trio
import trio._core._thread_cache as thread_cache

import neuro
from neuro.testing import BoxedEcho, Ping

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (bash scripts/setup.sh installs it)")


def test_a_sandboxed_worker_outlives_idle_threads(monkeypatch):
    monkeypatch.setattr(thread_cache, "IDLE_TIMEOUT", 0.2)

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(BoxedEcho, policy="untrusted")
            first = await k.call("boxed-echo", Ping(n=1), timeout=30)
            await trio.to_thread.run_sync(lambda: None)  # a thread to go idle and end, as trio's do
            await trio.sleep(1.5)  # several idle timeouts
            second = await k.call("boxed-echo", Ping(n=2), timeout=30)
            (info,) = [p for p in k.ps() if p.name == "boxed-echo"]
            return first.n, second.n, info.restarts

    assert (1, 2, 0) == trio.run(main)
