"""Payloads through the real CLI: key=value typed by the neuro's input schema, a union's member
picked by its tag or its fields, `-` (stdin) and `@file.json`, errors that name the field and
the type, and a `--timeout` that must be positive."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .conftest import NEURO, REPO, TYPER, neuro_cmd


def run_json(*args, home, code=0, stdin=None):
    done = subprocess.run([str(NEURO), *map(str, args), "--json"], cwd=REPO, capture_output=True, text=True,
                          timeout=60, input=stdin, env={**os.environ, "NEURO_HOME": str(home)})
    assert code == done.returncode, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def neuros(daemon):
    """A daemon with echo (a str field), counter (a union) and typer (bool, list, float, optional)."""
    for spec in ("neuro.neuros.echo:Echo", "neuro.neuros.counter:Counter"):
        run_json("spawn", spec, home=daemon.home)
    run_json("spawn", TYPER, "--trusted", home=daemon.home)
    return daemon.home


def test_a_digit_on_a_string_field_is_a_string(neuros):
    """`text=5` on echo's `str` field sends the string "5"."""
    assert {"text": "5"} == run_json("call", "echo", "text=5", home=neuros)["reply"]


def test_values_are_typed_by_their_fields(neuros):
    """bool from true, a list from JSON, a float from 2, null on an optional field, an int from 7."""
    reply = run_json("call", "typer", "flag=true", "items=[1,2]", "ratio=2", "note=null", "count=7",
                     home=neuros)["reply"]
    assert ({"flag": True, "items": [1, 2], "ratio": 2.0, "note": None, "count": 7},
            {"flag": "bool", "items": "list", "ratio": "float", "note": "NoneType", "count": "int"}) == (
        reply["values"], reply["types"])


def test_a_union_member_is_picked_by_its_tag_or_by_the_fields_given(neuros):
    """counter: `key=a amount=2` can only be Add; `type=get key=a` is Get by its tag."""
    added = run_json("call", "counter", "key=a", "amount=2", home=neuros)["reply"]
    got = run_json("call", "counter", "type=get", "key=a", home=neuros)["reply"]
    assert ({"key": "a", "total": 2}, {"key": "a", "total": 2}) == (added, got)


@pytest.mark.parametrize("args, words", [
    (["typer", "flag=yes", "items=[]"], ["`flag`", "true or false", "'yes'"]),
    (["typer", "flag=true", "items=3"], ["`items`", "a list"]),
    (["counter", "key=a", "amount=x"], ["`amount`", "an integer", "'x'"]),
    (["counter", "key=a"], ["more than one message type", "type=add|get"]),
    (["counter", "type=put", "key=a"], ["`type` picks the message type", "add, get", "'put'"]),
    (["echo", "txt=hi"], ["no field `txt`", "its fields: text"]),
])
def test_a_value_that_does_not_fit_is_a_usage_error_naming_the_field(neuros, args, words):
    """A value its field cannot take exits 2 with the field and what it expects."""
    error = run_json("call", *args, home=neuros, code=2)["error"]
    assert ("UsageError", []) == (error["type"], [w for w in words if w not in error["message"]])


def test_a_payload_from_stdin_and_from_a_file(neuros, tmp_path):
    """`-` reads the payload from stdin; `@file.json` from the file."""
    path = tmp_path / "msg.json"
    path.write_text('{"text": "from a file"}')
    piped = run_json("call", "echo", "-", home=neuros, stdin='{"text": "from stdin"}')["reply"]
    filed = run_json("call", "echo", f"@{path}", home=neuros)["reply"]
    assert ({"text": "from stdin"}, {"text": "from a file"}) == (piped, filed)


def test_a_missing_payload_file_is_not_found_and_bad_stdin_a_usage_error(neuros, tmp_path):
    """`@missing.json` exits 5; stdin that is not JSON exits 2 saying so."""
    missing = run_json("call", "echo", f"@{tmp_path / 'missing.json'}", home=neuros, code=5)["error"]
    bad = run_json("call", "echo", "-", home=neuros, code=2, stdin="{oops")["error"]
    assert (True, True) == ("missing.json" in missing["message"], "not valid JSON" in bad["message"])


def test_send_types_its_payload_too(neuros):
    """`neuro send counter key=b amount=3` is an Add the counter counts."""
    run_json("send", "counter", "key=b", "amount=3", home=neuros)
    assert 3 == run_json("call", "counter", "type=get", "key=b", home=neuros)["reply"]["total"]


@pytest.mark.parametrize("command", ["call", "send"])
@pytest.mark.parametrize("timeout", ["0", "-1", "nan"])
def test_a_timeout_must_be_positive(home, command, timeout):
    """--timeout 0, negative or NaN is a usage error (exit 2), before anything is sent."""
    done = neuro_cmd(command, "echo", "text=hi", "--timeout", timeout, home=home)
    assert (2, True) == (done.returncode, f"expected a number of seconds > 0 (or inf for none), got '{timeout}'"
                         in done.stderr), done.stderr


def test_payload_words_after_an_option_are_still_the_payload(neuros):
    """`call echo --timeout 3 text=hi` and `call counter key=c --json amount=2`: the words after
    the option join the payload, and an unknown flag among them is still named."""
    after = run_json("call", "echo", "--timeout", "3", "text=hi", home=neuros)["reply"]
    split = run_json("call", "counter", "key=c", "--timeout", "3", "amount=2", home=neuros)["reply"]
    wrong = run_json("call", "echo", "--timout", "3", "text=hi", home=neuros, code=2)["error"]
    assert ({"text": "hi"}, {"key": "c", "total": 2}, True) == (
        after, split, wrong["message"].startswith("unrecognized arguments: --timout"))


def test_an_infinite_timeout_is_accepted(neuros):
    """`--timeout inf` waits for ever, and the call is answered."""
    assert {"text": "hi"} == run_json("call", "echo", "text=hi", "--timeout", "inf", home=neuros)["reply"]
