"""Live followers of the event log: they wait for the writer's commits, never poll it or make it flush."""

from __future__ import annotations

import sqlite3
import threading

import pytest
import trio
import trio.testing

import neuro
from neuro.kernel._follow import CommitWatch, data_version, follow_file, wait_for_change
from neuro.testing import Echo, Ping, Slow


async def _take(rows, count: int) -> list:
    """The first `count` rows of an async iterator, within a bound that only a hang reaches."""
    got = []
    with trio.fail_after(20):
        async for row in rows:
            got.append(row)
            if len(got) == count:
                break
    return got


def test_a_follower_sees_committed_messages_without_any_flush(log_path):
    """`kernel.log.follow` yields each message once the writer has committed it, and the
    writer was never asked to flush."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            got: list = []
            async with trio.open_nursery() as nursery:
                async def run():
                    got.extend(await _take(k.log.follow(neuro="echo"), 3))

                nursery.start_soon(run)
                ids = [await k.send("echo", Ping(n=i)) for i in range(3)]
            return ids, got, k.statistics().log_forced_flushes

    ids, got, flushes = trio.run(main)
    assert ids == [row.id for row in got]
    assert [{"n": 0}, {"n": 1}, {"n": 2}] == [row.payload for row in got]
    assert 0 == flushes


def test_a_follower_of_events_sees_each_new_event(log_path):
    """With `events`, the follower yields events as they are committed, after `after_seq`."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            start = k.log.committed().event_seq
            got: list = []
            async with trio.open_nursery() as nursery:
                async def run():
                    got.extend(await _take(k.log.follow(events=True, name="neuro.*", after_seq=start), 2))

                nursery.start_soon(run)
                await k.spawn(Echo)
                await k.spawn(Slow)
            return [(e.name, e.neuro) for e in got], k.statistics().log_forced_flushes

    names, flushes = trio.run(main)
    assert ([("neuro.spawned", "echo"), ("neuro.spawned", "slow")], 0) == (names, flushes)


def test_a_follower_with_an_outcome_filter_sees_a_message_once_it_has_it(log_path):
    """Following `outcome="handled"`, a message shows once its outcome is committed, which
    comes in a later commit than the message itself."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Slow)
            async with trio.open_nursery() as nursery:
                got: list = []

                async def run():
                    got.extend(await _take(k.log.follow(neuro="slow", outcome="handled"), 1))

                nursery.start_soon(run)
                mid = await k.send("slow", Ping(n=200))
            return mid, got[0], k.statistics().log_forced_flushes

    mid, row, flushes = trio.run(main)
    assert (mid, "handled", {"n": 200}, 0) == (row.id, row.outcome, row.reply, flushes)


def test_wait_committed_returns_once_a_message_past_the_id_is_on_disk(log_path):
    """`wait_committed(after_id=...)` returns when a newer message is committed, and the row
    is then on disk for any reader."""

    async def main():
        async with neuro.Kernel(log=log_path, flush_interval=0.2) as k:
            await k.spawn(Echo)
            before = k.log.committed()
            mid = await k.send("echo", Ping(n=7))
            with trio.fail_after(20):
                mark = await k.log.wait_committed(after_id=before.message_id)
            on_disk = neuro.LogReader(log_path).message(mid)
            return mid, mark, on_disk, k.statistics().log_forced_flushes

    mid, mark, on_disk, flushes = trio.run(main)
    assert (True, {"n": 7}, 0) == (mark.message_id >= mid, on_disk.payload, flushes)


def test_wait_committed_without_arguments_waits_for_the_next_commit(log_path):
    """With neither id nor seq, it returns at the next commit of anything after the call."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            before = k.log.committed().commits
            async with trio.open_nursery() as nursery:
                marks = []

                async def wait():
                    marks.append(await k.log.wait_committed())

                nursery.start_soon(wait)
                await trio.testing.wait_all_tasks_blocked()
                await k.spawn(Echo)  # an event to commit
            return before, marks[0].commits

    before, after = trio.run(main)
    assert after > before


