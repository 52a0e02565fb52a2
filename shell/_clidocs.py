"""docs/cli.md, rendered from the parser: every command with its description, usage, arguments
and example, the output options, the output formats and the exit-code table. A test
(tests/test_cli.py) compares the committed file with this render, so a command added without
help or example, or a changed option, shows there. Regenerate after changing a command:

    .venv/bin/python -m neuro.shell._clidocs > docs/cli.md
"""

from __future__ import annotations

import argparse
from typing import Any

WIDTH = 100  # usage lines are wrapped at this width, whatever the terminal (the render must not vary)
SHARED = frozenset({"output", "wide", "color", "home", "help"})  # the output options, documented once

INTRO = """\
# The `neuro` command

Every command, its arguments and an example, rendered from the parser by `shell/_clidocs.py`
(do not edit by hand: run `.venv/bin/python -m neuro.shell._clidocs > docs/cli.md`; a test
checks that this file matches). `neuro COMMAND --help` prints the same, and `neuro completion
bash|zsh|fish` prints a completion script.
"""

FORMATS = """\
## Output

Every command takes the output options, before or after the command: `neuro --json ps` and
`neuro ps --json` are the same.

{options}

- **table** (the default): columns named as the JSON keys; times as local dates
  (`2026-12-02 07:31:05.123`); cut to the terminal's width (or `$COLUMNS`), whole with `--wide`
  or when the output is a pipe or a file. Names, ids and states are never cut, nor a last
  `error` column (a broken file's file:line): it runs on past the edge. States and errors are
  coloured on a terminal, never in a pipe, under `NO_COLOR` or with `--color never`.
- **--json**: one JSON document (a listing is a list of objects; times are epoch seconds). An
  error is one object on stdout too: `{{"error": {{"type", "message", "hint", "exit_code"}}}}`,
  with `data` (the error's own fields) and, for a neuro's error, `cause` (type, message,
  traceback, neuro, path).
- **--jsonl**: one JSON object per line, what follow modes (`logs -f`, `subscribe`) stream.
- **--csv**: a header row, then one row per item, with the columns a table shows only with
  `--wide` (`ps`: busy_time, energy).
- **-q / --quiet**: names or ids only, one per line, for `xargs` and shell loops.

```console
$ neuro ps
pid  name  state    version   policy   sandbox  mailbox  received  handled  errors  dead_letters  restarts  error
---  ----  -------  --------  -------  -------  -------  --------  -------  ------  ------------  --------  -----
1    echo  running  986d1123  trusted  inproc   0/4096   0         0        0       0             0
$ neuro ps -q
echo
$ neuro --csv ps
pid,name,state,version,policy,sandbox,mailbox,received,handled,errors,dead_letters,restarts,busy_time,energy,error
1,echo,running,986d1123,trusted,inproc,0/4096,0,0,0,0,0,0.0,0 J est,
$ neuro ps -q | xargs -n1 neuro restart
```

A closed pipe ends a command quietly with exit 0 (`neuro logs | head -1`), as `git log | head` does.
"""

EXITS = """\
## Exit codes

The same failure has the same exit code in every command.

| code | meaning |
|---|---|
{rows}

```console
$ neuro stop nope; echo $?
neuro stop: error: no neuro named 'nope' is running
hint: see the running neuros with `neuro ps`
5
```
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    return _cell(formatter._expand_help(action)) if action.help else ""


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    if action.nargs == 0:
        return ", ".join(f"`{o}`" for o in action.option_strings)
    metavar = action.metavar or (("{" + ",".join(map(str, action.choices)) + "}") if action.choices
                                 else action.dest.upper())
    return ", ".join(f"`{o} {metavar}`" for o in action.option_strings)


def _usage(parser: argparse.ArgumentParser, own: list[argparse.Action]) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=WIDTH)
    formatter.add_usage(None, own, [])
    return formatter.format_help().strip()


def _command(path: tuple[str, ...], parser: argparse.ArgumentParser, summary: str | None) -> str:
    own = [a for a in parser._actions if a.dest not in SHARED]
    subs = [a for a in own if isinstance(a, argparse._SubParsersAction)]
    args = [a for a in own if not isinstance(a, argparse._SubParsersAction)]
    out = [f"### `neuro {' '.join(path)}`", "", (parser.description or summary or "").strip(), ""]
    out += ["```", _usage(parser, own), "```", ""]
    if subs:
        out += ["| action | what it does |", "|---|---|"]
        for choice in subs[0]._choices_actions:
            out.append(f"| [`{choice.dest}`](#neuro-{'-'.join(path)}-{choice.dest}) | {_cell(choice.help or '')} |")
        out.append("")
    if args:
        out += ["| argument | what it does |", "|---|---|"]
        out += [f"| {_flags(a)} | {_help(parser, a)} |" for a in args]
        out.append("")
    example = (parser.epilog or "").removeprefix("example: ").strip()
    if example:
        out += ["Example:", "", "```console", f"$ {example}", "```", ""]
    return "\n".join(out)


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """docs/cli.md as the parser describes the commands now."""
    from .cli import EXIT_TABLE, _parser, output_options, walk

    parser = parser or _parser()
    commands = list(walk(parser))[1:]
    index = ["## Commands", "", "| command | what it does |", "|---|---|"]
    index += [f"| [`neuro {' '.join(p)}`](#neuro-{'-'.join(p)}) | {_cell(h or '')} |" for p, _, h in commands]
    common = output_options(defaults=True)
    options = ["| option | what it does |", "|---|---|"]
    options += [f"| {_flags(a)} | {_help(common, a)} |" for a in common._actions if a.dest in SHARED - {"help"}]
    exits = "\n".join(f"| {code} | {_cell(meaning)} |" for code, meaning in EXIT_TABLE)
    parts = [INTRO, FORMATS.format(options="\n".join(options)), EXITS.format(rows=exits), "\n".join(index) + "\n"]
    parts += [_command(p, sub, h) for p, sub, h in commands]
    return "\n".join(parts).rstrip() + "\n"


def main() -> Any:
    import sys

    sys.stdout.write(render())


if __name__ == "__main__":
    main()
