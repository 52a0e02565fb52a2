"""One error shape with a relay path: a neuro's error reaches the caller as RemoteError whose
`.cause` is the root error (type, message, traceback, the neuro that raised it) and whose
`.path` lists the neuros the call went through, in-process, across sandbox frames, over the
daemon's socket and in the CLI's ``--json``. An error a handler does not catch crashes its
neuro (OTP); one it catches does not.

Self-contained: a process sandbox receives this one file and imports it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import trio

import neuro
from neuro import sdk

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap is not installed (bash scripts/setup.sh installs it)")
REPO = Path(__file__).resolve().parents[2]
NEURO = REPO / ".venv" / "bin" / "neuro"


class Hop(sdk.Message):
    """Look `key` up at the end of the chain of neuros `to`."""

    key: str
    to: list[str] = []


class Found(sdk.Message):
    value: str


TABLE = {"here": "found"}


class Forward(sdk.Neuro):
    """Passes the lookup on to the next neuro of `to`; catches nothing."""

    name = "forward"
    input = Hop
    output = Found

    async def handle(self, ctx, msg):
        return await ctx.call(msg.to[0], Hop(key=msg.key, to=msg.to[1:]), timeout=30)


class Lookup(sdk.Neuro):
    """The end of the chain: a key that is not in TABLE raises KeyError."""

    name = "lookup"
    input = Hop
    output = Found

    def handle(self, ctx, msg):
        return Found(value=TABLE[msg.key])


class Refuse(sdk.Neuro):
    """Refuses every message on purpose (Reject): no crash of its own."""

    name = "refuse"
    input = Hop
    output = Found

    def handle(self, ctx, msg):
        raise sdk.Reject(f"no lookups of {msg.key!r} here")


class Careful(sdk.Neuro):
    """Calls the next neuro and, when it fails, answers with what the RemoteError said."""

    name = "careful"
    input = Hop
    output = Found

    async def handle(self, ctx, msg):
        try:
            return await ctx.call(msg.to[0], Hop(key=msg.key, to=msg.to[1:]), timeout=30)
        except neuro.RemoteError as e:
            return Found(value=f"{e.cause.type} from {e.cause.neuro} via {'/'.join(e.path)}")


class AskNobody(sdk.Neuro):
    """Calls a neuro that is not running and answers with the type of what it caught."""

    name = "ask-nobody"
    input = Hop
    output = Found

    async def handle(self, ctx, msg):
        try:
            await ctx.call("nobody", msg, timeout=30)
        except neuro.NoSuchNeuro as e:
            return Found(value=type(e).__name__)
        return Found(value="answered")


class BoxedForward(Forward):
    name = "boxed-forward"
    sandbox = "process"


class BoxedLookup(Lookup):
    name = "boxed-lookup"
    sandbox = "process"


class BoxedCareful(Careful):
    name = "boxed-careful"
    sandbox = "process"


class BoxedAskNobody(AskNobody):
    name = "boxed-ask-nobody"
    sandbox = "process"


FORWARD = {"inproc": Forward, "process": BoxedForward}
LOOKUP = {"inproc": Lookup, "process": BoxedLookup}
PLACEMENTS = [pytest.param("inproc", "inproc", id="a-inproc-b-inproc"),
              pytest.param("process", "inproc", id="a-process-b-inproc", marks=needs_bwrap),
              pytest.param("inproc", "process", id="a-inproc-b-process", marks=needs_bwrap),
              pytest.param("process", "process", id="a-process-b-process", marks=needs_bwrap)]


async def failed_call(k, to: str, hop: Hop) -> neuro.RemoteError:
    try:
        await k.call(to, hop, timeout=30)
    except neuro.RemoteError as e:
        return e
    raise AssertionError(f"the call to {to!r} did not fail")


async def restarted(k, name: str) -> int:
    """`name`'s restart count once it is running again after a crash."""
    with trio.fail_after(30):
        while k.info(name).restarts == 0 or k.info(name).state != "running":
            await trio.sleep(0.01)
    return k.info(name).restarts


