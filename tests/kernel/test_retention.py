"""Retention: what the log keeps (days, bytes, everything), and pruning that removes only what it should."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neuro
from neuro import sdk
from neuro.kernel._retention import (ARTIFACT_GRACE, DAY, Pruner, Retention, logical_size, parse_retention,
                                     prune_file)
from neuro.testing import Echo, Ping, Slow




# -- the policy --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, policy", [
    ("all", Retention()),
    ("30d", Retention(days=30.0)),
    ("12h", Retention(days=0.5)),
    ("2w", Retention(days=14.0)),
    ("0d", Retention(days=0.0)),
    ("10GB", Retention(max_bytes=10 * 10**9)),
    ("500MB", Retention(max_bytes=500 * 10**6)),
    ("2GiB", Retention(max_bytes=2 << 30)),
    (" 30d, 10GB ", Retention(days=30.0, max_bytes=10 * 10**9)),
    ("1.5d", Retention(days=1.5)),
])
def test_a_retention_string_reads_as_its_policy(text, policy):
    """Ages (h, d, w), sizes (B, KB ... TB, KiB ... TiB), both, or `all`."""
    assert policy == parse_retention(text)


@pytest.mark.parametrize("text", ["all", "30d", "10GB", "30d,10GB", "2GiB", "1.5d", "123B"])
def test_a_policy_prints_as_the_string_it_reads_from(text):
    """`str(policy)` is what `--keep` takes, and reads back as the same policy."""
    assert (text, parse_retention(text)) == (str(parse_retention(text)), parse_retention(str(parse_retention(text))))


FORMS = ("an age ('30d', '12h', '2w'), a size ('10GB', '500MB', '2GiB'), both ('30d,10GB'), "
         "or 'all' to keep everything")


@pytest.mark.parametrize("text, message", [
    ("30x", f"log_retention: cannot read '30x'; give {FORMS}"),
    ("", f"log_retention: cannot read ''; give {FORMS}"),
    ("-1d", f"log_retention: cannot read '-1d'; give {FORMS}"),
    ("d", f"log_retention: cannot read 'd'; give {FORMS}"),
    ("30d,2w", "log_retention: '30d,2w' gives two ages; give one age and at most one size"),
    ("1GB,2GB", "log_retention: '1GB,2GB' gives two sizes; give one size and at most one age"),
])
def test_a_bad_retention_names_the_value_and_the_accepted_forms(text, message):
    """An unreadable policy is a ValueError naming the setting, the value and the forms it takes."""
    with pytest.raises(ValueError) as caught:
        parse_retention(text)
    assert message == str(caught.value)


def test_a_retention_of_another_type_is_a_type_error():
    """A number is not a policy: the error says which forms are."""
    with pytest.raises(TypeError, match=r"log_retention must be a Retention or a string: an age"):
        parse_retention(30)


def test_a_retention_struct_checks_its_fields():
    """Negative days or bytes are refused when the Struct is made, naming the field."""
    with pytest.raises(ValueError, match=r"Retention.days must be a finite number of days >= 0"):
        Retention(days=-1.0)
    with pytest.raises(ValueError, match=r"Retention.max_bytes must be a whole number of bytes >= 0"):
        Retention(max_bytes=-5)


def test_the_kernel_refuses_a_bad_log_retention(log_path):
    """`Kernel(log_retention="30x")` fails at once, naming the argument."""
    with pytest.raises(ValueError, match=r"^log_retention: cannot read '30x'"):
        neuro.Kernel(log=log_path, log_retention="30x")


def test_retention_without_a_log_says_what_to_give():
    """A policy for a kernel that keeps no log is an error saying to give it one."""
    with pytest.raises(ValueError, match=r"log_retention='30d' needs an event log: give Kernel\(log='run.db'"):
        neuro.Kernel(log_retention="30d")


# -- helpers ----------------------------------------------------------------------------------


def _rows(path) -> dict:
    """What the log holds: message ids, outcome ids, event seqs; and how many orphans."""
    conn = sqlite3.connect(str(path))
    try:
        return {
            "messages": [r[0] for r in conn.execute("SELECT id FROM messages ORDER BY id")],
            "outcomes": [r[0] for r in conn.execute("SELECT id FROM outcomes ORDER BY id")],
            "events": [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY seq")],
            "event_times": [r[0] for r in conn.execute("SELECT time FROM events ORDER BY seq")],
            "unfinished": [r[0] for r in conn.execute(
                "SELECT m.id FROM messages m LEFT JOIN outcomes o ON o.id = m.id WHERE o.id IS NULL ORDER BY m.id")],
            "orphan_outcomes": conn.execute(
                "SELECT COUNT(*) FROM outcomes o LEFT JOIN messages m ON m.id = o.id WHERE m.id IS NULL").fetchone()[0],
        }
    finally:
        conn.close()


def _two_batches(path, count: int = 20) -> tuple[list[int], float, list[int]]:
    """A log with `count` handled calls, a moment, then `count` more; returns both batches'
    ids and a time between them."""

    async def main():
        async with neuro.Kernel(log=path) as k:
            await k.spawn(Echo)
            first = [await k.send("echo", Ping(n=i)) for i in range(count)]
            await k.log.flush()
            await trio.sleep(0.02)
            middle = time.time()
            await trio.sleep(0.02)
            second = [await k.send("echo", Ping(n=i)) for i in range(count)]
            return first, middle, second

    return trio.run(main)


# -- what pruning removes ---------------------------------------------------------------------------


def test_by_default_the_log_keeps_everything(log_path):
    """Without a policy nothing is pruned, by hand or in the background: the report says `all`."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            await k.call("echo", Ping(n=1))
            return await k.log.vacuum()

    report = trio.run(main)
    assert ("all", 0, 0, 0) == (report.keep, report.messages, report.events, report.steps)
    assert 1 == len(_rows(log_path)["messages"])


