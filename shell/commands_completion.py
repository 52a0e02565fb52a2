"""`neuro completion bash|zsh|fish`: a completion script generated from the parser itself (every
command, action and option, and the values of options with choices), so a new command
completes without anyone editing a script. Names of running neuros and of policies come at
completion time from the hidden `neuro __complete neuros|policies` (the lean path: fast, and
silent when there is no daemon).

    eval "$(neuro completion bash)"                     # ~/.bashrc
    neuro completion zsh > "${fpath[1]}/_neuro"         # zsh (or: source <(neuro completion zsh))
    neuro completion fish > ~/.config/fish/completions/neuro.fish
"""

from __future__ import annotations

import argparse
from typing import Any

SHELLS = ("bash", "zsh", "fish")
# What a value completes to: a fixed list, names asked of `neuro __complete`, or paths.
NEUROS, POLICIES, FILES, DIRS = "neuros", "policies", "files", "dirs"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import add

    completion = add(sub, "completion", common, help="print a shell completion script (bash, zsh or fish)",
                     description="Print a completion script for SHELL, generated from the commands and options "
                                 "of this `neuro`; running neuros' names and policy names complete too (asked of "
                                 "the daemon when you press Tab). Install: bash: `eval \"$(neuro completion "
                                 "bash)\"` in ~/.bashrc; zsh: `neuro completion zsh > \"${fpath[1]}/_neuro\"`; "
                                 "fish: `neuro completion fish > ~/.config/fish/completions/neuro.fish`.",
                     example='eval "$(neuro completion bash)"', run=_completion)
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    hidden = sub.add_parser("__complete", add_help=False, parents=[common])  # not listed: the scripts call it
    hidden.add_argument("what", choices=(NEUROS, POLICIES))
    hidden.set_defaults(run=_complete)


def _completion(args: argparse.Namespace) -> int:
    from .cli import _parser

    print(script(args.shell, _parser()), end="")
    return 0


def _complete(args: argparse.Namespace) -> int:
    """Names, one a line; nothing (and exit 0) when they cannot be had. Normally the lean path
    answers this (shell/_lean.py); this is the same, when it could not."""
    from ._lean import complete_names

    for name in complete_names(args.what, args.home):
        print(name)
    return 0


# -- what the parser says --------------------------------------------------------------------

class Command:
    """One (sub)command as completion sees it."""

    def __init__(self, path: tuple[str, ...], parser: argparse.ArgumentParser, help: str | None) -> None:
        self.key = " ".join(path)
        self.help = help or ""
        self.subcommands: list[tuple[str, str]] = []
        self.options: list[tuple[list[str], bool, Any, str]] = []  # (flags, takes a value, what it completes to, help)
        self.positionals: list[Any] = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help or "" for a in action._choices_actions}
                self.subcommands = [(n, helps.get(n, "")) for n in action.choices if not n.startswith("_")]
            elif action.option_strings:
                takes = action.nargs != 0
                self.options.append((list(action.option_strings), takes, _kind(action, path) if takes else None,
                                     _plain(action.help)))
            elif action.nargs != argparse.REMAINDER:
                self.positionals.append(_kind(action, path))


def _plain(text: Any) -> str:
    return "" if text in (None, argparse.SUPPRESS) else str(text).split(" (")[0].replace("%%", "%")


def _kind(action: argparse.Action, path: tuple[str, ...]) -> Any:
    """What the value of `action` completes to: its choices, neuros, policies, files, dirs, or None."""
    if action.choices is not None:
        return [str(c) for c in action.choices]
    flags = action.option_strings
    if "--policy" in flags or (path[:1] == ("policy",) and action.dest == "name"):
        return POLICIES
    if "--neuro" in flags or action.metavar == "NAME" or action.dest == "to":
        return NEUROS
    if action.metavar in ("FOLDER",) or "--home" in flags or "--dir" in flags:
        return DIRS
    if action.metavar in ("PATH", "FILE", "SCRIPT.py", "NEURO") or action.dest in ("file", "script", "log"):
        return FILES
    return None


def commands(parser: argparse.ArgumentParser) -> list[Command]:
    from .cli import walk

    return [Command(path, p, h) for path, p, h in walk(parser)]


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for `shell`."""
    cmds = commands(parser)
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](cmds)


# -- bash and zsh: one walk over the words typed, in shell functions both can run ---------------

def _q(words: Any) -> str:
    """Words for a shell's single quotes."""
    text = " ".join(words) if not isinstance(words, str) else words
    return "'" + text.replace("'", "'\\''") + "'"


