"""A message's payload from the command line, typed by the neuro's input schema.

    neuro call echo text=5             # text is a `str` field: the string "5"
    neuro call counter type=add key=a amount=2    # a union: the member whose tag is "add"
    neuro call counter key=a amount=2  # or the one member that has these fields
    neuro call echo '{"text": "hi"}'   # one JSON document, as it is
    neuro call echo -                  # JSON from stdin
    neuro call echo @msg.json          # JSON from a file

In `key=value` pairs each value is read as its field's type says (the JSON Schema
`neuro info` shows): a string as given, an int or a float as a number, a bool from
true/false, a list or an object as JSON, `null` for a field that may be null. Without a
schema (a field of type Any) a value is JSON when it is JSON, else a string. A mistake is a
usage error (exit 2) naming the field and the type it expects.
"""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["parse_payload", "needs_schema", "payload_for"]

_HINT = "give key=value pairs like text=hi, one JSON document like '{\"text\": \"hi\"}', - (stdin) or @file.json"


def _usage(message: str, hint: str = _HINT) -> Exception:
    from .cli import EXIT_USAGE, Problem

    return Problem(message, code=EXIT_USAGE, type="UsageError", hint=hint)


def needs_schema(parts: list[str]) -> bool:
    """Whether `parts` are key=value pairs (which the input schema types), not a document."""
    return bool(parts) and not _is_document(parts)


def _is_document(parts: list[str]) -> bool:
    first = parts[0]
    return len(parts) == 1 and (first == "-" or first.startswith("@") or first[:1] in ("{", "[", '"')
                                or "=" not in first)


def payload_for(session: Any, name: str, parts: list[str]) -> Any:
    """The payload of `parts` for neuro `name`: key=value pairs are typed by its input schema,
    asked of the daemon (`describe` without the log: one cheap round trip)."""
    if not needs_schema(parts):
        return parse_payload(parts)
    details = session.describe(name, log=False)
    return parse_payload(parts, details["input_schema"])


def parse_payload(parts: list[str], schema: dict[str, Any] | None = None) -> Any:
    """A payload from command-line words: nothing ({}), one JSON document (or `-` for stdin,
    `@FILE` for a file), or key=value pairs typed by `schema` (a JSON Schema; None: untyped).
    Raises `Problem` (a usage error, or not found for a missing file) saying what is wrong."""
    if not parts:
        return {}
    if _is_document(parts):
        return _document(parts[0])
    pairs: dict[str, str] = {}
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise _usage(f"expected key=value, got {part!r}")
        if key in pairs:
            raise _usage(f"field `{key}` is given twice ({key}={pairs[key]!r} and {part!r}); give it once")
        pairs[key] = value
    if schema is None:
        return {key: _untyped(value) for key, value in pairs.items()}
    return _typed(pairs, schema)


def _document(word: str) -> Any:
    if word == "-":
        text, where = sys.stdin.read(), "stdin"
    elif word.startswith("@"):
        path = word[1:]
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            from .cli import EXIT_NOT_FOUND, Problem

            raise Problem(f"no payload file {path!r}", code=EXIT_NOT_FOUND, type="NotFound",
                          hint="give the path of a JSON file after @, like @msg.json") from None
        except (OSError, UnicodeDecodeError) as e:
            raise _usage(f"cannot read the payload file {path!r}: {e}") from None
        where = path
    else:
        text, where = word, ""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        shown = f"in {where} " if where else ""
        quoted = "" if where else f": {word!r}"
        raise _usage(f"the payload {shown}is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}){quoted}",
                     "give JSON like '{\"text\": \"hi\"}' or key=value pairs like text=hi") from None


