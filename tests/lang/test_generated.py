"""Hypothesis-generated programs: each either compiles or fails with a located LangError,
never another exception; the ones that parse round-trip through the formatter."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuro import lang

from langneuros import ALL
from test_format import EXAMPLES

NAMES = st.sampled_from(["a", "b", "c", "n", "v", "zz"])
NEUROS = st.sampled_from(["inc", "double", "add", "shout", "spread", "ghost", "half", "?"])
FIELDS = st.sampled_from(["x", "items", "text", "left", "nope"])


@st.composite
def expressions(draw, depth=0):
    kind = draw(st.integers(0, 6 if depth < 2 else 2))
    if kind == 0:
        return draw(NAMES)
    if kind == 1:
        return f"{draw(NAMES)}.{draw(FIELDS)}"
    if kind == 2:
        return draw(st.sampled_from(["1", "2.5", '"s"', "true", "none", "[1, 2]"]))
    if kind == 3:
        op = draw(st.sampled_from(["+", "-", "*", "//", "<", "==", "and", "or", "in"]))
        return f"{draw(expressions(depth + 1))} {op} {draw(expressions(depth + 1))}"
    if kind == 4:
        callee = draw(NEUROS)
        if draw(st.booleans()):
            return f"{callee}({draw(expressions(depth + 1))})"
        return f"{callee}({draw(FIELDS)}: {draw(expressions(depth + 1))})"
    if kind == 5:
        return "{" + f"{draw(FIELDS)}: {draw(expressions(depth + 1))}" + "}"
    return f"len({draw(expressions(depth + 1))})"


@st.composite
def statements(draw, depth=0):
    kind = draw(st.integers(0, 5 if depth < 2 else 1))
    if kind == 0:
        return f"{draw(NAMES)} = {draw(expressions())}"
    if kind == 1:
        return f"return {draw(expressions())}"
    body = "\n".join(draw(st.lists(statements(depth + 1), min_size=0, max_size=3)))
    if kind == 2:
        other = "\n".join(draw(st.lists(statements(depth + 1), max_size=2)))
        return f"if {draw(expressions())} {{\n{body}\n}} else {{\n{other}\n}}"
    if kind == 3:
        return f"match {draw(expressions())} {{\n1 => {{\n{body}\n}}\n_ => {{\n}}\n}}"
    if kind == 4:
        return f"for {draw(NAMES)} in {draw(expressions())} limit 3 {{\n{body}\n}}"
    return f"while {draw(expressions())} limit {draw(st.integers(0, 3))} {{\n{body}\n}}"


@st.composite
def programs(draw):
    uses = "\n".join(f"use {n}" for n in draw(st.lists(st.sampled_from(["inc", "double", "add", "shout", "spread",
                                                                          "ghost"]), max_size=4, unique=True)))
    head = draw(st.sampled_from(["net f(n)", "net f(n: N)", "net f(n: N) -> N"]))
    body = "\n".join(draw(st.lists(statements(), min_size=1, max_size=5)))
    extra = draw(st.sampled_from(["", "message N { x: int }\n", "fn half(v: int) -> int = v // 2\n"]))
    return f"{uses}\nmessage N {{ x: int }}\n{extra if 'message' not in extra else ''}{head} {{\n{body}\n}}\n"


def _located_or_compiled(text):
    try:
        lang.compile_source(text, "gen.neuro", neuros=ALL)
    except lang.LangError as e:
        assert e.diagnostics
        for d in e.diagnostics:
            assert d.line is not None and d.line >= 1 and d.column is not None and d.column >= 1, d
            assert d.message
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_a_generated_program_compiles_or_fails_at_a_place(text):
    """A program built from the language's pieces compiles, or every problem has a line and column."""
    if _located_or_compiled(text):
        assert lang.parse(lang.format_source(text)) == lang.parse(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(EXAMPLES)), st.integers(0, 10_000), st.sampled_from(["", "{", "}", "(", ")", "=",
                                                                                       "?", "\n", "x", "1", '"']))
def test_a_mutated_example_compiles_or_fails_at_a_place(name, where, insert):
    """A docs example with one character deleted or replaced compiles, or fails with a located error."""
    text = EXAMPLES[name]
    i = where % len(text)
    _located_or_compiled(text[:i] + insert + text[i + 1:])


@st.composite
def valid_programs(draw):
    """Chains of inc/double over the names before them, with branches, loops and lambdas: all valid."""
    lines, last = [], "n"
    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.integers(0, 4))
        name = f"v{i}"
        if kind == 0:
            lines.append(f"{name} = {draw(st.sampled_from(['inc', 'double']))}({last})")
        elif kind == 1:
            lines.append(f"{name} = {{x: {last}.x * {draw(st.integers(0, 9))} + 1}}")
        elif kind == 2:
            a, b = draw(st.sampled_from(["inc", "double"])), draw(st.sampled_from(["inc", "double"]))
            lines.append(f"if {last}.x > {draw(st.integers(-5, 5))} {{\n{name} = {a}({last})\n}} else {{\n"
                         f"{name} = {b}({last})\n}}")
        elif kind == 3:
            lines.append(f"{name} = {last}\nwhile {name}.x < {draw(st.integers(0, 50))} limit 5 {{\n"
                         f"{name} = double({name})\n}}")
        else:
            lines.append(f"{name} = add(left: {last}.x, right: {draw(st.integers(0, 3))})")
        last = name
    body = "\n".join(lines)
    return f"use inc\nuse double\nuse add\nmessage N {{ x: int }}\nnet f(n: N) {{\n{body}\nreturn {last}\n}}\n"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_programs())
def test_a_generated_valid_program_compiles_and_round_trips(text):
    """Programs valid by construction compile, and their formatted text compiles to the same nets."""
    first = lang.compile_source(text, "gen.neuro", neuros=ALL)
    again = lang.compile_source(lang.format_source(text), "gen.neuro", neuros=ALL)
    assert first.nets["f"].version == again.nets["f"].version