def _tables(cmds: list[Command]) -> str:
    """`_neuro_subs PATH`, `_neuro_opts PATH`, `_neuro_value PATH OPTION`, `_neuro_arg PATH N`:
    the parser's facts as case statements (the same text works in bash and zsh)."""
    def case(name: str, args: str, rows: list[tuple[str, str]]) -> str:
        body = "".join(f"    {_q(k)}) echo {_q(v)} ;;\n" for k, v in rows if v)
        return f"{name}() {{\n  case \"{args}\" in\n{body}  esac\n}}\n"

    def kind(k: Any) -> str:
        return "list:" + " ".join(k) if isinstance(k, list) else (k or "")

    subs = [(c.key, " ".join(n for n, _ in c.subcommands)) for c in cmds]
    opts = [(c.key, " ".join(f for flags, _, _, _ in c.options for f in flags)) for c in cmds]
    values = [(f"{c.key}|{f}", kind(k)) for c in cmds for flags, _, k, _ in c.options if k for f in flags]
    args = [(f"{c.key}|{i}", kind(k)) for c in cmds for i, k in enumerate(c.positionals) if k]
    valued = _valued(cmds)
    return (case("_neuro_subs", "$1", subs) + case("_neuro_opts", "$1", opts)
            + case("_neuro_value", "$1|$2", values) + case("_neuro_arg", "$1|$2", args)
            + f"_neuro_valued={_q(' ' + ' '.join(valued) + ' ')}\n")


def _valued(cmds: list[Command]) -> list[str]:
    """Every flag that takes a value (the walk skips the value after it)."""
    return sorted({f for c in cmds for flags, takes, _, _ in c.options if takes for f in flags})


_WALK = r'''
# The words typed so far: the command path (`daemon start`), the --home given, and how many
# arguments follow the path.
_neuro_walk() {
  _neuro_path="" _neuro_home="" _neuro_npos=0 _neuro_skip=""
  local w
  for w in "$@"; do
    if [[ -n $_neuro_skip ]]; then
      [[ $_neuro_skip == --home ]] && _neuro_home="$w"
      _neuro_skip=""
      continue
    fi
    case "$w" in
      --*=*) [[ ${w%%=*} == --home ]] && _neuro_home="${w#*=}" ;;
      -*) [[ $_neuro_valued == *" $w "* ]] && _neuro_skip="$w" ;;
      *) if [[ " $(_neuro_subs "$_neuro_path") " == *" $w "* ]]; then
           _neuro_path="${_neuro_path:+$_neuro_path }$w"; _neuro_npos=0
         else
           _neuro_npos=$((_neuro_npos + 1))
         fi ;;
    esac
  done
}

# What the current word completes to: a kind (neuros, policies, files, dirs, or list:WORD WORD...).
_neuro_what() {
  local cur="$1"
  if [[ -n $_neuro_skip ]]; then _neuro_value "$_neuro_path" "$_neuro_skip"
  elif [[ $cur == -* ]]; then echo "list:$(_neuro_opts "$_neuro_path")"
  elif [[ -n $(_neuro_subs "$_neuro_path") ]]; then echo "list:$(_neuro_subs "$_neuro_path")"
  else _neuro_arg "$_neuro_path" "$_neuro_npos"
  fi
}

# The words of a kind: names from `neuro __complete` (silent without a daemon), or the list.
_neuro_words() {
  case "$1" in
    neuros|policies) command neuro ${_neuro_home:+--home "$_neuro_home"} __complete "$1" 2>/dev/null ;;
    list:*) echo "${1#list:}" ;;
  esac
}
'''

_BASH_MAIN = r'''
_neuro() {
  local cur="${COMP_WORDS[COMP_CWORD]}" kind
  _neuro_walk "${COMP_WORDS[@]:1:COMP_CWORD-1}"
  kind="$(_neuro_what "$cur")"
  case "$kind" in
    files) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
    dirs) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
    "") COMPREPLY=() ;;
    *) COMPREPLY=($(compgen -W "$(_neuro_words "$kind")" -- "$cur")) ;;
  esac
}
complete -F _neuro neuro
'''

