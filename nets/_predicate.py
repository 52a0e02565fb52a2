"""Predicate-neuro conditions: an edge's ``when = "@NAME"`` asks the neuro NAME whether it fires.

The predicate gets the edge's source node's whole output (what a `when` expression reads) and
answers a bool, or a message with exactly one `bool` field (its value decides). Checked at
build: NAME must be a known neuro, the source's type must fit its input, and its output must
be bool-like; each problem names the edge and both types. Its version is part of the net's
version (a swap of the predicate makes a new net), and the runner re-checks the net when the
predicate runs another version, as for a node.
"""

from __future__ import annotations

from typing import Any

import msgspec.inspect as mi

from ._types import misfit, type_name

__all__ = ["NeuroCondition", "is_predicate", "bool_field", "check"]

PREFIX = "@"


def is_predicate(text: str | None) -> bool:
    return isinstance(text, str) and text.strip().startswith(PREFIX)


class NeuroCondition:
    """An edge's `when` that names a neuro (`@NAME`); resolved and checked at build."""

    __slots__ = ("text", "neuro", "input", "output", "version", "field", "names")

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self.neuro = self.text[len(PREFIX):].strip()
        self.input: Any = Any
        self.output: Any = Any
        self.version = ""
        self.field: str | None = None  # the bool field of a message answer; None: the answer is a bool
        self.names = frozenset({PREFIX})  # reads the input: never a constant the plan may prune

    def holds(self, answer: Any) -> bool:
        """The answer's truth: the bool, or the message's bool field."""
        if self.field is not None:
            answer = answer[self.field] if isinstance(answer, dict) else getattr(answer, self.field)
        if not isinstance(answer, bool):
            raise TypeError(f"predicate {self.neuro!r} answered {answer!r}, not a bool")
        return answer


def bool_field(tp: Any) -> tuple[bool, str | None]:
    """(bool-like, field): `bool` itself, or a message type with exactly one `bool` field."""
    if tp is bool:
        return True, None
    info = mi.type_info(tp) if tp is not Any else None
    if isinstance(info, mi.StructType):
        found = [f.encode_name for f in info.fields if isinstance(f.type, mi.BoolType)]
        if len(found) == 1:
            return True, found[0]
    return False, None


def check(cond: NeuroCondition, edge_text: str, source: Any) -> list[tuple[str, str, str | None, str | None]]:
    """What is wrong with `cond` on an edge whose source has type `source`: (kind, message,
    source type, target type) each."""
    found = []
    why = misfit(source, cond.input)
    if why is not None:
        found.append(("type", f"edge {edge_text}: `when` neuro {cond.neuro!r} takes {type_name(cond.input)}, but "
                      f"the edge's source gives {type_name(source)}: {why}", type_name(source), type_name(cond.input)))
    ok, field = bool_field(cond.output)
    if not ok:
        found.append(("type", f"edge {edge_text}: `when` neuro {cond.neuro!r} answers {type_name(cond.output)}, "
                      "not a bool nor a message with exactly one bool field; make it answer one",
                      type_name(cond.output), "bool"))
    cond.field = field
    return found
