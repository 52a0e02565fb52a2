"""The CLI core through the real `neuro` command in a subprocess: global options before or
after the command, did-you-mean on a wrong name or flag, one exit code per kind of failure in
every command, and user mistakes (a state folder that is a file or too long for a socket, a
closed pipe) as clear errors rather than "internal error".

One daemon serves the tests of this module that only read from it (starting one per test
costs a second or two each)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from neuro.shell import daemon as d

from .conftest import NEURO, REPO, neuro_cmd


@pytest.fixture(scope="module")
def shared():
    """A running daemon with `echo` spawned, for the whole module; stopped at the end."""
    home = tempfile.mkdtemp(prefix="nc", dir="/tmp")
    st = d.State(home)
    d.start(st)
    done = neuro_cmd("spawn", "neuro.neuros.echo:Echo", home=home)
    assert 0 == done.returncode, done.stderr
    yield st
    if d.running_pid(st) is not None:
        d.stop(st, grace=10)
    shutil.rmtree(home, ignore_errors=True)


def bare(*args, timeout=60, env=None):
    """`neuro ARGS` with no NEURO_HOME from the environment (each test names its home)."""
    full_env = {k: v for k, v in os.environ.items() if k != "NEURO_HOME"}
    full_env.update(env or {})
    return subprocess.run([str(NEURO), *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


# -- global options anywhere -------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--json", "--home", "{home}", "ps"],
    ["--home", "{home}", "ps", "--json"],
    ["ps", "--json", "--home", "{home}"],
    ["--home={home}", "--json", "ps"],
])
def test_output_options_go_before_or_after_ps(shared, args):
    """`neuro --json ps`, `neuro ps --json` and `--home` in either place list the same processes."""
    done = bare(*[a.format(home=shared.home) for a in args])
    assert (0, ["echo"]) == (done.returncode, [p["name"] for p in json.loads(done.stdout)]), done.stderr


@pytest.mark.parametrize("args", [
    ["--json", "--home", "{home}", "daemon", "status"],
    ["--home", "{home}", "daemon", "status", "--json"],
    ["daemon", "--json", "status", "--home", "{home}"],
])
def test_output_options_go_anywhere_on_the_full_path(shared, args):
    """A command the lean path does not serve (`daemon status`) takes them anywhere too, and a
    flag before the command is not overwritten by the subcommand's default."""
    done = bare(*[a.format(home=shared.home) for a in args])
    assert (0, True, str(shared.home)) == (done.returncode, *(lambda doc: (doc["running"], doc["home"]))(
        json.loads(done.stdout))), done.stderr


def test_a_quiet_flag_before_the_command_lists_names(shared):
    """`neuro -q ps` prints the names only, one per line."""
    done = bare("-q", "--home", shared.home, "ps")
    assert (0, "echo\n") == (done.returncode, done.stdout)


# -- did you mean ------------------------------------------------------------------------------

@pytest.mark.parametrize("args, usage, hint", [
    (["spwan"], "usage: neuro ", "invalid choice: 'spwan'"),
    (["daemon", "strat"], "usage: neuro daemon ", "invalid choice: 'strat'"),
    (["policy", "shwo"], "usage: neuro policy ", "invalid choice: 'shwo'"),
])
def test_a_wrong_command_suggests_the_nearest(tmp_path, args, usage, hint):
    """A mistyped command or action exits 2 with its parent's usage and `did you mean X?`."""
    done = bare(*args, "--home", tmp_path)
    nearest = {"spwan": "spawn", "strat": "start", "shwo": "show"}[args[-1]]
    lines = done.stderr.strip().splitlines()
    assert (2, True, True, True) == (done.returncode, lines[0].startswith(usage), hint in lines[-1],
                                     lines[-1].endswith(f"did you mean {nearest}?")), done.stderr