def test_by_age_older_messages_go_with_their_outcomes_and_so_do_older_events(log_path):
    """A cut-off between two batches removes the first batch (messages and outcomes) and the
    events before it, and nothing after it."""
    first, middle, second = _two_batches(log_path)
    before = _rows(log_path)
    pruner = Pruner(str(log_path), Retention(days=1.0), now=middle + DAY)
    report = pruner.run()
    pruner.close()
    after = _rows(log_path)
    old_events = sum(t < middle for t in before["event_times"])
    assert (second, second, 0) == (after["messages"], after["outcomes"], after["orphan_outcomes"])
    assert (len(first), old_events, middle) == (report.messages, report.events, report.cutoff)
    assert [s for s, t in zip(before["events"], before["event_times"]) if t >= middle] == after["events"]


def test_a_message_without_an_outcome_is_never_pruned(log_path):
    """Durable messages still waiting for their neuro stay, whatever the policy; handled ones go."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            await k.spawn(Slow)
            waiting = [await k.send("slow", Ping(n=60_000), durable=True) for _ in range(3)]
            handled = [await k.send("echo", Ping(n=i)) for i in range(5)]
            while k.info("echo").handled < 5:
                await trio.sleep(0.005)
            await k.log.flush()
            by_age = await k.log.vacuum(keep="0d")
            by_size = await k.log.vacuum(keep="0B")
            rows = _rows(log_path)
            await k.shutdown(drain=False)
            return waiting, handled, by_age, by_size, rows

    waiting, handled, by_age, by_size, rows = trio.run(main)
    assert (waiting, waiting) == (rows["messages"], rows["unfinished"])
    assert (5, 3) == (by_age.messages, by_age.kept_unfinished)
    assert (0, True) == (by_size.messages, by_size.over_limit)


def test_by_size_the_oldest_go_until_the_log_is_under_the_limit(log_path):
    """A size limit removes messages oldest first until the pages in use fit under it; what
    stays is the newest messages, each with its outcome."""
    from neuro.neuros.echo import Echo as TextEcho

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(TextEcho)
            return [await k.send("echo", {"text": "x" * 2000}) for _ in range(400)]

    ids = trio.run(main)
    conn = sqlite3.connect(str(log_path))
    size = logical_size(conn)
    conn.close()
    limit = size // 2
    report = prune_file(str(log_path), Retention(max_bytes=limit))
    after = _rows(log_path)
    assert (True, True, False) == (report.bytes_after <= limit, 0 < report.messages < len(ids), report.over_limit)
    assert (ids[-len(after["messages"]):], after["messages"], 0) == (after["messages"], after["outcomes"],
                                                                      after["orphan_outcomes"])
    assert len(ids) - report.messages == len(after["messages"])


def test_a_dry_run_removes_nothing_and_counts_what_would_go(log_path):
    """`dry_run` leaves every row where it was and counts what the real pass then removes."""
    first, middle, second = _two_batches(log_path)
    before = _rows(log_path)
    dry = Pruner(str(log_path), Retention(days=1.0), now=middle + DAY, dry_run=True)
    would = dry.run()
    dry.close()
    unchanged = _rows(log_path)
    real = Pruner(str(log_path), Retention(days=1.0), now=middle + DAY)
    did = real.run()
    real.close()
    assert before == unchanged
    assert (True, (did.messages, did.events)) == (would.dry_run, (would.messages, would.events))


def test_what_was_pruned_is_a_log_pruned_event(log_path):
    """A pass that removed rows says so in the log: counts, the policy and the cut-off."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            for i in range(4):
                await k.call("echo", Ping(n=i))
            await k.log.flush()
            report = await k.log.vacuum(keep="0d", actor="tester")
            await k.log.flush()
            events = await k.log.events(name="log.pruned")
            return report, events

    report, events = trio.run(main)
    [event] = events
    assert ("tester", 4, report.events, "0d", report.cutoff) == (
        event.actor, event.data["messages"], event.data["events"], event.data["keep"], event.data["cutoff"])


