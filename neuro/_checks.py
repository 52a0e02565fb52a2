"""Checks for the numbers that enter Neuro (timeouts, counts, policy values, CLI options),
and for the few other shapes the kernel's methods take.

A number is checked where it enters, so a bad one is an error naming the argument there and
then, never a NaN in the deadline heap that takes the kernel down later. The kernel, the SDK
context, the policy schema and the CLI all call these, so each rule is written once.

A wrong type is a `TypeError`, a bad value a `ValueError`, as Python's own functions do.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["check_timeout", "check_count", "check_number", "check_source", "brief"]

_TIMEOUT = "a number of seconds >= 0 or math.inf"


def check_timeout(value: Any, name: str = "timeout") -> float:
    """`value` as seconds to wait: 0 or more, `math.inf` for ever. NaN, negatives, booleans
    and non-numbers are refused. The check costs one comparison for a plain float."""
    if type(value) is float and value >= 0:  # NaN fails the comparison
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {_TIMEOUT}, got {brief(value)}")
    try:
        seconds = float(value)
    except OverflowError:  # an int too big for a float
        seconds = math.inf if value > 0 else -math.inf
    if not seconds >= 0:
        raise ValueError(f"{name} must be {_TIMEOUT}, got {brief(value)}")
    return seconds


def check_count(value: Any, name: str, minimum: int = 0, maximum: int | None = None) -> int:
    """`value` as a whole number from `minimum` to `maximum` (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number >= {minimum}, got {brief(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        upto = f" and <= {maximum:,}" if maximum is not None else ""
        raise ValueError(f"{name} must be a whole number >= {minimum}{upto}, got {brief(value)}")
    return value


def check_number(value: Any, name: str, minimum: float = 0.0, maximum: float | None = None) -> float:
    """`value` as a finite number from `minimum` to `maximum`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number >= {minimum:g}, got {brief(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not (math.isfinite(number) and number >= minimum and (maximum is None or number <= maximum)):
        upto = f" and <= {maximum:g}" if maximum is not None else ""
        raise ValueError(f"{name} must be a finite number >= {minimum:g}{upto}, got {brief(value)}")
    return number


def check_source(source: Any, name: str = "source") -> None:
    """A neuro's code as the kernel keeps it: relative path (str) -> file bytes."""
    if not (isinstance(source, dict) and source
            and all(isinstance(k, str) and isinstance(v, bytes) for k, v in source.items())):
        raise TypeError(f"{name} must be a non-empty dict of relative path (str) -> file bytes, got {brief(source)}")


def brief(value: Any) -> str:
    """`value` as an error shows it: its repr, cut short."""
    try:
        text = repr(value)
    except Exception:  # an int of 5,000 digits has no repr; other objects may refuse too
        return f"a {type(value).__name__} that cannot be shown"
    return text if len(text) <= 60 else f"{text[:57]}... ({type(value).__name__})"
