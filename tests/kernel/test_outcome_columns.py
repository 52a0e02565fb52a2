"""Each outcome names the version of the neuro whose handler ran and how long that handler
ran (its service time, without the wait in the mailbox); the version store's rows keep
lineage and artifacts; a reader finds the newest committed ids."""

from __future__ import annotations


import pytest
import trio
import trio.testing

import neuro
from neuro import sdk
from neuro.kernel._envelope import Envelope
from neuro.kernel._eventlog import EventLog
from neuro.testing import Crashy, Ping, Pong

from .neuros_for_tests import tutor_code


async def load(k, tmp_path, answer):
    folder = tmp_path / answer
    folder.mkdir()
    (folder / "tutor.py").write_bytes(tutor_code(answer, asynchronous=True))
    return await k.load(folder / "tutor.py", trusted=True)


def read(path, method, **kwargs):
    with neuro.LogReader(path) as reader:
        return getattr(reader, method)(**kwargs)


class Gate(sdk.Neuro):
    """Answers once `Gate.open` is set: messages wait in its mailbox meanwhile."""

    name = "gate"
    input = Ping
    output = Pong
    open: trio.Event | None = None

    async def handle(self, ctx, msg):
        await type(self).open.wait()
        return Pong(n=msg.n)


def test_each_outcome_names_the_version_whose_handler_ran_before_and_after_a_swap(log_path, tmp_path):
    """A call handled by v1, then a swap, then a call handled by v2: each outcome carries its
    handler's version."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            v1 = await load(k, tmp_path, "first")
            await k.spawn(v1.cls, source=v1.files)
            await k.call("tutor", {"text": "?"})
            v2 = await load(k, tmp_path, "second")
            await k.swap("tutor", v2.cls, source=v2.files)
            await k.call("tutor", {"text": "?"})
            return v1.version, v2.version

    v1, v2 = trio.run(main)
    rows = read(log_path, "messages", neuro="tutor")
    assert [("first", v1), ("second", v2)] == [(r.reply["text"], r.version) for r in rows]


def test_service_time_excludes_the_wait_in_the_mailbox(log_path):
    """A message queued behind a busy handler waits: its latency (acceptance to outcome) is
    longer than its service (handler start to outcome); each service is at most its latency."""

    async def main():
        Gate.open = trio.Event()
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Gate)
            for n in (1, 2):
                await k.send("gate", Ping(n=n))
            await trio.testing.wait_all_tasks_blocked()  # 1 in the handler, 2 in the mailbox
            await trio.sleep(0.01)
            Gate.open.set()
            while k.info("gate").handled < 2:
                await trio.sleep(0.001)

    trio.run(main)
    first, second = read(log_path, "messages", neuro="gate")
    assert all(0 < r.service <= r.latency for r in (first, second))
    assert second.service < second.latency


def test_an_error_outcome_names_the_version_of_the_handler_that_raised(log_path):
    """A handler that raises ends its message as an error with that version and a service time."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            info = await k.spawn(Crashy)
            with pytest.raises(neuro.RemoteError):
                await k.call("crashy", Ping(n=-1))
            return info.version

    version = trio.run(main)
    [row] = read(log_path, "messages", neuro="crashy")
    assert ("error", version) == (row.outcome, row.version)
    assert 0 < row.service <= row.latency


def test_dead_letters_from_the_mailbox_have_no_version_and_no_service(log_path):
    """Messages dead-lettered from the mailbox never reached a handler: version and service
    are None (NULL in the log)."""

    async def main():
        Gate.open = trio.Event()
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Gate)
            for n in (1, 2, 3):
                await k.send("gate", Ping(n=n))
            await trio.testing.wait_all_tasks_blocked()
            await k.stop("gate", drain=False, timeout=0.0)

    trio.run(main)
    rows = read(log_path, "messages", neuro="gate")
    dead = [(r.outcome, r.version, r.service) for r in rows if r.outcome == "dead"]
    assert [("dead", None, None)] * 2 == dead


# -- the writer's side ----------------------------------------------------------------------


def test_append_outcome_takes_version_and_service_as_keywords(log_path):
    """EventLog.append_outcome stores the version and service it is given, and NULL for both
    when given none."""
    log = EventLog(log_path)
    log.open()
    try:
        for mid in (1, 2):
            log.append_message(Envelope(id=mid, time=mid / 1e9, sender="t", recipient="n", kind="call",
                                        payload=None, correlation=mid), b"\xc0")
        log.append_outcome(1, 1.0, "handled", None, "n", 0.5, b"\xc0", None, version="abc", service=0.25)
        log.append_outcome(2, 2.0, "dead", "gone", "n", 0.5, None, None)
    finally:
        log.close()
    rows = read(log_path, "messages", neuro="n")
    assert [("abc", 0.25), (None, None)] == [(r.version, r.service) for r in rows]


def test_a_version_row_keeps_its_lineage_and_artifacts(log_path):
    """append_version's lineage and artifacts come back from LogReader.versions as they went in."""
    lineage = {"parents": ["aa11"], "origin": "dream", "teacher": "aa11", "window": [1.0, 2.0],
               "gate": {"agreement": 0.98}, "notes": "distilled"}
    artifacts = {"weights/model.bin": "0" * 64}
    log = EventLog(log_path)
    log.open()
    try:
        log.append_version("tutor", "bb22", "dream", "aa11", None, lineage=lineage, artifacts=artifacts)
        log.append_version("tutor", "cc33", "file", "bb22", None)
    finally:
        log.close()
    rows = read(log_path, "versions", neuro="tutor")
    assert [("bb22", lineage, artifacts), ("cc33", None, None)] == [
        (r["version"], r["lineage"], r["artifacts"]) for r in rows]


def test_last_ids_are_the_newest_committed_message_and_event(log_path):
    """last_ids gives the highest message id and event seq on disk ((0, 0) for an empty log)."""
    log = EventLog(log_path)
    log.open()
    log.close()
    assert (0, 0) == read(log_path, "last_ids")

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Crashy)
            await k.call("crashy", Ping(n=1))

    trio.run(main)
    with neuro.LogReader(log_path) as reader:
        newest = reader.messages(limit=1, newest_first=True)[0].id
        seq = reader.events(limit=1, newest_first=True)[0].seq
        assert (newest, seq) == reader.last_ids()
