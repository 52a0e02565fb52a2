"""Output through the real `neuro` command: --jsonl, --csv, -q, --wide against cutting to the
terminal, dates in tables and epoch seconds in JSON, and colour: on a terminal, never in a
pipe, under NO_COLOR, or with --color never (and always with --color always)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import tempfile

import pytest

from neuro.shell import daemon as d

from .conftest import in_pty, neuro_cmd

ESC = "\x1b["


@pytest.fixture(scope="module")
def shared():
    """A running daemon with `echo` spawned, for the whole module."""
    home = tempfile.mkdtemp(prefix="no", dir="/tmp")
    st = d.State(home)
    d.start(st)
    done = neuro_cmd("spawn", "neuro.neuros.echo:Echo", home=home)
    assert 0 == done.returncode, done.stderr
    yield st
    if d.running_pid(st) is not None:
        d.stop(st, grace=10)
    shutil.rmtree(home, ignore_errors=True)


def table_header(text: str) -> list[str]:
    return text.splitlines()[0].split()


def test_jsonl_prints_one_object_per_line_with_the_json_keys(shared):
    """`ps --jsonl`: one JSON object a line, each the same record as in `--json`'s list."""
    lines = neuro_cmd("ps", "--jsonl", home=shared.home).stdout.splitlines()
    as_list = json.loads(neuro_cmd("ps", "--json", home=shared.home).stdout)
    assert [p["name"] for p in as_list] == [json.loads(line)["name"] for line in lines]


def test_csv_has_the_wide_tables_columns_and_one_row_per_process(shared):
    """`ps --csv`: a header of the column names `ps --wide` shows, then one row per process."""
    table = neuro_cmd("ps", "--wide", home=shared.home).stdout
    rows = list(csv.reader(io.StringIO(neuro_cmd("ps", "--csv", home=shared.home).stdout)))
    assert (table_header(table), ["echo"]) == (rows[0], [r[rows[0].index("name")] for r in rows[1:]])


@pytest.mark.parametrize("args, rows", [
    (["ps", "--wide"], lambda doc: doc), (["daemon", "status"], lambda doc: doc["neuros"]),
    (["logs", "--list-boots"], lambda doc: doc), (["logs", "--wide"], lambda doc: doc),
])
def test_a_tables_columns_are_named_as_its_json_keys(shared, args, rows):
    """Each column of `ps`, `daemon status`'s neuros, `logs --list-boots` and `logs` is a key
    of the same command's --json records (dead_letters, not dead)."""
    neuro_cmd("call", "echo", "text=hi", home=shared.home)
    keys = set(rows(json.loads(neuro_cmd(*args, "--json", home=shared.home).stdout))[0])
    lines = neuro_cmd(*args, home=shared.home).stdout.splitlines()
    header = lines[next(i for i, line in enumerate(lines) if line.startswith("---")) - 1]  # the first table's
    assert [] == [column for column in header.split() if column not in keys]


def test_quiet_prints_versions_whole(shared):
    """`versions echo -q`: each version id whole, one a line (the table cuts them to 12)."""
    ids = neuro_cmd("versions", "echo", "-q", home=shared.home).stdout.split()
    full = [v["version"] for v in json.loads(neuro_cmd("versions", "echo", "--json", home=shared.home).stdout)]
    assert full == ids


def test_tables_show_dates_and_json_epoch_seconds(shared):
    """A table's `time` is a local date (YYYY-MM-DD HH:MM:SS.mmm); JSON keeps the float."""
    table = neuro_cmd("versions", "echo", "--wide", home=shared.home).stdout
    doc = json.loads(neuro_cmd("versions", "echo", "--json", home=shared.home).stdout)
    assert (True, True) == (bool(re.search(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\b", table)),
                            isinstance(doc[0]["time"], float))


def test_a_table_is_cut_to_columns_and_whole_with_wide(tmp_path):
    """COLUMNS=120: every line fits, a long cell ends in `…`; --wide (or --no-trunc): uncut."""
    env = {"COLUMNS": "120"}
    cut = neuro_cmd("policy", "show", home=tmp_path, env=env).stdout.splitlines()
    wide = neuro_cmd("policy", "show", "--wide", home=tmp_path, env=env).stdout.splitlines()
    no_trunc = neuro_cmd("policy", "show", "--no-trunc", home=tmp_path, env=env).stdout
    assert (True, True, True, False) == (all(len(line) <= 120 for line in cut), any("…" in line for line in cut),
                                         max(map(len, wide)) > 120, "…" in no_trunc)


def test_a_pipe_gets_whole_cells_without_columns(tmp_path):
    """Piped, with no $COLUMNS, nothing is cut (grep sees every cell)."""
    env = {"COLUMNS": ""}
    piped = neuro_cmd("policy", "show", home=tmp_path, env=env).stdout
    wide = neuro_cmd("policy", "show", "--wide", home=tmp_path, env=env).stdout
    assert wide == piped


# -- colour --------------------------------------------------------------------------------------

def test_states_are_coloured_on_a_terminal(shared):
    """On a terminal `neuro ps` paints `running` green."""
    code, term, _ = in_pty("ps", home=shared.home, stream="stdout")
    assert (0, True) == (code, f"{ESC}32mrunning{ESC}0m" in term)


@pytest.mark.parametrize("args, env", [((), {"NO_COLOR": "1"}), (("--color", "never"), {}),
                                       (("--color=never",), {})])
def test_no_colour_under_no_color_or_color_never(shared, args, env):
    """NO_COLOR set, or --color never: plain text even on a terminal."""
    code, term, _ = in_pty("ps", *args, home=shared.home, stream="stdout", env=env)
    assert (0, True, False) == (code, "running" in term, ESC in term)


def test_no_colour_in_a_pipe_and_colour_with_always(shared):
    """Piped: no escape codes; --color always: escape codes even in a pipe."""
    plain = neuro_cmd("ps", home=shared.home).stdout
    forced = neuro_cmd("--color", "always", "ps", home=shared.home).stdout
    assert (False, True) == (ESC in plain, f"{ESC}32mrunning" in forced)


def test_errors_are_red_on_a_terminal_and_plain_in_a_pipe(shared):
    """`error:` is red when stderr is a terminal, plain when it is a pipe."""
    code, term, _ = in_pty("stop", "nope", home=shared.home, stream="stderr")
    piped = neuro_cmd("stop", "nope", home=shared.home)
    assert (5, True, 5, True, False) == (code, f"{ESC}31merror:{ESC}0m" in term, piped.returncode,
                                         piped.stderr.startswith("neuro stop: error: no neuro named 'nope'"),
                                         ESC in piped.stderr)
