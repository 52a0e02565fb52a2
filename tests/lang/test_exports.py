"""neuro.lang exports exactly its documented names, and the grammar is package data."""

from __future__ import annotations

import importlib.resources

from neuro import lang


def test_the_public_names_are_exactly_these():
    """The public API is small: compile, parse, format, the errors and the suffix."""
    assert ["Diagnostic", "LangError", "Program", "SUFFIX", "compile_file", "compile_source", "format_module",
            "format_source", "grammar_text", "parse", "read_sources"] == sorted(lang.__all__)


def test_the_grammar_is_one_file_shipped_with_the_package():
    """grammar.lark is read from the installed package, and it is what the parser uses."""
    text = importlib.resources.files("neuro.lang").joinpath("grammar.lark").read_text()
    assert text == lang.grammar_text()
    assert "start: _item*" in text
