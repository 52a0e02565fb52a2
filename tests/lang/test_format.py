"""The formatter round-trips over every example (docs/lang.md and tests/lang/broken/ where
it parses), keeps every comment, changes nothing the second time, and leaves a file that
does not parse as it is; the docs' examples compile, and the docs carry the grammar file."""

from __future__ import annotations

import pathlib
import re

import pytest

from neuro import lang

from langneuros import ALL
from running import compile_and_call

ROOT = pathlib.Path(__file__).parents[2]
DOC = (ROOT / "docs" / "lang.md").read_text()
EXAMPLES = {m.group(1): m.group(0)[len("```neuro\n"):-3]
            for m in re.finditer(r"```neuro\n# example: (\w+)\n.*?```", DOC, re.S)}
BROKEN = sorted((pathlib.Path(__file__).parent / "broken").glob("*.neuro"))


def _parses(text):
    try:
        lang.parse(text)
        return True
    except lang.LangError:
        return False


ALL_TEXTS = {**{f"doc:{k}": v for k, v in EXAMPLES.items()},
             **{f"broken:{p.stem}": p.read_text() for p in BROKEN if _parses(p.read_text())}}


def test_the_docs_have_examples_and_the_grammar_file():
    """docs/lang.md holds at least 4 examples and the grammar, as the file has it."""
    assert len(EXAMPLES) >= 4
    assert f"```lark\n{lang.grammar_text()}```" in DOC


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_docs_example_compiles(name):
    """Every example of docs/lang.md compiles against the test neuros."""
    program = lang.compile_source(EXAMPLES[name], f"{name}.neuro", neuros=ALL)
    assert program.nets


def test_the_first_docs_example_gives_what_the_docs_say(tmp_path):
    """pipeline on x=3 gives x=5, as docs/lang.md prints."""
    [out] = compile_and_call(tmp_path, EXAMPLES["pipeline"], [{"x": 3}], file="pipeline.neuro")
    assert 5 == out.x


@pytest.mark.parametrize("name", sorted(ALL_TEXTS))
def test_formatting_round_trips(name):
    """format(text) parses to the same tree as text, format is idempotent, and no comment is lost."""
    text = ALL_TEXTS[name]
    formatted = lang.format_source(text)
    assert lang.parse(text) == lang.parse(formatted)
    assert formatted == lang.format_source(formatted)
    comments = [c for _, _, c in lang.parse(text).comments]
    assert comments == [c for _, _, c in lang.parse(formatted).comments]


def test_the_layout_is_the_one_layout():
    """Spacing, blank lines between declarations, four-space blocks, parentheses only where needed."""
    messy = "use inc\nuse double\nmessage N{x:int,y:list[int]|none=none}\nnet f(n:N)->N deadline 5{\na=inc(n)#c\n" \
            "if (a.x+1)*2>3 and not(a.x<0){return a}else{return double(a)}}\n"
    assert ("use inc\nuse double\n\nmessage N {\n    x: int,\n    y: list[int] | none = none,\n}\n\n"
            "net f(n: N) -> N deadline 5.0 {\n    a = inc(n)  #c\n    if (a.x + 1) * 2 > 3 and not a.x < 0 {\n"
            "        return a\n    } else {\n        return double(a)\n    }\n}\n") == lang.format_source(messy)


def test_a_file_that_does_not_parse_is_not_formatted():
    """fmt of a broken file raises the located syntax error (the CLI then leaves the file as it is)."""
    with pytest.raises(lang.LangError) as caught:
        lang.format_source("net f(n) {\n    return (n\n}\n", "b.neuro")
    assert (3, 1) == (caught.value.diagnostics[0].line, caught.value.diagnostics[0].column)


def test_ray_graph_is_a_net_option_that_reaches_the_net_and_round_trips():
    """`ray_graph true` (docs/ray.md): the compiled net asks for a Ray compiled graph; the
    formatter keeps the option; left out, the net does not ask."""
    from running import formatted_once

    text = 'use shout\nnet loud(t) ray_graph true { a = shout(t) return shout(a) }'
    assert "net loud(t) ray_graph true {" in formatted_once(text)
    assert lang.compile_source(text, "loud.neuro", neuros=ALL).nets["loud"].decl.ray_graph is True
    plain = text.replace(" ray_graph true", "")
    assert lang.compile_source(plain, "loud.neuro", neuros=ALL).nets["loud"].decl.ray_graph is False
