"""The client API: the same methods, and the same answers, embedded or over the socket,
from trio and from asyncio."""

from __future__ import annotations

import asyncio
import inspect
import shutil
from pathlib import Path

import pytest
import trio

import neuro
from neuro import sdk
from neuro.client import Client, DaemonNotRunning, blocking, connect, run_blocking
from neuro.kernel import Child, SupervisorSpec
from neuro.neuros.echo import Echo, EchoIn, EchoOut

METHODS = ["spawn", "stop", "restart", "ps", "info", "send", "call", "publish", "subscribe", "tail", "messages",
           "events", "trace", "swap", "rollback", "versions", "policies", "reload_policies", "statistics",
           "status", "ping", "shutdown", "hook", "source", "diff", "vacuum", "load", "mailbox_statistics",
           "supervise", "supervisors", "drop_folders"]
# Public methods of Kernel that the client does not offer, each with why it cannot travel.
NOT_ON_THE_CLIENT = {
    "send_nowait": "a `_nowait` method is synchronous and never a checkpoint (trio's rule), and a request to a "
                   "kernel elsewhere is a round trip a client must await; send(timeout=...) bounds the wait for room",
    "publish_nowait": "synchronous by the same rule; publish() never waits for room either (a subscriber "
                      "without room is skipped), so awaiting it loses nothing",
}
# Public methods of `Kernel.log`, and the client method that does the same (None: not offered, why).
LOG_ON_THE_CLIENT = {
    "messages": "messages", "events": "events", "trace": "trace", "vacuum": "vacuum", "follow": "tail",
    "message": None,  # trace(id).message is that row, with what it caused
    "flush": None,  # every log query the daemon answers flushes first
    "committed": None,  # the writer's marks in the kernel's own loop; a client follows commits with tail()
    "wait_committed": None,  # the same
    "outcome_counts": None,  # invariant checks of a log file, which read it with LogReader, daemon or none
    "outcomes_per_message": None,  # the same
}
SLOW_NEURO = Path(__file__).with_name("slow_neuro.py")


def public_methods(cls) -> set[str]:
    return {n for n, v in inspect.getmembers(cls) if not n.startswith("_") and callable(v)}


def test_the_client_has_the_documented_methods():
    """Client has every documented method, each async (or an async context manager)."""
    assert METHODS == [m for m in METHODS if inspect.iscoroutinefunction(getattr(Client, m))
                       or hasattr(getattr(Client, m), "__wrapped__")]


def test_the_client_offers_every_public_kernel_method():
    """Each public method of Kernel is a method of Client, but for the listed few that cannot travel."""
    assert sorted(NOT_ON_THE_CLIENT) == sorted(public_methods(neuro.Kernel) - public_methods(Client))


def test_the_client_offers_the_logs_queries():
    """Each public method of Kernel.log is listed, with the client method that does the same."""
    from neuro.kernel import LogQuery

    offered = {mine for mine in LOG_ON_THE_CLIENT.values() if mine is not None}
    assert (sorted(public_methods(LogQuery)), set()) == (sorted(LOG_ON_THE_CLIENT), offered - public_methods(Client))


async def session(client) -> tuple:
    """The same steps against either kind of kernel."""
    await client.spawn("neuro.neuros.echo:Echo")
    reply = await client.call("echo", EchoIn(text="hi"))
    try:
        await client.call("echo", {"text": 3})
    except neuro.InvalidPayload as e:
        bad = e.path
    try:
        await client.call("nobody", {})
    except neuro.NoSuchNeuro:
        missing = "NoSuchNeuro"
    async with client.subscribe("kernel.events") as events:
        await client.restart("echo")
        async for _, _, event in events:
            if event.name == "neuro.restarted":
                break
    rows = await client.ps()
    logged = await client.messages(neuro="echo")
    trace = await client.trace(logged[0].id)
    return (reply, bad, missing, type(event).__name__, [(r.name, r.restarts) for r in rows],
            [m.outcome for m in logged], trace.message.id == logged[0].id)


EXPECTED = (EchoOut(text="hi"), "$.text", "NoSuchNeuro", "KernelEvent", [("echo", 1)], ["handled"], True)


