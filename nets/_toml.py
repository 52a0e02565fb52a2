"""Nets in TOML files (``NAME.net.toml``): read with tomllib into a `Net` declaration.

    [net]
    name = "pipeline"
    deadline = 10                 # seconds for the whole run (default 30)
    memo = true                   # reuse results by (input hash, node version)
    ray_graph = false             # a chain of Ray-placed nodes as one Ray compiled graph
    edges = ["in -> clean", "clean -> words", "words.n -> out.count"]

    [input]                       # the net's input fields (optional: else taken from its nodes)
    text = "str"

    [nodes.clean]
    neuro = "text.clean"          # or: map = "name" (+ limit), loop = "name" (+ until, max),
                                  # net = "other.net.toml", lambda = { n = "len(words)" },
                                  # publish = "topic" (its input, published; a sink)
    [[edge]]
    from = "clean.text"
    to = "out.text"
    when = "len(text) > 0"

Field types are a small language of their own: ``int``, ``float``, ``str``, ``bool``,
``bytes``, ``any``, ``list[T]``, ``dict[str, T]`` and ``T | None``. Lambdas are the
expression language of `_expr` (parsed, never evaluated as Python), so a file nobody
vetted runs nothing but the neuros it names, under their own policies. Unknown keys are
errors naming the table and the keys known there.
"""

from __future__ import annotations

import os
import tomllib
from typing import Any

import msgspec

from neuro._net import Net

__all__ = ["NetFileError", "read_toml", "load_toml", "parse_type", "SUFFIX"]

SUFFIX = ".net.toml"
_NODE_KINDS = ("neuro", "map", "loop", "net", "lambda", "publish")
_NODE_KEYS = {*_NODE_KINDS, "limit", "until", "max", "memo", "timeout", "description"}
_NET_KEYS = {"name", "deadline", "memo", "edges", "chain", "description", "ray_graph"}
_TOP_KEYS = {"net", "input", "output", "nodes", "edge"}
_SCALAR_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "bytes": bytes, "any": Any}


class NetFileError(ValueError):
    """A net file that cannot be read: the message names the file and the key."""

    def __init__(self, message: str, file: str | None = None) -> None:
        self.file = file
        super().__init__(f"{file}: {message}" if file else message)


def parse_type(text: str) -> Any:
    """A field type of a net file (``list[int] | None``) as a Python annotation."""
    text = text.strip()
    if "|" in text:
        parts = _split(text, "|")
        if len(parts) > 1:
            members = tuple(parse_type(p) for p in parts)
            out = members[0]
            for m in members[1:]:
                out = out | m if out is not Any and m is not Any else Any  # type: ignore[operator]
            return out
    if text == "None":
        return type(None)
    if text in _SCALAR_TYPES:
        return _SCALAR_TYPES[text]
    if text.startswith("list[") and text.endswith("]"):
        return list[parse_type(text[5:-1])]  # type: ignore[misc]
    if text.startswith("dict[") and text.endswith("]"):
        key, _, value = text[5:-1].partition(",")
        if key.strip() != "str":
            raise ValueError(f"a dict's keys are str in a net file, got {key.strip()!r}")
        return dict[str, parse_type(value)]  # type: ignore[misc]
    raise ValueError(f"unknown type {text!r}; use int, float, str, bool, bytes, any, list[T], dict[str, T], T | None")


