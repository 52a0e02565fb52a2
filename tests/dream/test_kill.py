"""A kill -9 of a dreaming kernel loses nothing and leaves no half-shipped version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import trio

import neuro
from neuro.dream import jobs_from_events
from tests.dream._dreamer import LongDream
from tests.dream.conftest import trio_test

REPO = Path(__file__).resolve().parents[2]


def trainers_of(pid: int) -> list[int]:
    """The dream trainers whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"neuro.dream._trainer" in cmdline and ppid == pid:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@trio_test
async def test_kill_9_mid_dream_leaves_the_teacher_and_no_student(log):
    """Killed while its student trains, the kernel leaves no trainer running and no new version;
    the job reads back as interrupted, and the teacher serves after a restart."""
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "dream" / "_dreamer.py"), log], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert "training" == proc.stdout.readline().strip()
        deadline = time.monotonic() + 30  # the stage is "train" a moment before the trainer starts
        while not (trainers := trainers_of(proc.pid)) and time.monotonic() < deadline:
            await trio.sleep(0.05)
        assert 1 == len(trainers)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while alive(trainers[0]) and time.monotonic() < deadline:
            await trio.sleep(0.05)
        assert not alive(trainers[0])
    finally:
        if proc.poll() is None:
            proc.kill()
    async with neuro.Kernel(log=log) as k:
        history = k.versions("long-dream")
        assert ["spawn"] == [v.origin for v in history]
        await k.spawn(LongDream)
        assert history[0].version == k.info("long-dream").version
        events = [e for e in await k.log.events(limit=None) if e.name.startswith("dream.")]
        jobs = jobs_from_events(events)
        assert [("long-dream", "interrupted")] == [(j.neuro, j.state) for j in jobs]
        handled = await k.log.messages(neuro="long-dream", kind="call", outcome="handled", limit=None)
        assert 80 == len(handled)
