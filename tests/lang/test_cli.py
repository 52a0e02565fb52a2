"""`neuro lang check|build|run|fmt` in a subprocess against a real daemon."""

from __future__ import annotations

import json

import pytest

from arith_neuros import spawn_arith_files
from conftest import neuro_cmd

PROGRAM = '''use inc
use double
use add

# a comment that fmt keeps
net joined(n) {
    a = inc(n)
    b = double(n)
    return add(left: a.x, right: b.x)
}
'''


@pytest.fixture
def ready(daemon, home, tmp_path):
    """A daemon running inc, double and add, and a .neuro file over them."""
    spawn_arith_files(home, tmp_path)
    program = tmp_path / "joined.neuro"
    program.write_text(PROGRAM)
    return home, program, tmp_path


def test_check_then_run_a_program(ready):
    """`lang check` exits 0 naming the net; `lang run x=5` gives 6 + 10 and a run id; the second run is cached."""
    home, program, _ = ready
    check = neuro_cmd("lang", "check", program, "--json", home=home)
    assert 0 == check.returncode, check.stderr
    assert "joined" == json.loads(check.stdout)["main"]
    first = neuro_cmd("lang", "run", program, "x=5", "--json", home=home)
    assert 0 == first.returncode, first.stderr
    reply = json.loads(first.stdout)
    assert ({"x": 16}, 3, 0) == (reply["output"], reply["called"], reply["cached"])
    second = json.loads(neuro_cmd("lang", "run", program, "x=5", "--json", home=home).stdout)
    assert (0, 3) == (second["called"], second["cached"])


def test_check_a_broken_program_exits_1_with_line_column_and_caret(ready):
    """A type misfit: exit 1, the problem at file:line:column with the line and a caret; --json has the fields."""
    home, _, tmp = ready
    bad = tmp / "bad.neuro"
    bad.write_text("use inc\nmessage T { x: str }\nnet bad(t: T) {\n    return inc(t)\n}\n")
    done = neuro_cmd("lang", "check", bad, home=home)
    assert 1 == done.returncode
    assert f"{bad}:4:12: type error: edge in -> result: in is T, result takes Num: at `$.x`: `str` does not fit " \
           "`int`" in done.stdout
    assert "        return inc(t)\n               ^" in done.stdout
    data = json.loads(neuro_cmd("lang", "check", bad, "--json", home=home).stdout)
    [d] = data["diagnostics"]
    assert (str(bad), 4, 12, "type") == (d["file"], d["line"], d["column"], d["kind"])


def test_a_hole_lists_the_neuros_that_fit(ready):
    """`?(a)` after inc: the problem lists inc and double (Num -> Num), not add."""
    home, _, tmp = ready
    holed = tmp / "holed.neuro"
    holed.write_text("use inc\nnet holed(n) {\n    a = inc(n)\n    return ?(a)\n}\n")
    data = json.loads(neuro_cmd("lang", "check", holed, "--json", home=home).stdout)
    [d] = data["diagnostics"]
    assert ["double (Num -> Num)", "inc (Num -> Num)"] == d["fits"]


def test_build_writes_the_emitted_files_and_a_lock(ready):
    """`lang build --out DIR --lock`: the net's graph as JSON, and FILE.lock with the versions it used."""
    home, program, tmp = ready
    out = tmp / "built"
    done = neuro_cmd("lang", "build", program, "--out", out, "--lock", "--json", home=home)
    assert 0 == done.returncode, done.stderr
    shown = json.loads((out / "joined.net.json").read_text())
    assert ["a", "b", "result"] == [n["id"] for n in shown["nodes"]]
    lock = (tmp / "joined.neuro.lock").read_text()
    assert "[neuros]" in lock and "inc = " in lock
    again = neuro_cmd("lang", "check", program, home=home)
    assert 0 == again.returncode, again.stdout + again.stderr


def test_fmt_check_write_and_a_file_that_does_not_parse(tmp_path):
    """fmt --check exits 1 on a messy file, --write fixes it (comments kept), a broken file is left as it is."""
    messy = tmp_path / "m.neuro"
    messy.write_text("use inc\n# keep me\nnet m(n){return inc(n)}\n")
    assert 1 == neuro_cmd("lang", "fmt", "--check", messy).returncode
    assert 0 == neuro_cmd("lang", "fmt", "--write", messy).returncode
    assert "use inc\n\n# keep me\nnet m(n) {\n    return inc(n)\n}\n" == messy.read_text()
    assert 0 == neuro_cmd("lang", "fmt", "--check", messy).returncode
    broken = tmp_path / "b.neuro"
    broken.write_text("net b(n) {\n")
    done = neuro_cmd("lang", "fmt", "--write", broken, "--json")
    assert 1 == done.returncode
    assert "net b(n) {\n" == broken.read_text()
    assert not json.loads(done.stdout)[0]["ok"]


def test_check_offline_needs_no_daemon(tmp_path, home):
    """`lang check --offline` parses and checks here: a good file exits 0, an unknown name exits 1."""
    good = tmp_path / "g.neuro"
    good.write_text("use inc\nnet g(n) {\n    return inc(n)\n}\n")
    assert 0 == neuro_cmd("lang", "check", "--offline", good, home=home).returncode
    bad = tmp_path / "b.neuro"
    bad.write_text("use inc\nnet b(n) {\n    return incc(n)\n}\n")
    done = neuro_cmd("lang", "check", "--offline", bad, home=home)
    assert 1 == done.returncode
    assert "unknown name `incc`" in done.stdout