def test_pruning_a_file_without_a_kernel_records_its_event_too(log_path):
    """`prune_file` (the CLI's way without a daemon) leaves a `log.pruned` event by `cli`."""
    _two_batches(log_path, count=3)
    report = prune_file(str(log_path), Retention(days=0.0))
    events = neuro.LogReader(log_path).events(name="log.pruned")
    assert [("cli", 6, "0d")] == [(e.actor, e.data["messages"], e.data["keep"]) for e in events]
    assert 6 == report.messages


def test_compact_rewrites_the_file_smaller(log_path):
    """With `compact`, VACUUM gives the freed pages back: the file shrinks."""
    from neuro.neuros.echo import Echo as TextEcho

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(TextEcho)
            for _ in range(200):
                await k.send("echo", {"text": "y" * 4000})

    trio.run(main)
    conn = sqlite3.connect(str(log_path))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = os.path.getsize(log_path)
    report = prune_file(str(log_path), Retention(days=0.0), compact=True)
    assert (True, True) == (report.compacted, report.file_bytes < before / 4)


def test_artifacts_no_version_uses_go_and_the_ones_a_version_uses_stay(log_path):
    """Of two old artifacts, the one a version references stays; a new unreferenced one stays
    too (it may belong to a version not yet recorded)."""
    from neuro.kernel._artifacts import ArtifactStore

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)

    trio.run(main)
    store = ArtifactStore(str(log_path))
    used, unused, fresh = (store.put_bytes(data).hash for data in (b"weights" * 100, b"stale" * 100, b"new" * 100))
    store.close()
    conn = sqlite3.connect(str(log_path))
    with conn:
        old = time.time() - 2 * ARTIFACT_GRACE
        conn.execute("UPDATE artifacts SET time = ? WHERE hash IN (?, ?)", (old, used, unused))
        conn.execute("INSERT INTO versions (neuro, version, time, origin, parent, source, lineage, artifacts) "
                     "VALUES ('echo', 'v-test', ?, 'file', NULL, NULL, NULL, ?)",
                     (time.time(), f'{{"weights.bin": "{used}"}}'))
    conn.close()
    report = prune_file(str(log_path), Retention(days=0.0))
    left = {r[0] for r in sqlite3.connect(str(log_path)).execute("SELECT hash FROM artifacts")}
    assert (1, {used, fresh}) == (report.artifacts, left)


def test_the_kernel_prunes_in_the_background(log_path):
    """With a policy, the kernel prunes by itself: a `log.pruned` event comes, and afterwards
    every message left has exactly one outcome."""

    async def main():
        async with neuro.Kernel(log=log_path, log_retention=Retention(days=0.0, every=0.01)) as k:
            await k.spawn(Echo)
            for i in range(30):
                await k.call("echo", Ping(n=i))
            with trio.fail_after(20):
                async for event in k.log.follow(events=True, name="log.pruned"):
                    return event

    event = trio.run(main)
    rows = _rows(log_path)
    assert ("retention", True) == (event.actor, event.data["messages"] > 0)
    assert (rows["messages"], 0) == (rows["outcomes"], rows["orphan_outcomes"])


# -- durable messages survive pruning, even across a crash ----------------------------------------

CRASH = textwrap.dedent("""
    import sys, trio, neuro
    from neuro.testing import Echo, Slow, Ping

    async def main(path, mode):
        async with neuro.Kernel(log=path) as k:
            await k.spawn(Echo)
            await k.spawn(Slow)
            if mode == "load":
                for i in range(20):
                    await k.call("echo", Ping(n=i))
                await k.send("slow", Ping(n=600_000))  # keeps slow busy: the rest wait in its mailbox
                ids = [await k.send("slow", Ping(n=i), durable=True) for i in range(10)]
                await k.log.flush()
                report = await k.log.vacuum(keep="0d")
                print(" ".join(map(str, ids)), report.messages, report.kept_unfinished, flush=True)
                await trio.sleep(60)
            else:
                while k.info("slow").handled < 10:
                    await trio.sleep(0.01)

    trio.run(main, sys.argv[1], sys.argv[2])
""")


