"""The lean path of `neuro ps`: the same output as the full CLI, without trio, the kernel
or the client API."""

from __future__ import annotations

import json
import subprocess

import pytest

from neuro.shell import _lean
from neuro import _control as c
from neuro.client import blocking, run_blocking

from .conftest import PYTHON, neuro_cmd


def test_the_lean_path_sends_frames_the_protocol_decodes():
    """The Hello and Ps the lean path sends decode, with the protocol's own decoder, as its Structs."""
    hello = _lean.hello()
    got = c.FrameDecoder(c.ClientFrame).feed(_lean.framed(hello) + _lean.framed(_lean.PS))
    assert [c.Hello(protocol=c.PROTOCOL, client=hello["client"]), c.Ps(id=1)] == got


def test_the_lean_path_reads_the_tags_of_the_protocols_replies():
    """The frame tags the lean path reads are those of the protocol's Welcome and Reply."""
    assert (c.Welcome.__struct_config__.tag, c.Reply.__struct_config__.tag) == (_lean.WELCOME, _lean.REPLY)


def test_the_lean_path_decodes_what_the_daemon_encodes():
    """A Welcome and a Reply as the daemon encodes them are the maps the lean path expects."""
    from neuro.shell._minipack import decode

    frames = [c.Welcome(protocol=c.PROTOCOL, server="neuro daemon", pid=7), c.Reply(id=1, value=[{"name": "e"}])]
    got = [decode(c.encode(f)[4:]) for f in frames]
    assert [{"frame": "welcome", "protocol": c.PROTOCOL, "server": "neuro daemon", "pid": 7},
            {"frame": "reply", "id": 1, "value": [{"name": "e"}], "type": ""}] == got


def test_lean_ps_prints_what_the_client_api_returns(daemon):
    """`neuro ps --json` (lean) lists the same processes as the blocking client's ps()."""
    client = blocking(str(daemon.socket), timeout=10)
    run_blocking(client.__aenter__())
    run_blocking(client.spawn("neuro.neuros.echo:Echo"))
    expected = run_blocking(client.ps())
    run_blocking(client.__aexit__(None, None, None))
    done = neuro_cmd("ps", "--json", "--home", daemon.home)
    assert (0, [p["name"] for p in expected]) == (done.returncode, [p["name"] for p in json.loads(done.stdout)])


@pytest.mark.parametrize("argv", [
    ["ps", "--home", "{home}"],
    ["--json", "--home", "{home}", "ps"],
    ["--home={home}", "-q", "ps", "--wide", "--color", "never"],
    ["ps", "--csv", "--no-trunc", "--home", "{home}"],
])
def test_lean_ps_imports_neither_trio_nor_the_kernel_nor_msgspec(daemon, argv):
    """`neuro ps`, with output options before or after it, run as the console script runs it,
    loads no trio, no kernel, no sdk, no client API, no msgspec (24 ms to import), no
    argparse and not the full CLI."""
    argv = ["neuro", *(a.format(home=daemon.home) for a in argv)]
    code = ("import sys, io, contextlib\n"
            f"sys.argv = {argv!r}\n"
            "from neuro.shell._lean import entry\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    code = entry()\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('trio', 'sniffio', 'msgspec', 'argparse')\n"
            "             or m in ('neuro.kernel', 'neuro.sdk', 'neuro.client', 'neuro._control',\n"
            "                      'neuro.shell.cli'))\n"
            "print(code, bad)\n")
    done = subprocess.run([str(PYTHON), "-c", code], capture_output=True, text=True, timeout=60)
    assert "0 []" == done.stdout.strip(), done.stderr


def test_the_console_script_is_the_lean_entry():
    """The installed `neuro` command starts at the lean entry, which hands over to the full CLI."""
    script = (PYTHON.parent / "neuro").read_text()
    assert "from neuro.shell._lean import entry" in script


def test_lean_ps_takes_the_output_options_as_the_full_command_does(daemon):
    """`neuro --csv ps` (lean) prints what the full command's print_ps prints for the same rows."""
    import io
    import contextlib

    from neuro.shell._lean import Options
    from neuro.shell._output import print_ps

    client = blocking(str(daemon.socket), timeout=10)
    run_blocking(client.__aenter__())
    run_blocking(client.spawn("neuro.neuros.echo:Echo"))
    rows = run_blocking(client.ps())
    run_blocking(client.__aexit__(None, None, None))
    opts = Options()
    opts.output = "csv"
    expected = io.StringIO()
    with contextlib.redirect_stdout(expected):
        print_ps(rows, opts)
    done = neuro_cmd("--csv", "ps", home=daemon.home)
    assert (0, expected.getvalue()) == (done.returncode, done.stdout)


def test_without_a_daemon_ps_falls_back_to_the_full_error(home):
    """No daemon: the lean path steps aside and the usual exit code 4 and hint come back."""
    done = neuro_cmd("ps", home=home)
    assert (4, True) == (done.returncode, "neuro daemon start" in done.stderr)
