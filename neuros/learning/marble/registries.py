"""Neuron and synapse type registries (MARBLE's plugin-registered types).

A neuron type is an activation applied to the value a neuron receives; a synapse type is how
a synapse transmits a value. Built-ins are registered here; `register_neuron_type` and
`register_synapse_type` add more (a plugin's). numpy only, imported lazily by the callers.
"""

from __future__ import annotations

import math
from typing import Callable

__all__ = ["NEURON_TYPES", "SYNAPSE_TYPES", "register_neuron_type", "register_synapse_type", "neuron_type_id",
           "synapse_type_id"]

#: name -> activation(value) -> value
NEURON_TYPES: dict[str, Callable[[float], float]] = {
    "standard": lambda v: v,
    "relu": lambda v: v if v > 0.0 else 0.0,
    "tanh": math.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, v)))),
}

#: name -> transmit(value, weight) -> value passed on
SYNAPSE_TYPES: dict[str, Callable[[float, float], float]] = {
    "standard": lambda v, w: v * w,
    "excitatory": lambda v, w: v * abs(w),
    "inhibitory": lambda v, w: -v * abs(w),
    "modulatory": lambda v, w: v * (1.0 + math.tanh(w)),
}


def _register(table: dict, kind: str, name: str, fn: Callable, replace: bool) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a {kind} type needs a non-empty name, got {name!r}")
    if not callable(fn):
        raise TypeError(f"a {kind} type is a function, got {type(fn).__name__}")
    if name in table and not replace:
        raise ValueError(f"{kind} type {name!r} is registered already; pass replace=True to replace it")
    table[name] = fn


def register_neuron_type(name: str, activation: Callable[[float], float], *, replace: bool = False) -> None:
    """Add a neuron type: `activation(value) -> value`."""
    _register(NEURON_TYPES, "neuron", name, activation, replace)


def register_synapse_type(name: str, transmit: Callable[[float, float], float], *, replace: bool = False) -> None:
    """Add a synapse type: `transmit(value, weight) -> value`."""
    _register(SYNAPSE_TYPES, "synapse", name, transmit, replace)


def neuron_type_id(name: str) -> int:
    if name not in NEURON_TYPES:
        raise ValueError(f"unknown neuron type {name!r}; registered: {', '.join(NEURON_TYPES)}")
    return list(NEURON_TYPES).index(name)


def synapse_type_id(name: str) -> int:
    if name not in SYNAPSE_TYPES:
        raise ValueError(f"unknown synapse type {name!r}; registered: {', '.join(SYNAPSE_TYPES)}")
    return list(SYNAPSE_TYPES).index(name)
