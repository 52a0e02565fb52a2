"""Errors of Neuro-Lang: each one names the file, line and column, says what is wrong and
what to do, and shows the line with a caret under the spot.

    LangError                 a program that does not compile; `.diagnostics` lists every problem
      Diagnostic              one problem: file, line, column, message, what was expected

A program is checked as a whole: every problem found is reported at once (as a net's build
does), not just the first; only a syntax error stops the parse where it is.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["Diagnostic", "LangError", "Located"]


class Diagnostic(msgspec.Struct, frozen=True):
    """One problem at `file`:`line`:`column` (1-based). `kind`: syntax, name, type, declaration,
    net, hole, version, import, ...; `expected`: what the parser would have taken there;
    `fits`: for a hole, the neuros whose types fit there."""

    kind: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    expected: list[str] = []
    fits: list[str] = []
    source_line: str | None = None

    def render(self) -> str:
        where = f"{self.file or '<text>'}:{self.line or '?'}:{self.column or '?'}"
        text = f"{where}: {self.kind} error: {self.message}"
        if self.expected:
            text += f"\n  expected: {', '.join(self.expected)}"
        if self.source_line is not None and self.column is not None:
            shown = self.source_line.expandtabs(1)
            text += f"\n    {shown}\n    {' ' * (self.column - 1)}^"
        return text


class LangError(ValueError):
    """A Neuro-Lang program that does not compile: every problem, each located."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        head = f"{len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''}"
        super().__init__(f"{head}:\n" + "\n".join(d.render() for d in diagnostics))

    def as_data(self) -> list[dict[str, Any]]:
        return [msgspec.to_builtins(d) for d in self.diagnostics]


class Located:
    """Collects the problems of one source text, each with its line shown."""

    def __init__(self, text: str, file: str | None) -> None:
        self.lines = text.splitlines()
        self.file = file
        self.found: list[Diagnostic] = []

    def add(self, kind: str, message: str, at: Any = None, *, line: int | None = None, column: int | None = None,
            expected: list[str] | None = None, fits: list[str] | None = None) -> None:
        if at is not None:
            line, column = getattr(at, "line", None), getattr(at, "column", None)
        shown = self.lines[line - 1] if line is not None and 0 < line <= len(self.lines) else None
        self.found.append(Diagnostic(kind, message, self.file, line, column, expected or [], fits or [], shown))

    def raise_if_any(self) -> None:
        if self.found:
            raise LangError(sorted(self.found, key=lambda d: (d.file or "", d.line or 0, d.column or 0)))
