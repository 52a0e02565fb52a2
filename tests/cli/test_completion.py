"""`neuro completion bash|zsh|fish`: the scripts parse in their shells and complete commands,
actions, options, option values, running neuros' names (asked of a real daemon through the
hidden `neuro __complete`) and policy names. zsh and fish tests skip where the shell is not
installed."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .conftest import NEURO, neuro_cmd

BIN = str(NEURO.parent)


def script(tmp_path, shell):
    done = neuro_cmd("completion", shell, home=tmp_path)
    assert (0, "") == (done.returncode, done.stderr)
    path = tmp_path / f"neuro.{shell}"
    path.write_text(done.stdout)
    return path


def shell_env(home):
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "NEURO_HOME": str(home)}


def bash_complete(path, home, *words):
    """What bash's `_neuro` offers for the command line `words` (the last one being typed)."""
    code = f'source "{path}"; COMP_WORDS=("$@"); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); _neuro; ' \
           'printf "%s\\n" "${COMPREPLY[@]}"'
    done = subprocess.run(["bash", "-c", code, "_", *words], capture_output=True, text=True, timeout=30,
                          env=shell_env(home))
    assert "" == done.stderr
    return [w for w in done.stdout.splitlines() if w]


@pytest.mark.parametrize("shell, check", [("bash", ["bash", "-n"]), ("zsh", ["zsh", "-n"]),
                                          ("fish", ["fish", "--no-execute"])])
def test_the_script_parses_in_its_shell(tmp_path, shell, check):
    """Each script passes its shell's syntax check (`bash -n`, `zsh -n`, `fish --no-execute`)."""
    if shutil.which(check[0]) is None:
        pytest.skip(f"{check[0]} is not installed")
    path = script(tmp_path, shell)
    done = subprocess.run([*check, str(path)], capture_output=True, text=True, timeout=30)
    assert (0, "") == (done.returncode, done.stderr)


def test_an_unknown_shell_is_a_usage_error(tmp_path):
    """`neuro completion tcsh` exits 2 naming the choices."""
    done = neuro_cmd("completion", "tcsh", home=tmp_path)
    assert (2, True) == (done.returncode, "choose from 'bash', 'zsh', 'fish'" in done.stderr)


@pytest.mark.parametrize("words, expected", [
    (["neuro", "sp"], ["spawn"]),
    (["neuro", "daemon", "st"], ["start", "status", "stop"]),
    (["neuro", "--json", "daemon", "re"], ["restart"]),
    (["neuro", "ps", "--w"], ["--watch", "--wide"]),
    (["neuro", "ps", "--color", ""], ["always", "auto", "never"]),
    (["neuro", "spawn", "x", "--policy", "tr"], ["trusted"]),
    (["neuro", "policy", "show", "un"], ["untrusted"]),
])
def test_bash_completes_commands_options_and_values(tmp_path, words, expected):
    """Commands, actions (after a global flag too), options, choices and policy names."""
    assert expected == sorted(bash_complete(script(tmp_path, "bash"), tmp_path, *words))


def test_a_new_command_completes_without_editing_the_script(tmp_path):
    """The script comes from the parser: every command `neuro --help` lists completes."""
    from neuro.shell.cli import _parser, walk

    names = sorted(p[0] for p, _, _ in walk(_parser()) if len(p) == 1)
    assert names == sorted(bash_complete(script(tmp_path, "bash"), tmp_path, "neuro", ""))


def test_bash_completes_running_neuros_from_the_daemon(daemon, tmp_path):
    """`neuro stop <Tab>` offers the running neuros, asked of the daemon (--home honoured)."""
    done = neuro_cmd("spawn", "neuro.neuros.echo:Echo", home=daemon.home)
    assert 0 == done.returncode, done.stderr
    path = script(tmp_path, "bash")
    assert (["echo"], ["echo"]) == (bash_complete(path, daemon.home, "neuro", "stop", ""),
                                    bash_complete(path, tmp_path, "neuro", "--home", str(daemon.home), "call", "e"))


def test_complete_is_silent_and_0_without_a_daemon(home):
    """`neuro __complete neuros` with no daemon prints nothing and exits 0 (no error in a prompt)."""
    done = neuro_cmd("__complete", "neuros", home=home)
    assert (0, "", "") == (done.returncode, done.stdout, done.stderr)


def test_complete_lists_policy_names(home):
    """`neuro __complete policies`: the built-in policies and the state folder's own."""
    os.makedirs(os.path.join(home, "policies"))
    with open(os.path.join(home, "policies", "mine.toml"), "w") as f:
        f.write('inherit = "default"\n')
    names = neuro_cmd("__complete", "policies", home=home).stdout.split()
    assert {"default", "trusted", "untrusted", "mine"} <= set(names)


def test_the_hidden_command_is_not_listed(tmp_path):
    """`__complete` is for the scripts: not in `neuro --help` nor in the completions."""
    done = neuro_cmd("--help", home=tmp_path)
    assert "__complete" not in done.stdout.split("exit codes:")[-1]


def test_zsh_completes_actions_and_policies(tmp_path):
    """zsh's `_neuro` (its completion builtins stubbed to print) offers actions and policy names."""
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    path = script(tmp_path, "zsh")
    code = (f'compdef(){{}}; compadd(){{ shift; print -r -- "$*"; }}; source "{path}"; '
            'words=(neuro daemon st); CURRENT=3; _neuro; words=(neuro spawn x --policy ""); CURRENT=5; _neuro')
    done = subprocess.run(["zsh", "-f", "-c", code], capture_output=True, text=True, timeout=30,
                          env=shell_env(tmp_path))
    lines = done.stdout.splitlines()
    assert ("", True, True) == (done.stderr, "start" in lines[0].split(), "untrusted" in lines[1].split())


def test_fish_completes_commands_and_option_values(tmp_path):
    """fish, asked with `complete -C`, offers commands with their help and --policy's names."""
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    path = script(tmp_path, "fish")
    code = f'source "{path}"; complete -C"neuro sp"; complete -C"neuro spawn x --policy unt"'
    done = subprocess.run(["fish", "--no-config", "-c", code], capture_output=True, text=True, timeout=30,
                          env=shell_env(tmp_path))
    lines = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert ("", ["spawn", "untrusted"]) == (done.stderr, lines)
