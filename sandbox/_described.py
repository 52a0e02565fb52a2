"""A neuro's manifest as data, so code the kernel does not trust never runs in its process.

A sandboxed loader imports the neuro's files and calls `describe(cls)`: its name, policy,
sandbox, subscriptions, hooks and, from `msgspec.inspect`, its input and output types as a
tree of plain values. The kernel decodes that with msgspec (data, never code) and
`rebuild(description, files)` makes a stand-in `Neuro` class: the same manifest and message
types rebuilt with `msgspec.defstruct`, so payloads are still checked at the boundary with
the same field paths in errors (``$.text``), but no handler, class body, metaclass,
``__init_subclass__`` or module ``__getattr__`` of the file ever runs here. The stand-in can
only be started in a sandbox; its real class lives in the worker.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import re
import uuid
from typing import Annotated, Any, Literal, Optional, Union

import msgspec
import msgspec.inspect as mi

from neuro._errors import ManifestError
from neuro._manifest import HOOKS, NAME_PATTERN, SANDBOXES, Neuro

__all__ = ["Description", "describe", "rebuild", "is_described", "TypeTooComplex"]

MAX_TYPES = 512  # distinct Struct and enum definitions a description may carry
MAX_DEPTH = 32  # nesting of one type tree
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class TypeTooComplex(ManifestError):
    """A message type cannot be described as data (a custom class, or too large)."""


class Description(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What the kernel may know of a neuro it does not trust: data only."""

    name: str
    policy: str
    policy_declared: bool  # False: the class kept the base's default, so the folder's policy applies
    sandbox: str | None
    policy_overrides: dict[str, Any]
    subscribe: list[str]
    hooks: list[str]
    is_async: bool
    module: str
    qualname: str
    input: Any  # a type tree (see `_describe_type`)
    output: Any
    types: dict[str, Any]  # Struct and enum definitions the trees refer to, by key
    replay: Optional[int] = None
    replay_tolerance: float = 0.0
    artifacts: list[str] = []  # declared files that are not code; the kernel checks and hashes them
    dream: Optional[dict[str, Any]] = None  # its `dream` settings, checked again in the kernel (neuro.dream)


# -- in the sandbox: class -> data -------------------------------------------------------------

def describe(cls: type[Neuro], replay: int | None = None) -> Description:
    """The manifest of `cls` as data (run where the neuro's code may run: in a sandbox)."""
    manifest = cls.__manifest__
    info = mi.multi_type_info([manifest.input, manifest.output])
    types: dict[str, Any] = {}
    return Description(
        name=manifest.name, policy=manifest.policy,
        policy_declared=any("policy" in vars(k) for k in cls.__mro__ if k is not Neuro),
        sandbox=manifest.sandbox, policy_overrides=dict(manifest.policy_overrides),
        subscribe=list(manifest.subscribe), hooks=list(manifest.hooks), is_async=manifest.is_async,
        module=manifest.module, qualname=manifest.qualname,
        input=_describe_type(info[0], types, 0), output=_describe_type(info[1], types, 0), types=types,
        replay=replay, replay_tolerance=float(getattr(cls, "replay_tolerance", 0.0) or 0.0),
        artifacts=list(manifest.artifacts), dream=dict(manifest.dream) if manifest.dream else None)


_PLAIN = {mi.AnyType: "any", mi.NoneType: "none", mi.BoolType: "bool", mi.BytesType: "bytes",
          mi.ByteArrayType: "bytearray", mi.MemoryViewType: "bytes", mi.DateTimeType: "datetime",
          mi.DateType: "date", mi.TimeType: "time", mi.TimeDeltaType: "timedelta", mi.UUIDType: "uuid",
          mi.DecimalType: "decimal", mi.RawType: "any", mi.ExtType: "any"}
_CONSTRAINTS = ("ge", "gt", "le", "lt", "multiple_of", "min_length", "max_length", "pattern")
_COLLECTIONS = {mi.ListType: "list", mi.SetType: "set", mi.FrozenSetType: "frozenset", mi.VarTupleType: "vartuple"}


def _constraints(t: Any) -> dict[str, Any]:
    return {k: getattr(t, k) for k in _CONSTRAINTS if getattr(t, k, None) is not None}