def test_wait_committed_is_a_checkpoint_even_when_it_need_not_wait(log_path):
    """Already past the marks, `wait_committed` returns at once, and still checkpoints."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            with trio.testing.assert_checkpoints():
                mark = await k.log.wait_committed(after_id=-1)
            return mark

    assert 0 <= trio.run(main).message_id


def test_a_reopened_log_reports_the_rows_already_on_disk(log_path):
    """A kernel on an existing log starts from the highest id and seq the file holds."""

    async def first():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            return await k.send("echo", Ping(n=1))

    async def second():
        async with neuro.Kernel(log=log_path) as k:
            return k.log.committed()

    mid = trio.run(first)
    mark = trio.run(second)
    assert (mid, True) == (mark.message_id, mark.event_seq > 0)


def test_many_commits_make_at_most_one_pending_wakeup():
    """A hundred commits announced while the loop is busy elsewhere wake it once, with all of them."""

    async def main():
        watch = CommitWatch(trio.lowlevel.current_trio_token())
        # The loop runs nothing while the thread announces: the first note schedules the
        # wakeup, the other 99 find it pending.
        done = threading.Event()

        def announce():
            for i in range(1, 101):
                watch.note(i, 2 * i)
            done.set()

        thread = threading.Thread(target=announce)
        thread.start()
        done.wait()  # blocks the loop: no wakeup can run before all notes are in
        thread.join()
        await trio.testing.wait_all_tasks_blocked()
        return watch.notes, watch.wakeups, watch.current

    notes, wakeups, current = trio.run(main)
    assert (100, 1, 100, 200, 100) == (notes, wakeups, current.message_id, current.event_seq, current.commits)


def test_followers_still_waiting_when_the_kernel_stops_get_kernel_closed(log_path):
    """A follower waiting for rows that will never come ends with KernelClosed at shutdown."""
    errors = []

    async def main():
        async with trio.open_nursery() as nursery:
            async with neuro.Kernel(log=log_path) as k:
                async def wait():
                    try:
                        await k.log.wait_committed(after_id=2**62)
                    except neuro.KernelClosed as e:
                        errors.append(str(e))

                nursery.start_soon(wait)
                await trio.testing.wait_all_tasks_blocked()

    trio.run(main)
    assert ["the kernel stopped; its event log is closed"] == errors


def test_a_follower_gets_log_error_when_the_writer_fails(log_path, monkeypatch):
    """If the log's writer stops on an error, waiting followers hear of it instead of waiting for ever."""
    from neuro.kernel._eventlog import EventLog

    def disk_full(self, conn, flush):
        raise sqlite3.OperationalError("database or disk is full")

    errors = []

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            monkeypatch.setattr(EventLog, "_write_pass", disk_full)
            try:
                with trio.fail_after(20):
                    await k.log.wait_committed(after_id=2**62)
            except neuro.LogError as e:
                errors.append(str(e))

    with pytest.raises(neuro.LogError, match="disk is full"):  # closing says so too
        trio.run(main)
    assert 1 == len(errors) and "disk is full" in errors[0]


def test_without_a_log_following_says_what_to_do():
    """A kernel without an event log has nothing to follow: the error says how to give it one."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NeuroError, match=r"start it with Kernel\(log='run.db'\)"):
                await k.log.wait_committed()

    trio.run(main)


# -- a follower on the file, without a kernel of its own -------------------------------------------


def test_wait_for_change_returns_when_another_connection_commits(tmp_path):
    """`PRAGMA data_version` moves when another connection commits, and only then."""
    path = str(tmp_path / "v.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x)")
    reader = sqlite3.connect(path, isolation_level=None)

    async def main():
        version = data_version(reader)
        unchanged = data_version(reader)
        async with trio.open_nursery() as nursery:
            seen = []

            async def wait():
                seen.append(await wait_for_change(reader, version, interval=0.001))

            nursery.start_soon(wait)
            await trio.sleep(0.01)
            waiting = not seen
            writer.execute("INSERT INTO t VALUES (1)")
        return version, unchanged, waiting, seen[0]

    version, unchanged, waiting, new = trio.run(main)
    assert (version, True, True) == (unchanged, waiting, new != version)


def test_follow_file_yields_rows_a_kernel_commits(log_path):
    """`follow_file` on a LogReader sees the messages a running kernel commits to the file."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            reader = neuro.LogReader(log_path)
            got: list = []
            async with trio.open_nursery() as nursery:
                async def run():
                    got.extend(await _take(follow_file(reader, neuro="echo", interval=0.005), 2))

                nursery.start_soon(run)
                ids = [await k.send("echo", Ping(n=i)) for i in range(2)]
            reader.close()
            return ids, [r.id for r in got], k.statistics().log_forced_flushes

    ids, got, flushes = trio.run(main)
    assert (ids, 0) == (got, flushes)
