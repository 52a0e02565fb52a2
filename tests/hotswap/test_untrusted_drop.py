"""Untrusted files: imported only in a sandbox, run only in a sandbox, never in the kernel.

Each attack is a file an untrusted folder (or `Kernel.load`) receives; the proof that its
code did not run in the kernel is a marker it writes at import time, which must carry a pid
that is not the kernel's and must not land in the host's /tmp (the sandbox's /tmp is its own).
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap

import pytest
import trio

import neuro
from neuro.kernel._dropfolder import DropFolder
from neuro._neurofile import NeuroFileError

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")

HEADER = '''
import os
from neuro import sdk

class Ping(sdk.Message):
    text: str

class Pong(sdk.Message):
    text: str
    pid: int = 0
'''

ECHO = HEADER + '''
class Echo(sdk.Neuro):
    name = "echo"
    input = Ping
    output = Pong
    {extra}
    def handle(self, ctx, msg):
        return Pong(text="{tag}:" + msg.text, pid=os.getpid())
'''


def echo(tag="v1", extra="", top=""):
    return textwrap.dedent(top) + ECHO.format(tag=tag, extra=extra)


def marker_code(marker):
    return f'import os\nopen({str(marker)!r}, "w").write(str(os.getpid()))\n'


async def start(k, nursery, path, **kw):
    drop = DropFolder(k, path, **kw)
    await nursery.start(drop.run)
    await drop.wait_idle()
    return drop


async def drop_file(drop, name, text):
    path = os.path.join(drop.path, name)
    with open(path, "w") as f:
        f.write(text)
    await drop.wait_idle()
    return path


async def errors(k):
    return [e.data["error"] for e in await k.log.events(name="drop.error")]


def run_with_drop(tmp_path, body, **kw):
    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop", **kw)
            await body(k, drop)
            n.cancel_scope.cancel()

    trio.run(main)


def test_an_untrusted_drop_spawns_in_a_sandbox_and_answers(tmp_path):
    """A file in an untrusted folder serves from a process sandbox under the untrusted policy;
    what its top level wrote to /tmp went to the sandbox's own /tmp, not the host's."""
    marker = f"/tmp/neuro-test-marker-{os.getpid()}-{tmp_path.name}"

    async def body(k, drop):
        await drop_file(drop, "echo.py", echo(top=marker_code(marker)))
        reply = await k.call("echo", {"text": "hi"}, timeout=10)
        assert ("v1:hi", "process", "untrusted") == (reply.text, k.info("echo").sandbox, k.info("echo").policy)
        assert reply.pid != os.getpid()
        assert not os.path.exists(marker)

    run_with_drop(tmp_path, body)


def test_top_level_code_never_runs_in_the_kernel(tmp_path):
    """Module code, a class body, a metaclass, __init_subclass__ and a module __getattr__ all run in the sandbox only."""
    seen = []
    top = '''
        import os, sys
        RAN = []
        def __getattr__(name):
            RAN.append("getattr")
            raise AttributeError(name)
        class Meta(type):
            def __new__(mcls, *a, **kw):
                RAN.append("meta")
                return super().__new__(mcls, *a, **kw)
        class Base(metaclass=Meta):
            def __init_subclass__(cls, **kw):
                RAN.append("init_subclass")
        class Sub(Base):
            RAN.append("class body")
        os.environ["NEURO_TEST_RAN_HERE"] = str(os.getpid())
    '''

    async def body(k, drop):
        os.environ.pop("NEURO_TEST_RAN_HERE", None)
        await drop_file(drop, "toplevel_probe.py", echo(top=top))
        seen.append(await k.call("echo", {"text": "x"}, timeout=10))
        assert "NEURO_TEST_RAN_HERE" not in os.environ
        assert not [m for m in sys.modules if m.startswith("neuro_drop.toplevel_probe")]

    run_with_drop(tmp_path, body)
    assert "v1:x" == seen[0].text


def test_an_import_that_loops_costs_only_its_sandbox(tmp_path):
    """`while True: pass` at import time is killed at the loader's wall time; the kernel keeps serving."""

    async def body(k, drop):
        await drop_file(drop, "good.py", echo())
        await drop_file(drop, "spin.py", echo(top="while True:\n    pass\n").replace('"echo"', '"spin"'))
        assert "v1:still" == (await k.call("echo", {"text": "still"}, timeout=10)).text
        assert any("longer than" in e and "wall time" in e for e in await errors(k))

    run_with_drop(tmp_path, body)