def test_an_embedded_client_runs_the_session():
    """connect(embedded=True) runs the session in this process."""

    async def main():
        async with connect(embedded=True) as client:
            return await session(client)

    assert EXPECTED == trio.run(main)


def test_the_socket_client_gives_the_same_answers_from_trio(daemon):
    """Against the daemon, from trio, the session gives exactly the embedded answers."""

    async def main():
        async with connect(home=str(daemon.home)) as client:
            return await session(client)

    assert EXPECTED == trio.run(main)


def test_the_socket_client_gives_the_same_answers_from_asyncio(daemon):
    """Against the daemon, from asyncio, the session gives exactly the embedded answers."""

    async def main():
        async with connect(home=str(daemon.home)) as client:
            return await session(client)

    assert EXPECTED == asyncio.run(main())


def test_concurrent_calls_on_one_connection_get_their_own_replies(daemon):
    """Fifty calls in flight at once on one client each get the reply to their own payload."""

    async def main():
        async with connect(home=str(daemon.home)) as client:
            await client.spawn("neuro.neuros.echo:Echo")
            got = {}

            async def one(i):
                got[i] = (await client.call("echo", {"text": str(i)})).text

            async with trio.open_nursery() as nursery:
                for i in range(50):
                    nursery.start_soon(one, i)
            return got

    assert {i: str(i) for i in range(50)} == trio.run(main)


def test_connect_without_a_daemon_raises_daemon_not_running(home):
    """Connecting where no daemon runs raises DaemonNotRunning saying how to start one."""

    async def main():
        async with connect(home=home):
            pass

    with pytest.raises(DaemonNotRunning, match="neuro daemon start"):
        trio.run(main)


def test_a_class_from_a_test_file_travels_as_its_path(daemon):
    """spawn(Slow), a class the daemon cannot import by module, is loaded from its file."""
    from .slow_neuro import Slow

    async def main():
        async with connect(home=str(daemon.home)) as client:
            info = await client.spawn(Slow)
            return info.name, await client.call("slow", {"ms": 1})

    assert ("slow", {"ms": 1}) == trio.run(main)


async def supervision_session(client) -> tuple:
    """The supervision, mailbox, drop-folder and load methods, against either kind of kernel."""
    tree = SupervisorSpec(name="pair", strategy="one_for_all", children=[Child(Echo, name="left"),
                                                                         Child(Echo, name="right")])
    info = await client.supervise(tree)
    await client.supervise({"name": "solo", "children": [{"neuro": "neuro.neuros.echo:Echo", "name": "alone"}]},
                           parent="pair")
    lone = await client.spawn("neuro.neuros.echo:Echo", name="lone", supervisor="pair", restart="temporary")
    tree_now = {s.name: (s.parent, s.children) for s in await client.supervisors()}
    box = await client.mailbox_statistics("left")
    loaded = await client.load(SLOW_NEURO, trusted=True)
    folders = await client.drop_folders(wait_idle=True)
    await client.stop("lone", drain=False)
    return (info.name, info.strategy, info.children, tree_now["pair"], tree_now["solo"], lone.name,
            (box.depth, box.overflow), (loaded.name, loaded.neuro, loaded.path), [f.files for f in folders],
            sorted(p.name for p in await client.ps()))


SUPERVISED = ("pair", "one_for_all", ["left", "right"], ("root", ["left", "right", "solo", "lone"]),
              ("pair", ["alone"]), "lone", (0, "block"), ("slow", "Slow", str(SLOW_NEURO)), [0],
              ["alone", "left", "right"])


def test_an_embedded_client_supervises_loads_and_reads_mailboxes(tmp_path):
    """connect(embedded=True) starts supervisor trees, loads a file, and reports mailboxes and folders."""
    (tmp_path / "drop").mkdir()

    async def main():
        async with connect(embedded=True, neuro_dirs=[str(tmp_path / "drop")]) as client:
            return await supervision_session(client)

    assert SUPERVISED == trio.run(main)


def test_the_socket_client_supervises_loads_and_reads_mailboxes(daemon):
    """Against the daemon (whose drop folder is empty), the same steps give the embedded answers."""

    async def main():
        async with connect(home=str(daemon.home)) as client:
            return await supervision_session(client)

    assert SUPERVISED == trio.run(main)


