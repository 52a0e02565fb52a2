"""The types of a Neuro-Lang file: its `message` declarations made msgspec Structs.

A field type is ``int``, ``float``, ``str``, ``bool``, ``bytes``, ``any``, ``none``,
``list[T]``, ``dict[str, T]``, a union ``T | none``, or a message declared earlier (in this
file or one it imports). A message is a Struct that refuses unknown fields, as every
`sdk.Message` does, so the net checker compares it with a neuro's own types structurally.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

from . import _ast as A
from ._errors import Located

__all__ = ["Types", "SCALARS", "type_text"]

SCALARS: dict[str, Any] = {"int": int, "float": float, "str": str, "bool": bool, "bytes": bytes, "any": Any,
                           "none": type(None), "None": type(None)}


def type_text(t: A.TypeRef) -> str:
    """A type as the formatter writes it."""
    if t.members:
        return " | ".join(type_text(m) for m in t.members)
    return t.name + (f"[{', '.join(type_text(a) for a in t.args)}]" if t.args else "")


def literal_value(e: A.Expr) -> tuple[bool, Any]:
    """(True, value) for a literal (a list of literals too), else (False, None)."""
    if isinstance(e, A.Lit):
        return True, e.value
    if isinstance(e, A.Unary) and e.op == "-" and isinstance(e.operand, A.Lit) \
            and isinstance(e.operand.value, (int, float)) and not isinstance(e.operand.value, bool):
        return True, -e.operand.value
    if isinstance(e, A.ListLit):
        values = [literal_value(i) for i in e.items]
        return (all(ok for ok, _ in values), [v for _, v in values])
    return False, None


class Types:
    """The messages known to one program, by name, as Struct classes."""

    def __init__(self, found: Located) -> None:
        self.found = found
        self.messages: dict[str, type] = {}

    def annotation(self, t: A.TypeRef) -> Any:
        """The Python annotation of `t`, or None after reporting what is wrong with it."""
        if t.members:
            parts = [self.annotation(m) for m in t.members]
            if any(p is None for p in parts):
                return None
            if Any in parts:
                return Any
            return Union[tuple(parts)]  # type: ignore[return-value]
        if t.name in SCALARS and not t.args:
            return SCALARS[t.name]
        if t.name == "list" and len(t.args) == 1:
            item = self.annotation(t.args[0])
            return None if item is None else list[item]  # type: ignore[valid-type]
        if t.name == "dict" and len(t.args) == 2:
            if type_text(t.args[0]) != "str":
                self.found.add("type", f"a dict's keys are str, got {type_text(t.args[0])}", t.args[0])
                return None
            value = self.annotation(t.args[1])
            return None if value is None else dict[str, value]  # type: ignore[valid-type]
        if t.name in ("list", "dict"):
            self.found.add("type", f"{t.name} takes {'one item type: list[T]' if t.name == 'list' else 'dict[str, T]'}",
                           t)
            return None
        if t.name in self.messages and not t.args:
            return self.messages[t.name]
        known = ", ".join([*sorted(k for k in SCALARS if k != "None"), "list[T]", "dict[str, T]", *self.messages])
        self.found.add("type", f"unknown type `{type_text(t)}`: declare `message {t.name} {{ ... }}` before it is "
                               f"used, or use one of: {known}", t)
        return None

    def declare(self, m: A.Message) -> None:
        if m.name in self.messages or m.name in SCALARS:
            self.found.add("declaration", f"message `{m.name}` is declared twice (or is a built-in type); rename it", m)
            return
        fields: list[Any] = []
        seen: set[str] = set()
        ok = True
        for f in m.fields:
            if f.name in seen:
                self.found.add("declaration", f"message `{m.name}` has field `{f.name}` twice", f)
                ok = False
                continue
            seen.add(f.name)
            tp = self.annotation(f.type)
            if tp is None:
                ok = False
                continue
            if f.default is None:
                fields.append((f.name, tp))
                continue
            is_lit, value = literal_value(f.default)
            if not is_lit:
                self.found.add("declaration", f"field `{f.name}`: a default is a literal (a number, a string, true, "
                                              "false, none or a list of them)", f.default)
                ok = False
                continue
            try:
                msgspec.convert(value, tp)
            except (msgspec.ValidationError, TypeError) as e:
                self.found.add("type", f"field `{f.name}`: its default {value!r} is not a {type_text(f.type)}: {e}",
                               f.default)
                ok = False
                continue
            fields.append((f.name, tp, msgspec.field(default_factory=lambda v=value: list(v))
                           if isinstance(value, list) else value))
        if ok:
            required = [f for f in fields if len(f) == 2]
            optional = [f for f in fields if len(f) == 3]
            self.messages[m.name] = msgspec.defstruct(m.name, [*required, *optional], forbid_unknown_fields=True,
                                                      kw_only=True, module="neuro.lang.messages")
