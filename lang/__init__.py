"""Neuro-Lang: a small language for nets of neuros, compiled to Neuro-Nets (docs/lang.md).

    from neuro import lang

    program = lang.compile_source(text, "pipeline.neuro", kernel=k)   # or lang.compile_file(path, ...)
    await k.spawn(program.nets["pipeline"].neuro())                    # a net is a neuro
    print(lang.format_source(text))                                    # the formatter

`LangError` lists every problem, each with its file, line, column and a caret; a hole `?`
is such a problem that lists the neuros whose types fit there.
"""

from ._errors import Diagnostic, LangError
from ._format import format_module, format_source
from ._parser import grammar_text, parse
from ._program import Program, compile_file, compile_source, read_sources

SUFFIX = ".neuro"

__all__ = ["parse", "compile_source", "compile_file", "read_sources", "Program", "LangError", "Diagnostic",
           "format_source", "format_module", "grammar_text", "SUFFIX"]