@pytest.mark.parametrize("a_in, b_in", PLACEMENTS)
def test_a_two_hop_failure_reaches_the_client_with_its_root_cause_and_path(a_in, b_in):
    """client -> a -> b, b raises KeyError: the client's RemoteError names KeyError, b and ['a', 'b']."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(FORWARD[a_in], name="a")
            await k.spawn(LOOKUP[b_in], name="b")
            err = await failed_call(k, "a", Hop(key="gone", to=["b"]))
            return err.cause.type, err.cause.message, err.cause.neuro, err.path

    assert ("KeyError", "'gone'", "b", ["a", "b"]) == trio.run(main)


@pytest.mark.parametrize("a_in, b_in", PLACEMENTS)
def test_the_root_cause_keeps_the_traceback_of_where_it_was_raised(a_in, b_in):
    """The cause's traceback is b's: it shows the line that raised the KeyError."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(FORWARD[a_in], name="a")
            await k.spawn(LOOKUP[b_in], name="b")
            return (await failed_call(k, "a", Hop(key="gone", to=["b"]))).cause.traceback

    traceback = trio.run(main)
    assert (True, True) == ("return Found(value=TABLE[msg.key])" in traceback, "KeyError: 'gone'" in traceback)


def test_the_remote_error_fields_are_the_root_causes():
    """RemoteError's neuro, type and message are its cause's, and its text names the path."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Forward, name="a")
            await k.spawn(Lookup, name="b")
            err = await failed_call(k, "a", Hop(key="gone", to=["b"]))
            return err.neuro, err.type, err.message, str(err)

    assert ("b", "KeyError", "'gone'", "b raised KeyError: 'gone' (call path: a -> b)") == trio.run(main)


@pytest.mark.parametrize("b_in", [pytest.param("inproc", id="b-inproc"),
                                  pytest.param("process", id="b-process", marks=needs_bwrap)])
def test_a_three_hop_failure_keeps_its_relay_path(b_in):
    """client -> a -> b -> c, c raises: the cause is c's KeyError and the path ['a', 'b', 'c']."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Forward, name="a")
            await k.spawn(FORWARD[b_in], name="b")
            await k.spawn(Lookup, name="c")
            err = await failed_call(k, "a", Hop(key="gone", to=["b", "c"]))
            return err.cause.type, err.cause.neuro, err.path

    assert ("KeyError", "c", ["a", "b", "c"]) == trio.run(main)


def test_each_hops_outcome_is_logged_with_the_path_below_it(log_path):
    """The log's error rows: c's message has path ['c'], b's ['b', 'c'], a's ['a', 'b', 'c']."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Forward, name="a")
            await k.spawn(Forward, name="b")
            await k.spawn(Lookup, name="c")
            await failed_call(k, "a", Hop(key="gone", to=["b", "c"]))
            return sorted((m.recipient, m.error["type"], m.error["neuro"], m.error["path"])
                          for m in await k.log.messages())

    assert [("a", "KeyError", "c", ["a", "b", "c"]), ("b", "KeyError", "c", ["b", "c"]),
            ("c", "KeyError", "c", ["c"])] == trio.run(main)


@pytest.mark.parametrize("a_in, b_in", PLACEMENTS)
def test_an_uncaught_relayed_error_crashes_the_caller_which_is_restarted(a_in, b_in):
    """OTP's rule: a did not catch b's error, so a crashed and its supervisor restarted it."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(FORWARD[a_in], name="a")
            await k.spawn(LOOKUP[b_in], name="b")
            await failed_call(k, "a", Hop(key="gone", to=["b"]))
            return await restarted(k, "a")

    assert 1 == trio.run(main)


@pytest.mark.parametrize("a_class", [pytest.param(Careful, id="a-inproc"),
                                     pytest.param(BoxedCareful, id="a-process", marks=needs_bwrap)])
def test_a_caller_that_catches_remote_error_carries_on_without_a_restart(a_class):
    """a catches b's RemoteError, sees its cause and path, answers, and is not restarted."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(a_class, name="a")
            await k.spawn(Lookup, name="b")
            reply = await k.call("a", Hop(key="gone", to=["b"]), timeout=30)
            again = await k.call("a", Hop(key="here", to=["b"]), timeout=30)
            return reply.value, again.value, k.info("a").restarts

    assert ("KeyError from b via b", "found", 0) == trio.run(main)


def test_a_neuros_own_reject_keeps_it_running_but_a_relayed_one_crashes_its_caller():
    """b refuses with Reject and is not restarted; a, which let it through, is."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Forward, name="a")
            await k.spawn(Refuse, name="b")
            err = await failed_call(k, "a", Hop(key="gone", to=["b"]))
            return err.cause.type, err.path, await restarted(k, "a"), k.info("b").restarts

    assert ("Reject", ["a", "b"], 1, 0) == trio.run(main)


