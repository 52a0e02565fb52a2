"""A learner's options as `OptionSpec`s, read from its config Struct. No torch.

Every learner keeps its knobs in one msgspec Struct whose fields carry a comment saying what
they do and why they have their default (STYLE.md: "a config Struct whose fields say why they
have their default"). `option_specs` turns that Struct into what `Describe` answers: each
field's name, type, default, choices (from a ``Literal``), range (given by the learner, since a
range lives in its ``__post_init__`` checks) and meaning (the comment above the field).
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any

import msgspec

from .protocol import OptionSpec

__all__ = ["option_specs"]

_FIELD = re.compile(r"^\s+(\w+)\s*:\s*[^=]+?(=.*)?$")


def _comments(cls: type) -> dict[str, str]:
    """Field name -> the comment lines right above it, joined (section headers `# --` skipped).
    A field with no comment of its own gets none (`optimizer` and `lr` share one block: the
    first takes it)."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    block: list[str] = []
    for line in lines[1:]:
        text = line.strip()
        if text.startswith("#"):
            body = text.lstrip("#").strip()
            block = [] if body.startswith("--") else [*block, body]
            continue
        m = _FIELD.match(line)
        if m and block and not text.startswith(("def ", "@", "return", "raise", "if ", "for ")):
            found[m.group(1)] = " ".join(block)
        block = []
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if value is msgspec.NODEFAULT:
        return None
    return value


def option_specs(config: type, *, ranges: dict[str, tuple[float | None, float | None]] | None = None,
                 skip: tuple[str, ...] = ()) -> list[OptionSpec]:
    """The fields of `config` (a msgspec Struct) as OptionSpecs, in declaration order."""
    hints = typing.get_type_hints(config, include_extras=False)
    raw = {name: str(ann) for name, ann in getattr(config, "__annotations__", {}).items()}
    comments = _comments(config)
    defaults = dict(zip(config.__struct_fields__, (None,) * len(config.__struct_fields__)))
    info = msgspec.inspect.type_info(config)
    for f in info.fields:  # type: ignore[attr-defined]
        defaults[f.name] = _plain(f.default if f.default is not msgspec.NODEFAULT else None)
    specs = []
    for name in config.__struct_fields__:
        if name in skip:
            continue
        tp = hints.get(name)
        choices = None
        args = typing.get_args(tp)
        if typing.get_origin(tp) is typing.Literal:
            choices = [str(a) for a in args]
        lo_hi = (ranges or {}).get(name)
        specs.append(OptionSpec(name=name, value_type=raw.get(name, getattr(tp, "__name__", str(tp))),
                                default=defaults.get(name), help=comments.get(name, ""),
                                range=list(lo_hi) if lo_hi is not None else None, choices=choices))
    return specs
