"""A call form from a neuro's input type: its JSON Schema as members (a union's types, each
a choice) and typed fields, with defaults, and the payload a filled form makes.

The schema comes from the kernel through the client (`Client.describe(name)`, whose answer
carries the input type's JSON Schema as msgspec writes it: `msgspec.json.schema`). Where the kernel
does not give one, the form is a single JSON field and the kernel's answer to a bad payload
names the field that is wrong. Pure data, no textual.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

__all__ = ["Field", "Member", "FormError", "members", "payload", "input_schema", "NO_DEFAULT"]

NO_DEFAULT = object()
_SCALARS = {"integer", "number", "string", "boolean"}


class FormError(ValueError):
    """A field of the form does not hold what its type needs; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Field(msgspec.Struct):
    """One input of the form: `kind` is integer, number, string, boolean, enum or json."""

    name: str
    kind: str
    required: bool = True
    default: Any = NO_DEFAULT
    choices: list[Any] = []
    description: str = ""

    def default_text(self) -> str:
        if self.default is NO_DEFAULT or self.default is None:
            return ""
        if self.kind in ("json",):
            return json.dumps(self.default)
        return str(self.default)


class Member(msgspec.Struct):
    """One type the neuro takes: its `title` and fields; `tag` is a union member's (field, value)."""

    title: str
    fields: list[Field]
    tag: tuple[str, Any] | None = None


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return defs.get(ref.rsplit("/", 1)[1], {})
    return node


def _field(name: str, node: dict[str, Any], defs: dict[str, Any], required: bool) -> Field:
    node = _resolve(node, defs)
    description = node.get("description", "") or node.get("title", "")
    default = node.get("default", NO_DEFAULT)
    options = node.get("anyOf")
    if isinstance(options, list):  # `int | None`: the one type that is not null, optional
        real = [o for o in options if _resolve(o, defs).get("type") != "null"]
        if len(real) == 1 and len(options) == 2:
            inner = _field(name, real[0], defs, False)
            inner.default = default if default is not NO_DEFAULT else inner.default
            return inner
        return Field(name, "json", required, default, description=description)
    if "enum" in node:
        return Field(name, "enum", required, default, choices=list(node["enum"]), description=description)
    kind = node.get("type")
    if kind in _SCALARS:
        return Field(name, kind, required, default, description=description)
    return Field(name, "json", required, default, description=description)


def _member(title: str, node: dict[str, Any], defs: dict[str, Any], tag_field: str | None) -> Member:
    node = _resolve(node, defs)
    props = node.get("properties", {})
    required = set(node.get("required", []))
    tag = None
    fields = []
    for name, prop in props.items():
        prop_r = _resolve(prop, defs)
        if name == tag_field and "enum" in prop_r and len(prop_r["enum"]) == 1:
            tag = (name, prop_r["enum"][0])
            continue
        fields.append(_field(name, prop, defs, name in required))
    return Member(node.get("title", title), fields, tag)


def members(schema: dict[str, Any] | None) -> list[Member]:
    """The types a neuro with this input schema takes (one, or a union's members), each with
    its fields; a single free JSON field when there is no schema."""
    if not schema:
        return [Member("payload (JSON)", [Field("payload", "json", True, {})])]
    defs = schema.get("$defs", {})
    root = _resolve(schema, defs)
    options = root.get("anyOf") or root.get("oneOf")
    if isinstance(options, list):
        tag_field = (root.get("discriminator") or {}).get("propertyName")
        return [_member(_resolve(o, defs).get("title", f"member {i}"), o, defs, tag_field)
                for i, o in enumerate(options)]
    if root.get("type") == "object" or "properties" in root:
        return [_member(root.get("title", "payload"), root, defs, None)]
    return [Member("payload (JSON)", [Field("payload", "json", True)])]


def _value(field: Field, text: Any) -> Any:
    if field.kind == "boolean":
        return bool(text)
    if field.kind == "enum":
        return text
    text = str(text).strip()
    try:
        if field.kind == "integer":
            return int(text)
        if field.kind == "number":
            return float(text)
        if field.kind == "json":
            return json.loads(text)
    except ValueError as e:
        raise FormError(field.name, f"expected {'JSON' if field.kind == 'json' else field.kind}, got {text!r}"
                        f"{f' ({e})' if field.kind == 'json' else ''}") from None
    return text


def payload(member: Member, values: dict[str, Any]) -> Any:
    """The payload a filled form makes: each field's text as its type; an empty optional field
    is left out (its default applies). A free JSON form is its JSON value itself."""
    if len(member.fields) == 1 and member.fields[0].name == "payload" and member.title == "payload (JSON)":
        field = member.fields[0]
        return _value(field, values.get(field.name, "") or "{}")
    out: dict[str, Any] = {}
    if member.tag is not None:
        out[member.tag[0]] = member.tag[1]
    for field in member.fields:
        raw = values.get(field.name)
        blank = raw is None or (isinstance(raw, str) and not raw.strip())
        if blank and not (field.kind == "string" and raw is not None and field.required):
            if field.required:
                raise FormError(field.name, "is required")
            continue  # left out: its default applies
        out[field.name] = _value(field, raw)
    return out


def _schema_of(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict) and any(k in value for k in ("$ref", "properties", "anyOf", "type", "$defs")):
        return value
    return None


async def input_schema(client: Any, name: str) -> dict[str, Any] | None:
    """The JSON Schema of `name`'s input, as the kernel gives it: `describe(name)`'s
    ``input_schema`` where the client has it, else whatever `info(name)` carries (None: none)."""
    describe = getattr(client, "describe", None)
    info = await (describe(name, log=False) if describe is not None else client.info(name))
    data = info if isinstance(info, dict) else msgspec.to_builtins(info) if isinstance(info, msgspec.Struct) else {}
    for key in ("input_schema", "input", "schema"):
        found = _schema_of(data.get(key)) if isinstance(data, dict) else None
        if found is not None:
            return found
    return None