def _untyped(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


# -- typing by the schema -----------------------------------------------------------------------

def _typed(pairs: dict[str, str], schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.get("$defs", {})
    root = _resolve(schema, defs)
    members = [_resolve(m, defs) for m in root.get("anyOf", [])] if "anyOf" in root else [root]
    member = _pick(pairs, root, members, defs)
    props = member.get("properties")
    if not isinstance(props, dict):  # not a Struct of fields: leave the values untyped
        return {key: _untyped(value) for key, value in pairs.items()}
    unknown = [k for k in pairs if k not in props]
    if unknown and member.get("additionalProperties") is False:
        title = member.get("title", "the input")
        raise _usage(f"{title} has no field {', '.join(f'`{k}`' for k in unknown)}; its fields: "
                     f"{', '.join(props) or '(none)'}", "see the fields with `neuro info NAME`")
    out: dict[str, Any] = {}
    for key, value in pairs.items():
        out[key] = _value(key, value, props.get(key, {}), defs) if key in props else _untyped(value)
    tag = _tag_of(root, member)
    if tag is not None and tag[0] not in out:
        out = {tag[0]: tag[1], **out}
    return out


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 32:
        node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        seen += 1
    return node if isinstance(node, dict) else {}


def _tag_of(root: dict[str, Any], member: dict[str, Any]) -> tuple[str, Any] | None:
    """(tag field, tag value) of a union member, from the union's discriminator."""
    field = (root.get("discriminator") or {}).get("propertyName")
    if field is None:
        return None
    values = (member.get("properties", {}).get(field) or {}).get("enum") or []
    return (field, values[0]) if values else None


def _pick(pairs: dict[str, str], root: dict[str, Any], members: list[dict[str, Any]],
          defs: dict[str, Any]) -> dict[str, Any]:
    """The member of a union the pairs are for: by its tag field, else the one member that has
    every field given."""
    if len(members) == 1:
        return members[0]
    field = (root.get("discriminator") or {}).get("propertyName")
    tags = {t[1]: m for m in members if (t := _tag_of(root, m)) is not None}
    if field is not None and field in pairs:
        member = tags.get(pairs[field])
        if member is None:
            raise _usage(f"`{field}` picks the message type: one of {', '.join(map(str, tags))}; got "
                         f"{pairs[field]!r}", "see the types with `neuro info NAME`")
        return member
    fitting = [m for m in members if all(k in (m.get("properties") or {}) for k in pairs)]
    if len(fitting) == 1:
        return fitting[0]
    how = f"give {field}={'|'.join(map(str, tags))}" if field else "give the payload as JSON"
    if not fitting:
        raise _usage(f"no message type of this neuro has the fields {', '.join(f'`{k}`' for k in pairs)}",
                     f"{how}; see the types and their fields with `neuro info NAME`")
    names = ", ".join(m.get("title", "?") for m in fitting)
    raise _usage(f"the fields given fit more than one message type ({names}); {how}",
                 "see the types with `neuro info NAME`")


_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
          "array": "a list", "object": "an object", "null": "null"}


def _value(key: str, text: str, node: dict[str, Any], defs: dict[str, Any]) -> Any:
    """`text` as the field `key` of schema `node` takes it; a usage error saying what it expects."""
    node = _resolve(node, defs)
    options = [_resolve(o, defs) for o in node["anyOf"]] if "anyOf" in node else [node]
    expected: list[str] = []
    for option in sorted(options, key=lambda o: o.get("type") == "string"):  # a string only when nothing else fits
        ok, value, what = _as(text, option)
        if ok:
            return value
        expected.append(what)
    raise _usage(f"field `{key}` expects {' or '.join(dict.fromkeys(expected))}, got {text!r}",
                 f"give {key}=VALUE of that type; see the fields with `neuro info NAME`")


def _as(text: str, node: dict[str, Any]) -> tuple[bool, Any, str]:
    """(fits, value, what it expects) of `text` for one schema option."""
    if "enum" in node or "const" in node:
        values = node.get("enum", [node.get("const")])
        if text in values:
            return True, text, ""
        parsed = _untyped(text)
        if parsed in values and type(parsed) in {type(v) for v in values}:  # True is not 1 here
            return True, parsed, ""
        return False, None, "one of " + ", ".join(json.dumps(v) for v in values)
    kind = node.get("type")
    if kind == "string":
        return True, text, ""
    if kind == "null":
        return (text == "null", None, "null")
    if kind == "boolean":
        lowered = text.lower()
        if lowered in ("true", "false"):
            return True, lowered == "true", ""
        return False, None, "true or false"
    if kind in ("integer", "number"):
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, None, _NAMES[kind]
        if kind == "integer":
            if isinstance(value, float):
                if not value.is_integer() or "." in text or "e" in text.lower():
                    return False, None, "an integer"
                value = int(value)
            return True, value, ""
        return True, float(value), ""  # a float field: 2 is 2.0
    if kind in ("array", "object"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return False, None, f"{_NAMES[kind]} (as JSON)"
        if isinstance(value, list if kind == "array" else dict):
            return True, value, ""
        return False, None, f"{_NAMES[kind]} (as JSON)"
    return True, _untyped(text), ""  # Any, or a type JSON Schema does not name: as before
