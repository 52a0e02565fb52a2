"""The `neuro` commands end to end against a real daemon, their help, and the JSON error shape."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import REPO, neuro_cmd

SLOW = Path(__file__).with_name("slow_neuro.py")

# Every command and its example (the last line of its --help). README's table lists them.
COMMANDS = {
    "demo": "neuro demo --calls 5000 --log /tmp/demo.db",
    "policy": "neuro policy check ~/.neuro/policies/mine.toml",
    "policy show": "neuro policy show untrusted --json",
    "policy check": "neuro policy check policies/untrusted.toml",
    "daemon": "neuro daemon start",
    "daemon start": "neuro daemon start --home /tmp/nh",
    "daemon stop": "neuro daemon stop",
    "daemon status": "neuro daemon status --json",
    "daemon restart": "neuro daemon restart",
    "daemon run": "neuro daemon run --home /tmp/nh",
    "ps": "neuro ps --json",
    "spawn": "neuro spawn neuro.neuros.echo:Echo --name echo2",
    "stop": "neuro stop echo",
    "restart": "neuro restart echo",
    "send": "neuro send counter key=apples",
    "call": "neuro call echo text=hi   (or: neuro call echo '{\"text\": \"hi\"}')",
    "swap": "neuro swap echo ./echo_v2.py --replay 50",
    "rollback": "neuro rollback echo --version 3fa2",
    "versions": "neuro versions echo",
    "diff": "neuro diff echo 3fa2 91bc",
    "sleep": "neuro sleep learner --json",
    "logs": "neuro logs --neuro echo --since 5m",
    "tail": "neuro tail -f --neuro echo",
    "trace": "neuro trace 1767225600123456789",
    "log": "neuro log vacuum --keep 30d --dry-run",
    "log vacuum": "neuro log vacuum --keep 30d --dry-run",
    "new": "neuro new shout --dir ./neuros",
    "run": "neuro run examples/orchestrate.py --embedded",
}


def run_json(*args, home, code=0):
    done = neuro_cmd(*args, "--json", home=home)
    assert (code, "") == (done.returncode, done.stderr), done.stdout
    return json.loads(done.stdout)


def test_every_command_has_help_ending_with_an_example():
    """`neuro CMD --help` exits 0 for every command and its last line is its example."""
    got = {}
    for command in COMMANDS:
        done = neuro_cmd(*command.split(), "--help")
        got[command] = (done.returncode, done.stdout.strip().splitlines()[-1])
    assert {c: (0, f"example: {e}") for c, e in COMMANDS.items()} == got


def test_the_top_level_help_lists_every_command_and_the_exit_codes():
    """`neuro --help` names each top-level command and documents exit codes 0 to 4."""
    out = neuro_cmd("--help").stdout
    top = sorted({c.split()[0] for c in COMMANDS})
    assert (top, True) == (sorted(c for c in top if re.search(rf"\b{c}\b", out)),
                           all(f"  {n}  " in out for n in "01234"))


def test_every_command_appears_in_the_cli_docs():
    """docs/cli.md (which the README's short table links to) has a section for every command."""
    docs = (REPO / "docs" / "cli.md").read_text()
    assert [] == [c for c in COMMANDS if f"### `neuro {c}`" not in docs]


def test_the_json_error_shape_is_pinned(home):
    """Every error under --json is {"error": {type, message, hint, exit_code}} on stdout."""
    no_daemon = neuro_cmd("ps", "--json", home=home)
    usage = neuro_cmd("call", "--json", home=home)
    shapes = [json.loads(d.stdout) for d in (no_daemon, usage)]
    assert ([4, 2], [["error"], ["error"]], [["exit_code", "hint", "message", "type"]] * 2,
            ["DaemonNotRunning", "UsageError"]) == (
        [no_daemon.returncode, usage.returncode], [list(s) for s in shapes],
        [sorted(s["error"]) for s in shapes], [s["error"]["type"] for s in shapes])


@pytest.mark.parametrize("args", [["spawn"], ["call", "echo", "--timeout", "soon"], ["logs", "--since", "yesterday-ish"],
                                  ["trace", "abc"], ["daemon", "frobnicate"], ["new", "Bad Name"], ["tail", "-n", "0"]])
def test_wrong_arguments_are_usage_errors_without_tracebacks(home, args):
    """Bad arguments exit 2 with a message and no traceback."""
    done = neuro_cmd(*args, home=home)
    assert (2, False) == (done.returncode, "Traceback" in done.stderr + done.stdout)


def test_a_payload_that_is_not_json_is_a_usage_error(daemon):
    """`neuro call echo '{oops'` exits 2 saying the payload is not valid JSON."""
    done = neuro_cmd("call", "echo", "{oops", home=daemon.home)
    assert (2, True) == (done.returncode, "the payload is not valid JSON" in done.stderr)


def test_spawn_call_send_ps_logs_trace_stop(daemon):
    """A session of commands: spawn, call (JSON and key=value), send, ps, logs, trace, stop."""
    home = daemon.home
    spawned = run_json("spawn", "neuro.neuros.wordcount:WordCount", home=home)
    run_json("spawn", "neuro.neuros.counter:Counter", home=home)
    reply = run_json("call", "wordcount", '{"text": "a b a"}', home=home)
    kv = run_json("call", "counter", "type=get", "key=a", home=home)
    sent = run_json("send", "counter", "type=add", "key=z", "amount=2", home=home)
    ps = run_json("ps", home=home)
    logs = neuro_cmd("logs", "--neuro", "wordcount", "--jsonl", home=home).stdout.splitlines()
    message_id = json.loads(logs[0])["id"]
    trace = run_json("trace", message_id, home=home)
    run_json("stop", "wordcount", home=home)
    after = [p["name"] for p in run_json("ps", home=home)]
    assert ("wordcount", 3, 2, True, ["wordcount", "counter"], "handled", 2, ["counter"]) == (
        spawned["name"], reply["reply"]["words"], kv["reply"]["total"], isinstance(sent["id"], int),
        [p["name"] for p in ps], trace["message"]["outcome"], len(trace["children"]), after)


def test_a_bad_payload_names_the_field(daemon):
    """A payload of the wrong type exits 3 with InvalidPayload naming `$.text` (key=value is
    typed by the input schema, so `text=3` is the string "3": JSON is what can be wrong)."""
    run_json("spawn", "neuro.neuros.echo:Echo", home=daemon.home)
    error = run_json("call", "echo", '{"text": 3}', home=daemon.home, code=3)["error"]
    assert ("InvalidPayload", True) == (error["type"], "`$.text`" in error["message"])


def test_a_neuro_file_is_spawned_by_its_path(daemon, tmp_path):
    """`neuro spawn path/to/file.py` loads the file in the daemon and it answers calls."""
    run_json("spawn", str(SLOW), home=daemon.home)
    assert {"reply": {"ms": 1}} == run_json("call", "slow", "ms=1", home=daemon.home)


def test_swap_and_rollback_by_command(daemon, tmp_path):
    """swap to a new file version goes live; rollback returns to the first version."""
    v1 = tmp_path / "shout.py"
    run_json("new", "shout", "--dir", str(tmp_path), home=daemon.home)
    source = (tmp_path / "shout" / "__init__.py").read_text()
    v1.write_text(source)
    first = run_json("spawn", str(v1), home=daemon.home)["version"]
    v2 = tmp_path / "shout2.py"
    v2.write_text(source.replace("msg.text.upper()", "msg.text.upper() + '!'"))
    swapped = run_json("swap", "shout", str(v2), home=daemon.home)
    after_swap = run_json("call", "shout", "text=hi", home=daemon.home)["reply"]["text"]
    back = run_json("rollback", "shout", home=daemon.home)
    after_back = run_json("call", "shout", "text=hi", home=daemon.home)["reply"]["text"]
    assert (True, "HI!", first, "HI") == (swapped["ok"], after_swap, back["new_version"], after_back)


def test_a_swap_the_replay_gate_refuses_exits_1_with_the_report(daemon, tmp_path):
    """A version that answers differently is refused at replay: exit 1, ok false, stage replay."""
    run_json("new", "shout", "--dir", str(tmp_path), home=daemon.home)
    source = (tmp_path / "shout" / "__init__.py").read_text()
    (tmp_path / "a.py").write_text(source)
    (tmp_path / "b.py").write_text(source.replace("upper()", "lower()"))
    run_json("spawn", str(tmp_path / "a.py"), home=daemon.home)
    run_json("call", "shout", "text=hi", home=daemon.home)
    report = run_json("swap", "shout", str(tmp_path / "b.py"), "--replay", "5", home=daemon.home, code=1)
    assert (False, "replay") == (report["ok"], report["stage"])


def test_new_scaffolds_a_neuro_whose_test_passes(tmp_path):
    """`neuro new shout` writes a neuro and its test, and that test passes."""
    made = run_json("new", "shout", "--dir", str(tmp_path), home=tmp_path)
    import subprocess

    from .conftest import PYTHON

    done = subprocess.run([str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", made["test"]],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert (0, True) == (done.returncode, "1 passed" in done.stdout)


def test_run_needs_a_daemon_unless_embedded(home, tmp_path):
    """`neuro run script.py` exits 4 without a daemon; with --embedded the script runs."""
    script = tmp_path / "s.py"
    script.write_text("import trio\nfrom neuro.client import connect\n"
                      "async def main():\n    async with connect() as c:\n"
                      "        await c.spawn('neuro.neuros.echo:Echo')\n"
                      "        print((await c.call('echo', {'text': 'ok'})).text)\ntrio.run(main)\n")
    without = neuro_cmd("run", script, home=home)
    embedded = neuro_cmd("run", "--embedded", script, home=home)
    assert (4, 0, "ok") == (without.returncode, embedded.returncode, embedded.stdout.strip())


def test_spawn_of_a_file_is_untrusted_unless_told(daemon, tmp_path):
    """`neuro spawn FILE` runs the file sandboxed under `untrusted`; one that asks for `trusted` is
    refused with the fix; `--trusted` runs it in the daemon's process, as code the user wrote."""
    source = SLOW.read_text()
    assert 'policy = "trusted"' not in source
    plain = run_json("spawn", str(SLOW), home=daemon.home)
    (tmp_path / "greedy.py").write_text(source.replace('name = "slow"', 'name = "greedy"\n    policy = "trusted"'))
    refused = run_json("spawn", str(tmp_path / "greedy.py"), home=daemon.home, code=3)["error"]
    trusted = run_json("spawn", str(tmp_path / "greedy.py"), "--trusted", home=daemon.home)
    assert ("untrusted", "process") == (plain["policy"], plain["sandbox"])
    assert "declares policy = 'trusted'" in refused["message"] and "--trusted" in refused["message"]
    assert ("trusted", "inproc") == (trusted["policy"], trusted["sandbox"])


DREAMER = '''
from neuro import sdk


class Q(sdk.Message):
    text: str = ""


class Dreamer(sdk.Neuro):
    name = "dreamer"
    input = Q
    output = Q

    def handle(self, ctx, msg):
        return Q(text="ANSWER")

    async def sleep(self, ctx):
        await ctx.publish("dreams", Q(text="consolidated"))
        return {"rounds": 2}
'''


def test_sleep_and_spawning_a_stored_version_by_command(daemon, tmp_path):
    """`neuro sleep` runs the hook; `neuro spawn NAME --version V --as NEW` starts v1 beside v2."""
    home = daemon.home
    (tmp_path / "v1.py").write_text(DREAMER.replace("ANSWER", "first"))
    (tmp_path / "v2.py").write_text(DREAMER.replace("ANSWER", "second"))
    first = run_json("spawn", str(tmp_path / "v1.py"), "--trusted", home=home)["version"]
    slept = run_json("sleep", "dreamer", home=home)
    run_json("swap", "dreamer", str(tmp_path / "v2.py"), "--trusted", home=home)
    student = run_json("spawn", "dreamer", "--version", first[:8], "--as", "student", home=home)
    answers = [run_json("call", name, home=home)["reply"]["text"] for name in ("dreamer", "student")]
    assert ({"neuro": "dreamer", "hook": "sleep", "result": {"rounds": 2}}, "student", first, ["second", "first"]) == (
        slept, student["name"], student["version"], answers)
