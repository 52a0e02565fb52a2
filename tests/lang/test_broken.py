"""Every broken program of tests/lang/broken/ is refused with its problem at its line and
column, and the message its `# expect:` line pins; none raises anything but LangError."""

from __future__ import annotations

import pathlib
import re

import pytest

from neuro import lang

from langneuros import ALL

BROKEN = sorted((pathlib.Path(__file__).parent / "broken").glob("*.neuro"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+|\?) (\w+): (.+)$")


def test_the_suite_is_there():
    """The suite holds at least 50 broken programs, each with an `# expect:` line."""
    assert len(BROKEN) >= 50
    assert all(EXPECT.match(p.read_text().split("\n", 1)[0]) for p in BROKEN)


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_a_broken_program_is_refused_at_its_place(path):
    """The first problem is at the expected line and column, of the expected kind, with the pinned words."""
    text = path.read_text()
    line, column, kind, words = EXPECT.match(text.split("\n", 1)[0]).groups()
    with pytest.raises(lang.LangError) as caught:
        lang.compile_source(text, str(path), neuros=ALL)
    found = caught.value.diagnostics
    matching = [d for d in found if words in d.message]
    assert matching, f"no problem says {words!r}; got:\n{caught.value}"
    d = matching[0]
    assert (int(line), kind) == (d.line, d.kind)
    if column != "?":
        assert int(column) == d.column
    assert str(path) == d.file
    rendered = d.render()
    assert f"{path}:{d.line}:{d.column}: {kind} error: " in rendered
    assert rendered.endswith(" " * (d.column - 1) + "^")  # the caret under the spot