def _split(text: str, sep: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def _struct(name: str, table: Any, where: str, file: str | None) -> Any:
    if not isinstance(table, dict) or not table:
        raise NetFileError(f"[{where}] is a table of field = \"type\" pairs", file)
    fields = []
    for field, text in table.items():
        if not isinstance(text, str):
            raise NetFileError(f"[{where}] {field}: a type is a string such as \"int\", got {text!r}", file)
        try:
            tp = parse_type(text)
        except ValueError as e:
            raise NetFileError(f"[{where}] {field}: {e}", file) from None
        fields.append((field, tp))
    return msgspec.defstruct(name, fields, forbid_unknown_fields=True)


def _unknown(table: dict[str, Any], known: set[str], where: str, file: str | None) -> None:
    extra = sorted(set(table) - known)
    if extra:
        raise NetFileError(f"{where}: unknown key{'s' if len(extra) > 1 else ''} {', '.join(extra)} (known: "
                           f"{', '.join(sorted(known))})", file)


def _edge_text(text: Any, file: str | None) -> tuple[str, str]:
    if not isinstance(text, str) or "->" not in text:
        raise NetFileError(f"[net] edges: each edge is \"src -> dst\", got {text!r}", file)
    src, _, dst = text.partition("->")
    return src.strip(), dst.strip()


def read_toml(data: str | bytes, file: str | None = None, *, depth: int = 0) -> Net:
    """The `Net` a net file declares; raises NetFileError naming the file and key."""
    if isinstance(data, bytes):
        try:
            data = data.decode()
        except UnicodeDecodeError:
            raise NetFileError("a net file is UTF-8 text", file) from None
    try:
        doc = tomllib.loads(data)
    except tomllib.TOMLDecodeError as e:
        raise NetFileError(f"not valid TOML: {e}", file) from None
    _unknown(doc, _TOP_KEYS, "the file's top level", file)
    head = doc.get("net")
    if not isinstance(head, dict) or not isinstance(head.get("name"), str):
        raise NetFileError("a net file starts with [net] and name = \"...\"", file)
    _unknown(head, _NET_KEYS, "[net]", file)
    name = head["name"]
    cls = "".join(p.capitalize() for p in name.replace("-", "_").replace(".", "_").split("_"))
    net = Net(name, input=_struct(f"{cls}Input", doc["input"], "input", file) if "input" in doc else None,
              output=_struct(f"{cls}Output", doc["output"], "output", file) if "output" in doc else None,
              memo=bool(head.get("memo", True)), deadline=float(head.get("deadline", 30.0)),
              description=str(head.get("description", "")), ray_graph=head.get("ray_graph", False))
    if not isinstance(net.ray_graph, bool):
        raise NetFileError(f"[net] ray_graph is true or false, not {net.ray_graph!r}", file)
    net.source = file
    nodes = doc.get("nodes", {})
    if not isinstance(nodes, dict):
        raise NetFileError("[nodes.NAME] tables declare the nodes", file)
    for nid, spec in nodes.items():
        _node(net, nid, spec, file, depth)
    for src, dst in (_edge_text(t, file) for t in head.get("edges", [])):
        net.edge(src, dst)
    chain = head.get("chain")
    if chain is not None:
        if not (isinstance(chain, list) and all(isinstance(c, str) for c in chain)):
            raise NetFileError("[net] chain: a list of node ids, such as [\"in\", \"a\", \"b\", \"out\"]", file)
        net.chain(*chain)
    for i, spec in enumerate(doc.get("edge", [])):
        if not isinstance(spec, dict):
            raise NetFileError(f"[[edge]] #{i + 1}: a table with from, to and (optionally) when", file)
        _unknown(spec, {"from", "to", "when"}, f"[[edge]] #{i + 1}", file)
        if not isinstance(spec.get("from"), str) or not isinstance(spec.get("to"), str):
            raise NetFileError(f"[[edge]] #{i + 1}: `from` and `to` are endpoints (node or node.field)", file)
        when = spec.get("when")
        if when is not None and not isinstance(when, str):
            raise NetFileError(f"[[edge]] #{i + 1}: `when` is an expression string", file)
        net.edge(spec["from"], spec["to"], when=when)
    return net


def _node(net: Net, nid: str, spec: Any, file: str | None, depth: int) -> None:
    where = f"[nodes.{nid}]"
    if not isinstance(spec, dict):
        raise NetFileError(f"{where} is a table", file)
    _unknown(spec, _NODE_KEYS, where, file)
    kinds = [k for k in _NODE_KINDS if k in spec]
    if len(kinds) != 1:
        raise NetFileError(f"{where}: give exactly one of {', '.join(_NODE_KINDS)} (got "
                           f"{', '.join(kinds) or 'none'})", file)
    kind = kinds[0]
    target = spec[kind]
    memo = spec.get("memo")
    if kind == "lambda":
        if not isinstance(target, dict) or not all(isinstance(v, str) for v in target.values()):
            raise NetFileError(f"{where}: lambda = {{ field = \"expression\", ... }}", file)
        net.lam(nid, target)
        return
    if not isinstance(target, str):
        raise NetFileError(f"{where}: {kind} = \"name\" (a string)", file)
    if kind == "neuro":
        net.node(nid, target, memo=memo, timeout=spec.get("timeout"))
    elif kind == "map":
        net.map(nid, target, limit=spec.get("limit", 8), memo=memo)
    elif kind == "publish":  # publish = "topic": its input, on that topic (any type)
        net.publish(nid, target)
    elif kind == "loop":
        if "max" not in spec:
            net.problems.append(f"loop node {nid!r}: `max` must bound it (1 to 10000 calls); an unbounded loop is not "
                                "allowed")
        net.loop(nid, target, until=spec.get("until", ""), max=spec.get("max", 0), memo=memo)
    else:  # a net file beside this one, run inside it
        if depth > 16:
            raise NetFileError(f"{where}: nets nest deeper than 16 files", file)
        base = os.path.dirname(file) if file else "."
        path = os.path.normpath(os.path.join(base, target))
        net.node(nid, load_toml(path, depth=depth + 1), memo=memo)


def load_toml(path: str | os.PathLike[str], *, depth: int = 0) -> Net:
    """Read the net file at `path`."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise NetFileError(f"cannot read it: {e.strerror}", path) from None
    return read_toml(data, path, depth=depth)