def test_an_import_that_exits_costs_only_its_sandbox(tmp_path):
    """`os._exit(0)` at import time ends the loader, not the kernel; the error says so."""

    async def body(k, drop):
        await drop_file(drop, "bye.py", echo(top="import os\nos._exit(0)\n"))
        assert any("ended its sandbox" in e for e in await errors(k))
        await drop_file(drop, "good.py", echo())
        assert "v1:alive" == (await k.call("echo", {"text": "alive"}, timeout=10)).text

    run_with_drop(tmp_path, body)


def test_a_file_that_declares_trusted_is_refused_with_the_fix(tmp_path):
    """An untrusted file asking for the trusted policy (or the inproc sandbox) is refused; the error says how to trust the folder."""

    async def body(k, drop):
        await drop_file(drop, "a.py", echo(extra='policy = "trusted"'))
        await drop_file(drop, "b.py", echo(extra='sandbox = "inproc"').replace('"echo"', '"echo-b"'))
        errs = await errors(k)
        assert 2 == len(errs)
        assert "declares policy = 'trusted'" in errs[0] and "trusted_dirs" in errs[0]
        assert "sandbox = 'inproc'" in errs[1]
        assert [] == [p.name for p in k.ps()]

    run_with_drop(tmp_path, body)


def test_overrides_that_loosen_the_policy_are_refused(tmp_path):
    """policy_overrides may tighten an untrusted neuro's policy, never grant it more."""

    async def body(k, drop):
        await drop_file(drop, "net.py", echo(extra='policy_overrides = {"capabilities": {"network": True}}'))
        await drop_file(drop, "tight.py", echo(extra='policy_overrides = {"wall_time": 2.0}').replace('"echo"', '"t"'))
        errs = await errors(k)
        assert 1 == len(errs) and "capabilities.network" in errs[0]
        assert ["t"] == [p.name for p in k.ps()]

    run_with_drop(tmp_path, body)


def test_a_trusted_folder_still_loads_in_process(tmp_path):
    """A trusted folder imports its files in the kernel and runs them in-process, as before."""

    async def body(k, drop):
        await drop_file(drop, "echo.py", echo())
        reply = await k.call("echo", {"text": "t"}, timeout=10)
        assert (os.getpid(), "inproc") == (reply.pid, k.info("echo").sandbox)

    run_with_drop(tmp_path, body, trusted=True)


def test_an_untrusted_file_swaps_and_rolls_back_in_its_sandbox(tmp_path):
    """A changed untrusted file swaps in (state moves through the sandbox's hooks); rollback describes it again."""
    stateful = '''
    def __init__(self):
        self.n = 0
    def snapshot(self):
        return {"n": self.n}
    def restore(self, state):
        self.n = state["n"]
    '''

    async def body(k, drop):
        path = await drop_file(drop, "echo.py", echo("v1", extra=stateful))
        first = k.info("echo").version
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(echo("v2", extra=stateful))
        os.replace(tmp, path)
        await drop.wait_idle()
        assert "v2:a" == (await k.call("echo", {"text": "a"}, timeout=10)).text
        report = await k.rollback("echo")
        assert (True, first) == (report.ok, k.info("echo").version)
        assert "v1:b" == (await k.call("echo", {"text": "b"}, timeout=10)).text
        assert "process" == k.info("echo").sandbox

    run_with_drop(tmp_path, body)


def test_kernel_load_refuses_a_type_that_cannot_cross(tmp_path):
    """A message type that cannot be described as data is a clear NeuroFileError, not a crash."""
    path = tmp_path / "odd.py"
    path.write_text(textwrap.dedent('''
        from neuro import sdk
        class Odd:
            pass
        class In(sdk.Message):
            x: "Odd"
        class N(sdk.Neuro):
            name = "odd"
            input = In
            def handle(self, ctx, msg):
                return None
    '''))

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(NeuroFileError) as info:
                await k.load(path)
            assert "odd.py" in str(info.value)

    trio.run(main)


def test_payloads_are_checked_in_the_kernel_with_field_paths(tmp_path):
    """The rebuilt input type refuses a bad payload at the boundary, naming the field, as a loaded class would."""
    path = tmp_path / "echo.py"
    path.write_text(echo())

    async def main():
        async with neuro.Kernel() as k:
            loaded = await k.load(path)
            await k.spawn(loaded.cls, source=loaded.files)
            with pytest.raises(neuro.InvalidPayload) as info:
                await k.call("echo", {"text": 5}, timeout=10)
            assert "$.text" in str(info.value)

    trio.run(main)