def _describe_type(t: Any, types: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise TypeTooComplex(f"a message type nests deeper than {MAX_DEPTH} levels")
    kind = _PLAIN.get(type(t))
    if kind is not None:
        return {"k": kind}
    if isinstance(t, (mi.IntType, mi.FloatType, mi.StrType)):
        return {"k": {mi.IntType: "int", mi.FloatType: "float", mi.StrType: "str"}[type(t)], **_constraints(t)}
    if type(t) in _COLLECTIONS:
        return {"k": _COLLECTIONS[type(t)], "item": _describe_type(t.item_type, types, depth + 1), **_constraints(t)}
    if isinstance(t, mi.TupleType):
        return {"k": "tuple", "items": [_describe_type(x, types, depth + 1) for x in t.item_types]}
    if isinstance(t, (mi.DictType, mi.FrozenDictType) if hasattr(mi, "FrozenDictType") else mi.DictType):
        return {"k": "dict", "key": _describe_type(t.key_type, types, depth + 1),
                "value": _describe_type(t.value_type, types, depth + 1), **_constraints(t)}
    if isinstance(t, mi.UnionType):
        return {"k": "union", "types": [_describe_type(x, types, depth + 1) for x in t.types]}
    if isinstance(t, mi.LiteralType):
        return {"k": "literal", "values": list(t.values)}
    if isinstance(t, mi.EnumType):
        key = _key(t.cls, types)
        if key not in types:
            types[key] = {"k": "enum", "name": t.cls.__name__,
                          "members": {m.name: m.value for m in t.cls}}
        return {"k": "ref", "key": key}
    if isinstance(t, (mi.StructType, mi.DataclassType, mi.TypedDictType, mi.NamedTupleType)):
        key = _key(t.cls, types)
        if key not in types:
            types[key] = None  # claimed first: a recursive type refers back to it
            types[key] = _describe_record(t, types, depth)
        return {"k": "ref", "key": key}
    raise TypeTooComplex(f"the type {getattr(t, 'cls', t)!r} cannot cross the sandbox boundary: use msgspec "
                         "Structs, builtin types, enums and Literals in messages")


def _key(cls: type, types: dict[str, Any]) -> str:
    if len(types) >= MAX_TYPES:
        raise TypeTooComplex(f"the message types define more than {MAX_TYPES} Structs and enums")
    return f"{cls.__module__}.{cls.__qualname__}"


def _describe_record(t: Any, types: dict[str, Any], depth: int) -> dict[str, Any]:
    fields = []
    for f in t.fields:
        field: dict[str, Any] = {"name": f.name, "encode_name": f.encode_name,
                                 "type": _describe_type(f.type, types, depth + 1), "required": f.required}
        if not f.required:
            field["default"] = _describe_default(f)
        fields.append(field)
    record: dict[str, Any] = {"k": "struct", "name": t.cls.__name__, "fields": fields}
    if isinstance(t, mi.StructType):
        record.update(tag_field=t.tag_field, tag=t.tag, array_like=t.array_like,
                      forbid_unknown_fields=t.forbid_unknown_fields)
    return record


def _describe_default(f: Any) -> dict[str, Any]:
    """A field's default as data: a value msgpack can carry, a known factory, or `unset`
    (the kernel leaves the field out and the neuro's own class fills it in)."""
    if f.default_factory is not msgspec.NODEFAULT:
        factory = f.default_factory
        if factory in (list, dict, set, frozenset, tuple):
            return {"factory": factory.__name__}
        return {"unset": True}
    try:
        value = f.default
        if isinstance(value, enum.Enum) and isinstance(value.value, (int, str)):
            return {"value": value.value, "as": "enum"}
        if value is None or isinstance(value, (bool, int, float, str, bytes)):
            return {"value": value}
        if isinstance(value, (tuple, frozenset)) and all(isinstance(v, (bool, int, float, str)) for v in value):
            return {"value": list(value), "as": type(value).__name__}
    except Exception:  # noqa: BLE001 - any odd default: let the neuro's class fill it in
        pass
    return {"unset": True}


# -- in the kernel: data -> a stand-in class -----------------------------------------------------

_BUILTIN = {"any": Any, "none": None, "bool": bool, "bytes": bytes, "bytearray": bytearray,
            "datetime": datetime.datetime, "date": datetime.date, "time": datetime.time,
            "timedelta": datetime.timedelta, "uuid": uuid.UUID, "decimal": decimal.Decimal}
_COLLECTION_TYPES = {"list": list, "set": set, "frozenset": frozenset}


class _Rebuilder:
    def __init__(self, types: dict[str, Any], module: str) -> None:
        if len(types) > MAX_TYPES:
            raise TypeTooComplex(f"a description with more than {MAX_TYPES} type definitions is refused")
        self.types = types
        self.module = module
        self.built: dict[str, Any] = {}

    def type(self, d: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise TypeTooComplex(f"a message type nests deeper than {MAX_DEPTH} levels")
        if not isinstance(d, dict) or not isinstance(d.get("k"), str):
            raise TypeTooComplex(f"a malformed type description: {d!r:.200}")
        k = d["k"]
        if k in _BUILTIN:
            return _BUILTIN[k]
        if k in ("int", "float", "str"):
            base = {"int": int, "float": float, "str": str}[k]
            meta = {c: d[c] for c in _CONSTRAINTS if c in d}
            return Annotated[base, msgspec.Meta(**meta)] if meta else base
        if k in _COLLECTION_TYPES or k == "vartuple":
            item = self.type(d.get("item"), depth + 1)
            tp = tuple[item, ...] if k == "vartuple" else _COLLECTION_TYPES[k][item]  # type: ignore[index]
            meta = {c: d[c] for c in ("min_length", "max_length") if c in d}
            return Annotated[tp, msgspec.Meta(**meta)] if meta else tp
        if k == "tuple":
            items = tuple(self.type(x, depth + 1) for x in d.get("items", []))
            return tuple[items] if items else tuple[()]  # type: ignore[valid-type]
        if k == "dict":
            tp = dict[self.type(d.get("key"), depth + 1), self.type(d.get("value"), depth + 1)]  # type: ignore[misc]
            meta = {c: d[c] for c in ("min_length", "max_length") if c in d}
            return Annotated[tp, msgspec.Meta(**meta)] if meta else tp
        if k == "union":
            members = tuple(self.type(x, depth + 1) for x in d.get("types", []))
            return Union[members] if members else Any  # type: ignore[return-value]
        if k == "literal":
            values = d.get("values", [])
            if not values or not all(v is None or isinstance(v, (int, str)) for v in values):
                raise TypeTooComplex(f"a malformed Literal description: {values!r:.200}")
            return Literal[tuple(values)]  # type: ignore[return-value]
        if k == "ref":
            return self.ref(d.get("key"), depth)
        raise TypeTooComplex(f"an unknown kind of type {k!r} in a description")

    def ref(self, key: Any, depth: int) -> Any:
        if key in self.built:
            if isinstance(self.built[key], str):
                raise TypeTooComplex(f"the message type {self.built[key]} refers to itself: recursive types "
                                     "cannot cross the sandbox boundary; nest a bounded structure instead")
            return self.built[key]
        d = self.types.get(key) if isinstance(key, str) else None
        if not isinstance(d, dict):
            raise TypeTooComplex(f"a description refers to a type {key!r:.100} it does not define")
        name = d.get("name")
        if not isinstance(name, str) or not _IDENT.match(name):
            raise TypeTooComplex(f"a type name that is not an identifier: {name!r:.100}")
        if d["k"] == "enum":
            members = d.get("members")
            if not isinstance(members, dict) or not members or not all(
                    isinstance(m, str) and _IDENT.match(m) and isinstance(v, (int, str)) for m, v in members.items()):
                raise TypeTooComplex(f"a malformed enum description for {name}")
            self.built[key] = enum.Enum(name, members, module=self.module)  # type: ignore[misc]
            return self.built[key]
        if d["k"] != "struct":
            raise TypeTooComplex(f"an unknown kind of type definition {d['k']!r:.50}")
        self.built[key] = name  # in progress: a reference back to it is a recursive type
        fields = []
        for f in d.get("fields", []):
            fname = f.get("name")
            if not isinstance(fname, str) or not _IDENT.match(fname):
                raise TypeTooComplex(f"{name}: a field name that is not an identifier: {fname!r:.100}")
            ftype = self.type(f.get("type"), depth + 1)
            if f.get("required", True):
                fields.append((fname, ftype))
            else:
                fields.append((fname, *self._default(ftype, f.get("default") or {})))
        renames = {f["name"]: f["encode_name"] for f in d.get("fields", []) if f.get("encode_name") != f.get("name")}
        tag = d.get("tag")
        options: dict[str, Any] = {"forbid_unknown_fields": bool(d.get("forbid_unknown_fields", False)),
                                   "array_like": bool(d.get("array_like", False)), "module": self.module}
        if tag is not None:
            options.update(tag=tag, tag_field=d.get("tag_field") or "type")
        if renames:
            options["rename"] = renames
        struct = msgspec.defstruct(name, fields, **options)
        self.built[key] = struct
        return struct

    @staticmethod
    def _default(ftype: Any, default: dict[str, Any]) -> tuple[Any, Any]:
        if "factory" in default:
            factory = {"list": list, "dict": dict, "set": set, "frozenset": frozenset, "tuple": tuple}.get(
                default["factory"])
            if factory is None:
                raise TypeTooComplex(f"an unknown default factory {default['factory']!r:.50}")
            return ftype, msgspec.field(default_factory=factory)
        if "value" in default:
            value = default["value"]
            if default.get("as") == "tuple":
                value = tuple(value)
            elif default.get("as") == "frozenset":
                value = frozenset(value)
            elif default.get("as") == "enum" and isinstance(ftype, type) and issubclass(ftype, enum.Enum):
                value = ftype(value)
            return ftype, value
        # The neuro's own class knows this default: leave the field out when it is not given.
        return Union[ftype, msgspec.UnsetType], msgspec.UNSET  # type: ignore[return-value]


def rebuild(description: Description, files: dict[str, bytes] | None, version: str) -> type[Neuro]:
    """A stand-in Neuro class for `description`: the manifest and message types, no code.
    Its `handle` and hooks only say that it runs in a sandbox; `files` is what the sandbox loads."""
    d = description
    if not NAME_PATTERN.match(d.name):
        raise ManifestError(f"the neuro's name {d.name!r} is not a valid name (lower case, digits, '_', '-', dots)")
    if d.sandbox is not None and d.sandbox not in SANDBOXES:
        raise ManifestError(f"{d.name}: unknown sandbox {d.sandbox!r}")
    unknown = sorted(set(d.hooks) - set(HOOKS))
    if unknown:
        raise ManifestError(f"{d.name}: unknown hooks {unknown}")
    module = f"{d.module}" if re.match(r"^[A-Za-z_][\w.]{0,200}$", d.module) else "neuro_described"
    types = _Rebuilder(d.types, module)
    inp, out = types.type(d.input), types.type(d.output)

    async def handle_async(self: Any, ctx: Any, msg: Any) -> Any:
        raise ManifestError(f"{d.name} is described, not loaded: it runs only in its sandbox")

    def handle_sync(self: Any, ctx: Any, msg: Any) -> Any:
        raise ManifestError(f"{d.name} is described, not loaded: it runs only in its sandbox")

    attrs: dict[str, Any] = {
        "name": d.name, "input": inp, "output": out, "policy": d.policy, "sandbox": d.sandbox,
        "policy_overrides": dict(d.policy_overrides), "subscribe": tuple(d.subscribe),
        "replay": d.replay or 0, "replay_tolerance": d.replay_tolerance,
        "artifacts": tuple(d.artifacts),  # checked again as the class is made (`check_artifact_names`)
        "dream": dict(d.dream) if d.dream else None,  # checked again as the class is made (check_dream)
        "handle": handle_async if d.is_async else handle_sync,
        "__module__": module, "__qualname__": d.qualname if _qualname_ok(d.qualname) else "Described",
        "__neuro_described__": d, "__neuro_source__": files, "__version_cache__": version,
    }
    for hook in d.hooks:
        attrs[hook] = classmethod(_remote_hook(hook)) if hook == "migrate" else _remote_hook(hook)
    cls = type(attrs["__qualname__"].rsplit(".", 1)[-1], (Neuro,), attrs)
    cls.__version_cache__ = version
    return cls


def _qualname_ok(name: str) -> bool:
    return all(_IDENT.match(part) for part in name.split(".")) if name else False


def _remote_hook(name: str) -> Any:
    def hook(*args: Any) -> Any:
        raise ManifestError(f"the {name} hook of a described neuro runs only in its sandbox")
    hook.__name__ = name
    return hook


def is_described(cls: type) -> bool:
    """True for a stand-in made by `rebuild`: its code must never be run here."""
    return isinstance(cls, type) and "__neuro_described__" in vars(cls)