def test_a_supervisor_spec_of_dicts_that_does_not_fit_names_the_field(daemon):
    """supervise() of a dict whose child names no neuro as a str is a ManifestError naming the path."""

    async def main():
        async with connect(home=str(daemon.home)) as client:
            await client.supervise({"name": "bad", "children": [{"neuro": 5}]})

    with pytest.raises(neuro.ManifestError) as caught:
        trio.run(main)
    assert "supervise: the spec 'bad' does not fit: Expected `str`, got `int` - at `$.children[0].neuro`" == str(
        caught.value)


def test_the_blocking_client_gives_plain_data_for_the_new_requests(daemon):
    """A raw blocking client's supervisors(), mailbox_statistics() and drop_folders() are plain data."""
    client = blocking(home=str(daemon.home), timeout=10)
    run_blocking(client.__aenter__())
    try:
        run_blocking(client.spawn("neuro.neuros.echo:Echo"))
        got = (run_blocking(client.supervisors()), run_blocking(client.mailbox_statistics("echo")),
               run_blocking(client.drop_folders()))
    finally:
        run_blocking(client.__aexit__(None, None, None))
    assert ("root", ["echo"], 0, [str(daemon.neuros)]) == (got[0][0]["name"], got[0][0]["children"], got[1]["depth"],
                                                            [f["folder"] for f in got[2]])


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed: apt-get install bubblewrap")
def test_an_untrusted_load_gives_the_version_a_trusted_load_does(daemon):
    """load() of a file in a sandbox names the same neuro and version as importing it in the daemon."""

    async def main():
        async with connect(home=str(daemon.home)) as client:
            sandboxed = await client.load(SLOW_NEURO)
            trusted = await client.load(SLOW_NEURO, trusted=True)
            return [(x.name, x.neuro, x.version, x.files) for x in (sandboxed, trusted)]

    got = trio.run(main)
    assert got[0] == got[1]


def test_loading_a_missing_file_names_it(daemon, tmp_path):
    """load() of a path with no neuro file raises a NeuroError that names the path."""
    missing = tmp_path / "nowhere.py"

    async def main():
        async with connect(home=str(daemon.home)) as client:
            await client.load(missing, trusted=True)

    with pytest.raises(neuro.NeuroError, match=str(missing)):
        trio.run(main)


class Question(sdk.Message):
    op: str


class Answer(sdk.Message):
    text: str


class Keeper(sdk.Neuro):
    """Asks the kernel it runs in, through ctx.kernel, what the question names."""

    name = "keeper"
    input = Question
    output = Answer
    policy = "keeper"

    async def handle(self, ctx, msg):
        k = ctx.kernel
        try:
            if msg.op == "supervisors":
                return Answer(text=" ".join(s.name for s in await k.supervisors()))
            if msg.op == "mailbox":
                return Answer(text=(await k.mailbox_statistics("keeper")).overflow)
            if msg.op == "folders":
                return Answer(text=str(len(await k.drop_folders())))
            if msg.op == "supervise":
                await k.supervise({"name": "mine", "children": [{"neuro": "neuro.neuros.echo:Echo"}]})
                return Answer(text="supervised")
        except neuro.NeuroError as e:
            return Answer(text=f"{type(e).__name__}: {e}")
        return Answer(text="?")


def test_ctx_kernel_offers_the_new_requests_under_the_operations_they_share():
    """A neuro granted ps and statistics reads supervisors, its mailbox and the drop folders
    through ctx.kernel, and is refused supervise, which is spawning, naming the key."""
    from neuro.kernel import Capabilities, Policy

    keeper = Policy(name="keeper", capabilities=Capabilities(control=("ps", "statistics")))

    async def main():
        async with neuro.Kernel(policies={"keeper": keeper}) as k:
            await k.spawn(Keeper)
            return [(await k.call("keeper", Question(op=op))).text
                    for op in ("supervisors", "mailbox", "folders", "supervise")]

    assert ["root", "block", "0", "PolicyError: keeper may not spawn through ctx.kernel: its policy 'keeper' does "
            "not grant it; grant it in that policy with capabilities.control = [\"spawn\"]"] == trio.run(main)