@pytest.mark.parametrize("args, usage, nearest", [
    (["ps", "--jsn"], "usage: neuro ps ", "--json"),
    (["stop", "echo", "--timout", "3"], "usage: neuro stop ", "--timeout"),
    (["daemon", "start", "--wiat", "3"], "usage: neuro daemon start ", "--wait"),
])
def test_an_unknown_flag_prints_the_subcommands_usage_and_the_nearest_flag(tmp_path, args, usage, nearest):
    """An unknown flag exits 2 with the usage of the command it was given to, not the top's."""
    done = bare(*args, "--home", tmp_path)
    lines = done.stderr.strip().splitlines()
    assert (2, True, f"did you mean {nearest}?") == (done.returncode, lines[0].startswith(usage),
                                                      lines[-1].split("; ")[-1]), done.stderr


def test_a_wrong_flag_under_json_is_the_json_error_with_the_suggestion(tmp_path):
    """Under --json the usage error is the one JSON error object, suggestion included."""
    done = bare("--json", "ps", "--wdie", "--home", tmp_path)
    error = json.loads(done.stdout)["error"]
    assert (2, "UsageError", 2, True) == (done.returncode, error["type"], error["exit_code"],
                                          error["message"].endswith("did you mean --wide?"))


@pytest.mark.parametrize("args", [["policy"], ["daemon"], ["log"]])
def test_a_command_with_actions_given_none_exits_2_with_its_usage(tmp_path, args):
    """`neuro policy` (no action) prints its usage and the actions on stderr, and exits 2."""
    done = bare(*args, "--home", tmp_path)
    lines = done.stderr.strip().splitlines()
    assert (2, "", True, True) == (done.returncode, done.stdout, lines[0].startswith(f"usage: neuro {args[0]}"),
                                   lines[-1].startswith(f"neuro {args[0]}: error: give an action: "))


# -- one exit code per kind of failure ---------------------------------------------------------

NOT_FOUND = [
    ["stop", "nope"], ["restart", "nope"], ["call", "nope", "text=hi"], ["send", "nope", "text=hi"],
    ["sleep", "nope"], ["rollback", "nope"], ["swap", "nope", "neuro.neuros.echo:Echo"],
    ["versions", "nope"], ["versions", "echo", "--source", "ffff"], ["diff", "echo", "ffff", "eeee"],
    ["rollback", "echo", "--version", "ffff"], ["spawn", "/no/such/neuro.py"], ["trace", "12345"],
    ["policy", "show", "nope"], ["policy", "check", "/no/such/policy.toml"],
    ["log", "vacuum", "--log", "/no/such/log.db"], ["run", "/no/such/script.py"],
    ["spawn", "no_such_module:Thing"], ["spawn", "neuro.neuros.echo:NoSuchClass"], ["rollback", "echo"],
]


@pytest.mark.parametrize("args", NOT_FOUND, ids=lambda a: " ".join(a))
def test_what_does_not_exist_is_exit_5_in_every_command(shared, args):
    """A neuro, version, policy, message or file that does not exist: exit 5, one error line."""
    done = bare(*args, "--home", shared.home)
    assert (5, "", True, False) == (done.returncode, done.stdout, done.stderr.startswith(f"neuro {args[0]}: error: "),
                                    "internal error" in done.stderr), done.stderr


@pytest.mark.parametrize("args", [["stop", "nope"], ["versions", "nope"], ["policy", "show", "nope"]])
def test_not_found_under_json_carries_exit_code_5(shared, args):
    """The JSON error says exit_code 5 as the process does."""
    done = bare(*args, "--json", "--home", shared.home)
    assert (5, 5) == (done.returncode, json.loads(done.stdout)["error"]["exit_code"])