_ZSH_MAIN = r'''
_neuro() {
  local cur="${words[CURRENT]}" kind
  _neuro_walk "${(@)words[2,CURRENT-1]}"
  kind="$(_neuro_what "$cur")"
  case "$kind" in
    files) _files ;;
    dirs) _directories ;;
    "") return 1 ;;
    *) local -a items; items=(${=$(_neuro_words "$kind")}); compadd -- "${items[@]}" ;;
  esac
}

if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
  _neuro "$@"
else
  compdef _neuro neuro
fi
'''


def _bash(cmds: list[Command]) -> str:
    return ("# bash completion for neuro; generated by `neuro completion bash` (do not edit: generate it again).\n"
            "# Install: eval \"$(neuro completion bash)\" in ~/.bashrc\n" + _tables(cmds) + _WALK + _BASH_MAIN)


def _zsh(cmds: list[Command]) -> str:
    return ("#compdef neuro\n# zsh completion for neuro; generated by `neuro completion zsh` (do not edit: generate "
            "it again).\n# Install: neuro completion zsh > \"${fpath[1]}/_neuro\" (or source <(neuro completion zsh) "
            "after compinit)\n" + _tables(cmds) + _WALK + _ZSH_MAIN)


# -- fish: declarative `complete` lines, one condition per command path ------------------------

def _fq(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish(cmds: list[Command]) -> str:
    valued = _valued(cmds)
    lines = ["# fish completion for neuro; generated by `neuro completion fish` (do not edit: generate it again).",
             "# Install: neuro completion fish > ~/.config/fish/completions/neuro.fish",
             "function __neuro_subs",
             "    switch $argv[1]"]
    for c in cmds:
        if c.subcommands:
            lines.append(f"        case {_fq(c.key)}")
            lines.append("            printf '%s\\n' " + " ".join(_fq(n) for n, _ in c.subcommands))
    lines += ["    end", "end", "",
              "# The command path typed so far (`daemon start`); skips options and their values.",
              "function __neuro_path",
              "    set -l tokens (commandline -opc)",
              "    set -e tokens[1]",
              "    set -l p ''",
              "    set -l skip 0",
              "    for w in $tokens",
              "        if test $skip = 1",
              "            set skip 0",
              "            continue",
              "        end",
              "        switch $w",
              "            case '--*=*'",
              "            case '-*'",
              f"                contains -- $w {' '.join(_fq(v) for v in valued)}; and set skip 1",
              "            case '*'",
              "                if contains -- $w (__neuro_subs \"$p\")",
              "                    set p (string trim -- \"$p $w\")",
              "                end",
              "        end",
              "    end",
              "    echo $p",
              "end", "",
              "function __neuro_names",
              "    set -l home (string replace -r -- '^--home=' '' (commandline -opc | string match -r -- '^--home=.*'))",
              "    command neuro $home[1..1] __complete $argv[1] 2>/dev/null",
              "end", "",
              "complete -c neuro -f"]
    for c in cmds:
        cond = f"-n {_fq(f'test (__neuro_path) = {_fq(c.key)}')}"
        for name, help in c.subcommands:
            lines.append(f"complete -c neuro {cond} -a {_fq(name)} -d {_fq(_plain(help))}")
        for flags, takes, kind, help in c.options:
            spec = " ".join(f"-l {f[2:]}" if f.startswith("--") else f"-s {f[1:]}" for f in flags)
            value = _fish_value(kind) if takes else ""
            lines.append(f"complete -c neuro {cond} {spec}{value} -d {_fq(help)}")
        if c.positionals and c.positionals[0] is not None and not c.subcommands:
            lines.append(f"complete -c neuro {cond}{_fish_value(c.positionals[0], positional=True)}")
    return "\n".join(lines) + "\n"


def _fish_value(kind: Any, positional: bool = False) -> str:
    req = "" if positional else " -r"
    if kind is None:
        return req
    if isinstance(kind, list):
        return f" -x -a {_fq(' '.join(kind))}"
    if kind in (NEUROS, POLICIES):
        return f" -x -a {_fq(f'(__neuro_names {kind})')}"
    if kind == DIRS:
        return f" -x -a {_fq('(__fish_complete_directories)')}"
    return f"{req} -F"  # files
