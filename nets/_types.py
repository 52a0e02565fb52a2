"""Whether a value of one msgspec type always decodes as another: the check on every edge.

Types are compared structurally, through `msgspec.inspect.type_info`, so a class rebuilt from
a sandbox's description (`defstruct`) fits the class it describes: fields by their encoded
name, optionality (a field that may be None into one that may not), unions (every member of
the source must fit a member of the target), tags (a union of Structs is told apart by its
tag, so a source Struct without the tag cannot enter one) and the items of lists and dicts.

`misfit(src, dst)` returns None when every value of `src` is a valid `dst`, else the first
reason it is not, with the field path (``$.items[].name``) where it is found. `Any` on either
side fits (a lambda whose result type is not known is checked when it runs, by the callee's
input type).
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec.inspect as mi

__all__ = ["misfit", "type_name", "field_type", "FieldError", "element_type", "is_optional", "as_type", "info"]

_info_cache: dict[Any, mi.Type] = {}


def _info(tp: Any) -> mi.Type:
    if isinstance(tp, mi.Type):
        return tp
    try:
        found = _info_cache.get(tp)
    except TypeError:  # unhashable annotation
        return mi.type_info(tp)
    if found is None:
        found = _info_cache[tp] = mi.type_info(tp)
    return found


_SCALARS = {
    mi.IntType: "int", mi.FloatType: "float", mi.StrType: "str", mi.BoolType: "bool", mi.BytesType: "bytes",
    mi.ByteArrayType: "bytearray", mi.MemoryViewType: "memoryview", mi.DateTimeType: "datetime",
    mi.DateType: "date", mi.TimeType: "time", mi.TimeDeltaType: "timedelta", mi.UUIDType: "UUID",
    mi.DecimalType: "Decimal", mi.NoneType: "None", mi.AnyType: "Any",
}
_ARRAYS = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)


def type_name(tp: Any) -> str:
    """A type as its author wrote it: ``Point``, ``int | None``, ``list[Item]``."""
    t = _info(tp)
    name = _SCALARS.get(type(t))
    if name is not None:
        return name
    if isinstance(t, (mi.StructType, mi.DataclassType, mi.TypedDictType, mi.NamedTupleType)):
        return t.cls.__name__
    if isinstance(t, mi.UnionType):
        return " | ".join(type_name(m) for m in t.types)
    if isinstance(t, mi.LiteralType):
        return "Literal[" + ", ".join(repr(v) for v in t.values) + "]"
    if isinstance(t, mi.ListType):
        return f"list[{type_name(t.item_type)}]"
    if isinstance(t, (mi.SetType, mi.FrozenSetType)):
        return f"{'set' if isinstance(t, mi.SetType) else 'frozenset'}[{type_name(t.item_type)}]"
    if isinstance(t, mi.VarTupleType):
        return f"tuple[{type_name(t.item_type)}, ...]"
    if isinstance(t, mi.TupleType):
        return "tuple[" + ", ".join(type_name(i) for i in t.item_types) + "]"
    if isinstance(t, mi.DictType):
        return f"dict[{type_name(t.key_type)}, {type_name(t.value_type)}]"
    if isinstance(t, (mi.EnumType, mi.CustomType)):
        return t.cls.__name__
    return type(t).__name__.removesuffix("Type").lower()


def _members(t: mi.Type) -> tuple[mi.Type, ...]:
    return t.types if isinstance(t, mi.UnionType) else (t,)


def is_optional(tp: Any) -> bool:
    return any(isinstance(m, mi.NoneType) for m in _members(_info(tp)))


def misfit(src: Any, dst: Any, path: str = "$") -> str | None:
    """None if every value of type `src` decodes as `dst`; else why not, naming the path."""
    return _misfit(_info(src), _info(dst), path, set())


def _misfit(s: mi.Type, d: mi.Type, path: str, seen: set[tuple[int, int]]) -> str | None:
    if isinstance(d, mi.AnyType) or isinstance(s, mi.AnyType):
        return None
    key = (id(s), id(d))
    if key in seen:  # a recursive type: assume the inner occurrence fits (it is checked at the outer)
        return None
    seen = seen | {key}
    if isinstance(s, mi.UnionType):
        for member in sorted(s.types, key=lambda m: not isinstance(m, mi.NoneType)):  # None first: the clearer reason
            why = _misfit(member, d, path, seen)
            if why is not None:
                if isinstance(member, mi.NoneType):
                    return f"at `{path}`: {_name(s)} may be None, and {_name(d)} does not take None"
                return why
        return None
    if isinstance(d, mi.UnionType):
        return _into_union(s, d, path, seen)
    return _one(s, d, path, seen)


def _name(t: mi.Type) -> str:
    return f"`{type_name(t)}`"


def _into_union(s: mi.Type, d: mi.UnionType, path: str, seen: set) -> str | None:
    structs = [m for m in d.types if isinstance(m, mi.StructType)]
    if isinstance(s, mi.StructType) and len(structs) > 1:
        if s.tag is None:
            return (f"at `{path}`: {_name(s)} has no tag, and {_name(d)} is a union of Structs told apart by "
                    f"their tags; give {s.cls.__name__} the tag of the member it is (tag=...)")
        same = [m for m in structs if m.tag == s.tag and m.tag_field == s.tag_field]
        if not same:
            tags = ", ".join(f"{m.tag_field}={m.tag!r}" for m in structs)
            return (f"at `{path}`: {_name(s)} has tag {s.tag_field}={s.tag!r}, which no member of {_name(d)} "
                    f"has ({tags})")
        return _one(s, same[0], path, seen)
    reasons = []
    for member in d.types:
        why = _one(s, member, path, seen)
        if why is None:
            return None
        reasons.append(why)
    if len(reasons) == 1:
        return reasons[0]
    return f"at `{path}`: {_name(s)} fits no member of {_name(d)}"


def _one(s: mi.Type, d: mi.Type, path: str, seen: set) -> str | None:
    """`s` and `d` are not unions (`d` may be Any)."""
    if isinstance(d, mi.AnyType):
        return None
    mismatch = f"at `{path}`: {_name(s)} does not fit {_name(d)}"
    if isinstance(s, mi.LiteralType):
        if isinstance(d, mi.LiteralType):
            extra = [v for v in s.values if v not in d.values]
            return None if not extra else f"at `{path}`: {extra[0]!r} of {_name(s)} is not one of {_name(d)}"
        kinds = {type(v) for v in s.values}
        want = {mi.IntType: int, mi.StrType: str}.get(type(d))
        return None if want is not None and kinds <= {want} else mismatch
    if isinstance(d, mi.LiteralType):
        return f"at `{path}`: {_name(s)} may be any value, and {_name(d)} takes only these"
    if type(s) is type(d) and type(s) in _SCALARS:
        return None
    if isinstance(s, mi.IntType) and isinstance(d, mi.FloatType):
        return None  # msgspec decodes an int as a float
    if isinstance(s, _ARRAYS) and isinstance(d, _ARRAYS):
        return _misfit(s.item_type, d.item_type, f"{path}[]", seen)
    if isinstance(s, mi.TupleType) and isinstance(d, _ARRAYS):
        for i, item in enumerate(s.item_types):
            why = _misfit(item, d.item_type, f"{path}[{i}]", seen)
            if why:
                return why
        return None
    if isinstance(s, mi.TupleType) and isinstance(d, mi.TupleType):
        if len(s.item_types) != len(d.item_types):
            return f"at `{path}`: {_name(s)} has {len(s.item_types)} items, {_name(d)} {len(d.item_types)}"
        for i, (a, b) in enumerate(zip(s.item_types, d.item_types)):
            why = _misfit(a, b, f"{path}[{i}]", seen)
            if why:
                return why
        return None
    if isinstance(s, mi.DictType) and isinstance(d, mi.DictType):
        return (_misfit(s.key_type, d.key_type, f"{path}{{key}}", seen)
                or _misfit(s.value_type, d.value_type, f"{path}{{}}", seen))
    if isinstance(s, mi.StructType) and isinstance(d, mi.StructType):
        return _struct(s, d, path, seen)
    if isinstance(s, (mi.EnumType, mi.CustomType)) and type(s) is type(d):
        return None if s.cls is d.cls else mismatch
    return mismatch


def _struct(s: mi.StructType, d: mi.StructType, path: str, seen: set) -> str | None:
    if s.cls is d.cls:
        return None
    if s.array_like != d.array_like:
        return f"at `{path}`: {_name(s)} and {_name(d)} are not encoded alike (one is array_like)"
    theirs = {f.encode_name: f for f in s.fields}
    for field in d.fields:
        got = theirs.get(field.encode_name)
        where = f"{path}.{field.encode_name}"
        if got is None:
            if field.required:
                return (f"at `{where}`: {_name(d)} requires field `{field.encode_name}` "
                        f"({type_name(field.type)}), which {_name(s)} does not have")
            continue
        why = _misfit(got.type, field.type, where, seen)
        if why is not None:
            return why
    if d.forbid_unknown_fields:
        known = {f.encode_name for f in d.fields} | ({d.tag_field} if d.tag_field else set())
        extra = [name for name in theirs if name not in known]
        if extra:
            return (f"at `{path}.{extra[0]}`: {_name(s)} has field `{extra[0]}`, which {_name(d)} does not "
                    "know and refuses (forbid_unknown_fields)")
    if d.tag is not None and s.tag is not None and (s.tag_field, s.tag) != (d.tag_field, d.tag):
        return f"at `{path}`: {_name(s)} has tag {s.tag!r}, {_name(d)} expects {d.tag!r}"
    return None


class FieldError(LookupError):
    """A field path that a type does not have."""


def field_type(tp: Any, parts: list[str] | tuple[str, ...]) -> Any:
    """The type at field path `parts` of `tp` (an annotation or `Any`); raises FieldError
    saying which part is missing, or may be None on the way."""
    t = _info(tp)
    walked = "$"
    for part in parts:
        if isinstance(t, mi.AnyType):
            return t
        members = _members(t)
        if any(isinstance(m, mi.NoneType) for m in members):
            raise FieldError(f"`{walked}` ({type_name(t)}) may be None, so `{part}` may not be there")
        found = []
        for m in members:
            if isinstance(m, mi.StructType):
                f = next((f for f in m.fields if f.encode_name == part), None)
                if f is None:
                    names = ", ".join(f.encode_name for f in m.fields) or "none"
                    raise FieldError(f"{type_name(m)} has no field `{part}` (its fields: {names})")
                found.append(f.type)
            elif isinstance(m, mi.DictType) and isinstance(m.key_type, (mi.StrType, mi.AnyType)):
                found.append(m.value_type)
            else:
                raise FieldError(f"`{walked}` is {type_name(m)}, which has no fields")
        walked = f"{walked}.{part}"
        t = found[0] if len(found) == 1 else mi.UnionType(tuple(found))
    return t


def element_type(tp: Any) -> Any:
    """The item type of a list-like type (for a map node), or raise FieldError."""
    t = _info(tp)
    if isinstance(t, mi.AnyType):
        return t
    if isinstance(t, _ARRAYS):
        return t.item_type
    raise FieldError(f"{type_name(t)} is not a list, so a map node cannot go over it")


def as_type(t: Any) -> Any:
    """An annotation for `t` (an inspect Type or an annotation), for defstruct: only what a
    lambda's result can be (scalars, lists, Structs); anything else is Any."""
    if not isinstance(t, mi.Type):
        return t
    simple = {mi.IntType: int, mi.FloatType: float, mi.StrType: str, mi.BoolType: bool, mi.BytesType: bytes,
              mi.NoneType: type(None)}
    if type(t) in simple:
        return simple[type(t)]
    if isinstance(t, (mi.StructType, mi.EnumType)):
        return t.cls
    if isinstance(t, mi.ListType):
        return list[as_type(t.item_type)]  # type: ignore[misc]
    if isinstance(t, mi.UnionType):
        return typing.Union[tuple(as_type(m) for m in t.types)]  # type: ignore[return-value]
    if isinstance(t, mi.DictType):
        return dict[as_type(t.key_type), as_type(t.value_type)]  # type: ignore[misc]
    return Any


def info(tp: Any) -> mi.Type:
    """`tp` as msgspec.inspect sees it (cached)."""
    return _info(tp)