@pytest.mark.parametrize("a_class", [pytest.param(AskNobody, id="a-inproc"),
                                     pytest.param(BoxedAskNobody, id="a-process", marks=needs_bwrap)])
def test_a_kernel_refusal_is_neuros_own_exception_in_every_backend(a_class):
    """A ctx call to a neuro that is not running raises NoSuchNeuro, in a sandbox too."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(a_class, name="a")
            return (await k.call("a", Hop(key="any"), timeout=30)).value

    assert "NoSuchNeuro" == trio.run(main)


# -- over the daemon's socket and the CLI ----------------------------------------------------

@pytest.fixture
def daemon():
    """A real daemon in a short, fresh NEURO_HOME; stopped at the end."""
    from neuro.shell import daemon as d

    home = tempfile.mkdtemp(prefix="nr", dir="/tmp")
    st = d.State(home)
    d.start(st)
    try:
        yield st
    finally:
        if d.running_pid(st) is not None:
            d.stop(st, grace=10)
        shutil.rmtree(home, ignore_errors=True)


def neuro_cmd(home, *args):
    env = {**os.environ, "NEURO_HOME": str(home)}
    return subprocess.run([str(NEURO), *args], cwd=REPO, capture_output=True, text=True, timeout=60, env=env)


FORWARD_FILE = """
from neuro import sdk


class Hop(sdk.Message):
    key: str
    to: list[str] = []


class Found(sdk.Message):
    value: str


class Forward(sdk.Neuro):
    name = "forward"
    input = Hop
    output = Found

    async def handle(self, ctx, msg):
        return await ctx.call(msg.to[0], Hop(key=msg.key, to=msg.to[1:]), timeout=30)
"""
LOOKUP_FILE = FORWARD_FILE.split("class Forward")[0] + """
class Lookup(sdk.Neuro):
    name = "lookup"
    input = Hop
    output = Found

    def handle(self, ctx, msg):
        return Found(value={"here": "found"}[msg.key])
"""


@pytest.fixture
def neuro_files(tmp_path):
    """A neuro file each (one neuro per file) for a daemon to load: forward.py, lookup.py."""
    (tmp_path / "forward.py").write_text(FORWARD_FILE)
    (tmp_path / "lookup.py").write_text(LOOKUP_FILE)
    return tmp_path


@needs_bwrap
def test_over_the_daemons_socket_the_client_gets_the_same_cause_and_path(daemon, neuro_files):
    """client -> daemon -> a -> b (untrusted files, so both sandboxed): RemoteError's cause is
    b's KeyError and its path ['a', 'b']."""

    async def main():
        async with neuro.connect(home=str(daemon.home)) as client:
            await client.spawn(str(neuro_files / "forward.py"), name="a")
            await client.spawn(str(neuro_files / "lookup.py"), name="b")
            try:
                await client.call("a", {"key": "gone", "to": ["b"]}, timeout=30)
            except neuro.RemoteError as e:
                return e.cause.type, e.cause.message, e.cause.neuro, e.path, "KeyError: 'gone'" in e.cause.traceback

    assert ("KeyError", "'gone'", "b", ["a", "b"], True) == trio.run(main)


def test_the_clis_json_error_carries_the_cause_in_the_one_shape(daemon, neuro_files):
    """`neuro call a ... --json` exits 3 with {"error": {type, message, hint, exit_code, cause}},
    the cause being the wire's record: type, message, traceback, neuro, path."""
    for file, name in (("forward.py", "a"), ("lookup.py", "b")):
        done = neuro_cmd(daemon.home, "spawn", str(neuro_files / file), "--name", name, "--trusted", "--json")
        assert 0 == done.returncode, done.stderr + done.stdout
    done = neuro_cmd(daemon.home, "call", "a", json.dumps({"key": "gone", "to": ["b"]}), "--json")
    error = json.loads(done.stdout)["error"]
    cause = error["cause"]
    assert (3, ["cause", "exit_code", "hint", "message", "type"], "RemoteError",
            ["message", "neuro", "path", "traceback", "type"], ("KeyError", "'gone'", "b", ["a", "b"])) == (
        done.returncode, sorted(error), error["type"],
        sorted(cause), (cause["type"], cause["message"], cause["neuro"], cause["path"]))
