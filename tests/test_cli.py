"""The `neuro` command, run as a real subprocess from the project's venv."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NEURO = REPO / ".venv" / "bin" / "neuro"


def neuro_cmd(*args, cwd):
    return subprocess.run([str(NEURO), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_demo_json_reports_every_message_with_one_outcome(tmp_path):
    """`neuro demo --calls 50 --json` exits 0 and its JSON says ok, every message having one outcome."""
    log = tmp_path / "demo.db"
    done = neuro_cmd("demo", "--calls", "50", "--json", "--log", str(log), cwd=tmp_path)
    assert (0, "") == (done.returncode, done.stderr)
    summary = json.loads(done.stdout)
    assert (True, str(log)) == (summary["ok"], summary["log"])
    assert summary["accepted"] == summary["with_one_outcome"]
    assert summary["accepted"] > 50
    assert "50 calls to echo" == summary["steps"][0]["what"]
    results = {step["what"].split(":")[0]: step["result"] for step in summary["steps"]}
    assert [] == [what for what, result in results.items() if result.startswith("FAILED")]
    assert "joined(5) = 16" in results["nets"] and "joined_lang(7) = 22" in results["Neuro-Lang"]
    assert "REFUSED" in results["privacy"] or results["privacy"].startswith("skipped: bubblewrap")
    assert "17 paradigms registered" in results["paradigms"], results["paradigms"]


def test_demo_prints_a_summary_table(tmp_path):
    """`neuro demo` without --json ends with the summary table read back from the log."""
    done = neuro_cmd("demo", "--calls", "5", "--log", str(tmp_path / "demo.db"), cwd=tmp_path)
    assert 0 == done.returncode
    assert "Summary (read back from the event log)" in done.stdout
    assert "every one has exactly one outcome" in done.stdout


@pytest.mark.parametrize("value, message", [
    ("0", "argument --calls: expected a number of at least 1, got 0"),
    ("x", "argument --calls: expected a whole number, got 'x'"),
])
def test_a_bad_calls_value_is_a_usage_error(tmp_path, value, message):
    """`--calls` that is not a positive whole number exits 2 with one message on stderr, no traceback."""
    done = neuro_cmd("demo", "--calls", value, cwd=tmp_path)
    assert 2 == done.returncode
    assert "" == done.stdout
    assert f"neuro demo: error: {message}" == done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr


def test_no_arguments_prints_the_help(tmp_path):
    """`neuro` alone prints the help, listing the commands, and exits as a usage error (2)."""
    done = neuro_cmd(cwd=tmp_path)
    assert 2 == done.returncode
    assert done.stdout.startswith("usage: neuro")
    assert "demo" in done.stdout


@pytest.mark.parametrize("args, example", [
    (["--help"], "example: neuro demo"),
    (["-h"], "example: neuro demo"),
    (["demo", "--help"], "example: neuro demo --calls 5000 --log /tmp/demo.db"),
])
def test_help_shows_an_example(tmp_path, args, example):
    """`neuro --help` and `neuro demo --help` exit 0 and end with an example command."""
    done = neuro_cmd(*args, cwd=tmp_path)
    assert 0 == done.returncode
    assert example == done.stdout.strip().splitlines()[-1]


def test_an_unknown_command_is_a_usage_error(tmp_path):
    """`neuro frobnicate` exits 2 naming the command, without a traceback."""
    done = neuro_cmd("frobnicate", cwd=tmp_path)
    assert 2 == done.returncode
    assert "invalid choice: 'frobnicate'" in done.stderr
    assert "Traceback" not in done.stderr


def test_docs_cli_md_is_the_render_of_the_parser():
    """docs/cli.md is what shell/_clidocs.py renders from the parser now: a command, option or
    help text changed without regenerating it fails here."""
    from neuro.shell._clidocs import render

    committed = (REPO / "docs" / "cli.md").read_text()
    assert render() == committed, "regenerate it: .venv/bin/python -m neuro.shell._clidocs > docs/cli.md"


def test_every_command_has_help_an_example_and_a_section_in_the_docs():
    """Each (sub)command has a one-line help, an `example:` epilog, and its heading in docs/cli.md."""
    from neuro.shell.cli import _parser, walk

    docs = (REPO / "docs" / "cli.md").read_text()
    missing = [" ".join(path) for path, parser, help in list(walk(_parser()))[1:]
               if not help or not (parser.epilog or "").startswith("example: ") or "neuro " not in parser.epilog
               or f"### `neuro {' '.join(path)}`" not in docs]
    assert [] == missing


def test_the_docs_list_every_exit_code():
    """The exit-code table of docs/cli.md has a row for each code of cli.EXIT_TABLE."""
    from neuro.shell.cli import EXIT_TABLE

    docs = (REPO / "docs" / "cli.md").read_text()
    assert [] == [code for code, meaning in EXIT_TABLE if f"| {code} | {meaning}" not in docs]