@pytest.mark.parametrize("args", [
    ["spawn", "neuro.neuros.echo:Echo", "--name", "Bad Name"],
    ["new", "Bad Name", "--dir", "{tmp}"],
    ["demo", "--calls", "0"],
    ["stop", "echo", "--timeout", "-1"],
    ["spawn", "not a neuro"],
])
def test_a_bad_name_or_value_is_exit_2_in_every_command(shared, tmp_path, args):
    """A bad name or value is a usage error (2) wherever it is given: `new` and `spawn` alike."""
    done = bare(*[a.format(tmp=tmp_path) for a in args], "--home", shared.home)
    assert (2, "", False) == (done.returncode, done.stdout, "internal error" in done.stderr), done.stderr


@pytest.mark.parametrize("args", [["ps"], ["stop", "echo"], ["call", "echo", "text=hi"], ["versions", "echo"],
                                  ["daemon", "status"]])
def test_no_daemon_is_exit_4_in_every_command(home, args):
    """Without a daemon every command that needs one exits 4 and says how to start one."""
    done = bare(*args, "--home", home)
    assert (4, True) == (done.returncode, "neuro daemon start" in done.stderr), done.stderr


# -- user mistakes are not internal errors -----------------------------------------------------

@pytest.mark.parametrize("args", [["ps"], ["daemon", "start"], ["daemon", "status"], ["call", "echo", "x=1"]])
def test_a_state_folder_too_long_for_a_socket_is_a_clear_usage_error(args):
    """A --home whose control.sock path passes 107 bytes: exit 2 saying so, naming a fix."""
    long_home = "/tmp/" + "x" * 110
    done = bare(*args, "--home", long_home)
    assert (2, False, True, True, False) == (
        done.returncode, "internal error" in done.stderr, "more than a Unix socket allows (107)" in done.stderr,
        "--home /tmp/neuro" in done.stderr, os.path.exists(long_home)), done.stderr


@pytest.mark.parametrize("args", [["ps"], ["daemon", "start"], ["logs"], ["call", "echo", "x=1"], ["stop", "echo"]])
def test_a_state_folder_that_is_a_file_is_a_clear_usage_error(tmp_path, args):
    """--home naming a file: exit 2, "is a file, not a folder", never "internal error"."""
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    done = bare(*args, "--home", afile)
    assert (2, False, True) == (done.returncode, "internal error" in done.stderr,
                                f"the state folder {afile} is a file, not a folder" in done.stderr), done.stderr


def test_neuro_home_naming_a_file_is_the_same_error(tmp_path):
    """$NEURO_HOME naming a file is the same clear error as --home."""
    afile = tmp_path / "afile"
    afile.write_text("")
    done = bare("ps", env={"NEURO_HOME": str(afile)})
    assert (2, True) == (done.returncode, "is a file, not a folder" in done.stderr), done.stderr


@pytest.mark.parametrize("args", [["ps"], ["ps", "--json"], ["logs"], ["policy", "show"], ["--help"],
                                  ["completion", "bash"], ["daemon", "status"]])
def test_a_closed_pipe_ends_quietly_with_0(shared, args):
    """stdout a pipe whose reader has gone (`neuro logs | head -1`): exit 0, nothing on stderr."""
    proc = subprocess.Popen([str(NEURO), *args, "--home", str(shared.home)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader goes before the command writes a byte
    err = proc.stderr.read().decode()
    assert (0, "") == (proc.wait(timeout=60), err)


def test_logs_piped_into_head_exits_0(shared):
    """`neuro logs -n 2000 | head -1` with more rows than a pipe holds: neuro exits 0, quietly."""
    from neuro.client import blocking, run_blocking

    client = blocking(home=str(shared.home), timeout=30)
    run_blocking(client.__aenter__())
    for i in range(600):
        run_blocking(client.send("echo", {"text": "x" * 100 + str(i)}))
    run_blocking(client.__aexit__(None, None, None))
    script = f'"{NEURO}" logs -n 2000 --wide --home "{shared.home}" | head -1; echo "rc=${{PIPESTATUS[0]}}" >&2'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert (1, "rc=0") == (len(done.stdout.splitlines()), done.stderr.strip())