def test_after_a_crash_the_durable_messages_pruning_kept_are_delivered(tmp_path):
    """Prune everything prunable while durable messages wait, kill the kernel, start it again:
    every acknowledged durable message is delivered and handled."""
    path = tmp_path / "crash.db"
    script = tmp_path / "kernel.py"
    script.write_text(CRASH)
    child = subprocess.Popen([sys.executable, str(script), str(path), "load"], stdout=subprocess.PIPE, text=True)
    line = child.stdout.readline().split()
    child.send_signal(signal.SIGKILL)
    child.wait()
    ids, pruned, kept = [int(x) for x in line[:-2]], int(line[-2]), int(line[-1])
    subprocess.run([sys.executable, str(script), str(path), "again"], check=True, timeout=120)
    reader = neuro.LogReader(path)
    outcomes = [reader.message(i).outcome for i in ids]
    assert (20, 11) == (pruned, kept)  # the 20 calls went; the busy message and the 10 durable ones stayed
    assert ["handled"] * 10 == outcomes


# -- Hypothesis: pruning and writing at once -------------------------------------------------------


class Gate(sdk.Neuro):
    """Handles a message only when the test lets it through; records what it handled."""

    name = "gate"
    input = Ping
    output = None
    tokens: trio.Semaphore | None = None
    seen: list[int] = []

    async def handle(self, ctx, msg):
        await type(self).tokens.acquire()
        type(self).seen.append(msg.n)


KEEPS = ["0d", "0B", "2KB", "100KB", "30d"]
OPS = st.lists(st.one_of(
    st.tuples(st.just("durable"), st.integers(1, 4)),
    st.tuples(st.just("send"), st.integers(1, 6)),
    st.tuples(st.just("call"), st.integers(1, 4)),
    st.tuples(st.just("release"), st.integers(1, 4)),
    st.tuples(st.just("vacuum"), st.sampled_from(KEEPS)),
    st.tuples(st.just("pause"), st.just(0)),
), min_size=1, max_size=14)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, background=st.sampled_from([Retention(days=0.0, every=0.002), Retention(max_bytes=0, every=0.002),
                                            Retention(max_bytes=4096, every=0.002)]))
def test_pruning_while_writing_never_loses_an_acknowledged_durable_message(ops, background):
    """Durable sends, plain sends and calls, releases of a gated neuro and passes by hand, all
    while the background retention runs with tiny limits: every acknowledged durable message
    is on disk until handled, and handled exactly once; at the end every message left has
    exactly one outcome, no outcome lacks its message, and what went is what the events say."""
    folder = tempfile.mkdtemp(prefix="retention-")
    path = os.path.join(folder, "run.db")

    async def main():
        Gate.tokens, Gate.seen = trio.Semaphore(0), []
        acked: list[tuple[int, int]] = []  # (message id, n)
        pruned: list[int] = []
        async with neuro.Kernel(log=path, log_retention=background, flush_interval=0.002) as k:
            async with k.subscribe("kernel.events", buffer=math.inf) as events:
                await k.spawn(Gate)
                await k.spawn(Echo)
                n = 0
                for op, arg in ops:
                    if op == "durable":
                        for _ in range(arg):
                            acked.append((await k.send("gate", Ping(n=n), durable=True), n))
                            n += 1
                    elif op == "send":
                        for i in range(arg):
                            await k.send("echo", Ping(n=i))
                    elif op == "call":
                        for i in range(arg):
                            await k.call("echo", Ping(n=i))
                    elif op == "release":
                        for _ in range(arg):
                            Gate.tokens.release()
                    elif op == "vacuum":
                        await k.log.vacuum(keep=arg)
                    else:
                        await trio.sleep(0.05)  # the writer commits and the background prunes meanwhile
                    # Every acknowledged durable message not yet handled is on disk, unfinished.
                    on_disk = set(_rows(path)["unfinished"])
                    handled = set(Gate.seen)
                    assert [] == [(mid, v) for mid, v in acked if v not in handled and mid not in on_disk]
                for _ in range(len(acked)):
                    Gate.tokens.release()
                with trio.fail_after(30):
                    while len(Gate.seen) < len(acked):
                        await trio.sleep(0.002)
                await k.shutdown()
                accepted = k.statistics().accepted
                while True:
                    try:
                        _, _, event = events.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):  # the kernel ends its subscriptions
                        break
                    if event.name == "log.pruned":
                        pruned.append(event.data["messages"])
        return acked, accepted, sum(pruned)

    try:
        acked, accepted, pruned = trio.run(main)
        rows = _rows(path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        os.rmdir(folder)
    assert sorted(v for _, v in acked) == sorted(Gate.seen)
    assert (rows["messages"], 0, []) == (rows["outcomes"], rows["orphan_outcomes"], rows["unfinished"])
    assert accepted == len(rows["messages"]) + pruned
