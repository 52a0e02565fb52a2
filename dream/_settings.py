"""A neuro's opt-in to dreaming: the ``dream = {...}`` of its manifest, checked at load.

    class Tutor(sdk.Neuro):
        name = "tutor"
        dream = {"agreement": 0.98, "speedup": 20, "cascade": True, "min_traces": 2000, "every": "10m"}

Every key is optional (its default says why it is what it is); an unknown key, a value of the
wrong type or out of its range is a `ManifestError` naming the key and the fix, raised when
the class is defined. Imports only msgspec and the SDK's errors: the manifest reads it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

__all__ = ["DreamSettings", "check_dream", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class DreamSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """What a neuro asks of the dream daemon (docs/dream.md)."""

    # Held-out calls the student must answer as the teacher did (categories exactly, numbers
    # within `tolerance`): 0.98 lets a student miss 1 call in 50, the goal.
    agreement: float = 0.98
    # How far a number may differ and still agree: relative to its size, absolute below 1.
    tolerance: float = 0.05
    # Median service time of the teacher over the student's, on the same inputs: a student
    # that is not much faster is not worth a version.
    speedup: float = 10.0
    # Serve the student in front of the teacher: it answers when confident, else defers.
    cascade: bool = False
    # Traces (handled calls of the current version) before a first dream: fewer say little.
    min_traces: int = 200
    # The schedule: dream again this often (seconds, or "10m", "1h"), given new traces.
    every: float = 600.0
    # Dream as soon as this many new traces came since the last dream (0: only on schedule).
    new_traces: int = 0
    # Dream when the neuro has had no call for this long (0: never on idleness alone).
    idle: float = 0.0
    # Dream once its code changed this many times since the last dream (the seed's "N
    # significant code mutations"; 0: not on code changes), given traces of the new code.
    changes: int = 0
    # The newest fraction of the traces kept out of training, to judge the student on.
    held_out: float = 0.2
    # Traces read at most (the newest ones).
    max_traces: int = 10_000
    # The student: "auto" tries a linear model, then an MLP (torch) if it falls short.
    student: Literal["auto", "linear", "mlp"] = "auto"
    # Logged calls the differential replay gate replays against the live version.
    replay: int = 50
    # Hidden widths of the MLP student, and its training steps.
    hidden: list[int] = msgspec.field(default_factory=lambda: [64, 64])
    steps: int = 2000
    # The MLP's loss for numbers: "mse", or "huber" where a few answers are far off the rest.
    loss: Literal["mse", "huber"] = "mse"


def parse_duration(value: Any, key: str) -> float:
    """Seconds from a number or a string like ``"10m"``, ``"90s"``, ``"2h"``; ValueError if neither."""
    if isinstance(value, bool):
        raise ValueError(f"`{key}` must be seconds or a duration like \"10m\", got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNIT[m.group(2)]
    raise ValueError(f"`{key}` must be seconds or a duration like \"10m\" (units ms, s, m, h, d), got {value!r}")


def check_dream(value: Any, where: str) -> dict[str, Any] | None:
    """The checked settings of a manifest's ``dream`` (plain data, every key filled in), or
    None when it has none. Raises `ManifestError` naming the key and what it takes."""
    from neuro._errors import ManifestError

    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise ManifestError(f"{where}: `dream` must be a dict of settings such as "
                            "{\"agreement\": 0.98, \"speedup\": 20}, or True for the defaults; got "
                            f"{type(value).__name__}")
    known = DreamSettings.__struct_fields__
    unknown = sorted(str(k) for k in value if k not in known)
    if unknown:
        raise ManifestError(f"{where}: `dream` has unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
    raw = dict(value)
    for key in ("every", "idle"):
        if key in raw:
            try:
                raw[key] = parse_duration(raw[key], f"dream.{key}")
            except ValueError as e:
                raise ManifestError(f"{where}: {e}") from None
    try:
        settings = msgspec.convert(raw, DreamSettings)
    except msgspec.ValidationError as e:
        raise ManifestError(f"{where}: `dream` is not valid: {e}".replace("`$.", "`dream.")) from None
    problems = _ranges(settings)
    if problems:
        raise ManifestError(f"{where}: `dream` is not valid: {'; '.join(problems)}")
    return msgspec.to_builtins(settings)


def _ranges(s: DreamSettings) -> list[str]:
    out = []
    if not 0.0 < s.agreement <= 1.0:
        out.append(f"`dream.agreement` is a fraction of held-out calls in (0, 1], got {s.agreement!r}")
    if s.tolerance < 0.0:
        out.append(f"`dream.tolerance` must be >= 0, got {s.tolerance!r}")
    if s.speedup < 1.0:
        out.append(f"`dream.speedup` is how many times faster the student must be, >= 1, got {s.speedup!r}")
    if s.min_traces < 2:
        out.append(f"`dream.min_traces` must be >= 2 (one to train on, one held out), got {s.min_traces!r}")
    if s.every <= 0.0:
        out.append(f"`dream.every` must be a positive duration, got {s.every!r}")
    for key in ("new_traces", "replay", "changes"):
        if getattr(s, key) < 0:
            out.append(f"`dream.{key}` must be >= 0, got {getattr(s, key)!r}")
    if s.idle < 0.0:
        out.append(f"`dream.idle` must be >= 0 seconds, got {s.idle!r}")
    if not 0.0 < s.held_out < 1.0:
        out.append(f"`dream.held_out` is the fraction of the newest traces kept out, in (0, 1), got {s.held_out!r}")
    if s.max_traces < s.min_traces:
        out.append(f"`dream.max_traces` ({s.max_traces}) must be >= `dream.min_traces` ({s.min_traces})")
    if not s.hidden or any(h < 1 for h in s.hidden):
        out.append(f"`dream.hidden` is a list of positive layer widths, got {s.hidden!r}")
    if s.steps < 1:
        out.append(f"`dream.steps` must be >= 1, got {s.steps!r}")
    return out
