"""The eqprop weight format, its versions and their migration. numpy and msgspec only.

Version 2 (current): msgpack map ``{"config": {...EqPropConfig fields}, "input_shape": [...],
"classes": n, "input_range": [lo, hi], "tensors": {name: {"shape", "dtype", "data"}}}`` with
tensors ``W0..WL`` (n_{k+1}, n_k), ``b0..bL`` and, for the feedback variants, ``B1..BL``.
Raw little-endian float32 bytes, so a snapshot is about 4 bytes a weight.

Version 1: the prototype layout written while this neuro was built (never shipped to a
user; kept so the migration path is real and tested): ``{"hidden": [...], "beta": b,
"sizes": [...], "weights": [nested lists], "biases": [nested lists]}``, symmetric nets with
flat inputs only. `migrate` lifts it to version 2 with every other field at its default.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from ..protocol import Weights
from .config import EqPropConfig

__all__ = ["FORMAT", "VERSION", "encode", "decode", "migrate", "as_weights"]

FORMAT = "learning.eqprop"
VERSION = 2


def _arr(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "dtype": "float32", "data": a.tobytes()}


def _unarr(d: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(d["data"], dtype="<f4").reshape(d["shape"]).astype(np.float32)


def encode(cfg: EqPropConfig, input_shape, classes: int, input_range, tensors: dict[str, np.ndarray]) -> Weights:
    """Current-version `Weights` from a config and named numpy arrays."""
    doc = {
        "config": msgspec.to_builtins(cfg),
        "input_shape": list(input_shape),
        "classes": int(classes),
        "input_range": list(input_range),
        "tensors": {k: _arr(v) for k, v in tensors.items()},
    }
    return Weights(format=FORMAT, version=VERSION, data=msgspec.msgpack.encode(doc))


def decode(w: Weights) -> tuple[EqPropConfig, tuple[int, ...], int, tuple[float, float], dict[str, np.ndarray]]:
    """(config, input_shape, classes, input_range, tensors) from current-version `Weights`."""
    if w.version != VERSION:
        raise ValueError(f"eqprop weights are version {w.version}; migrate them to {VERSION} first")
    doc = msgspec.msgpack.decode(w.data)
    cfg = msgspec.convert(doc["config"], EqPropConfig)
    tensors = {k: _unarr(v) for k, v in doc["tensors"].items()}
    return cfg, tuple(doc["input_shape"]), int(doc["classes"]), tuple(doc["input_range"]), tensors


def as_weights(state: Any) -> Weights:
    """Accept `Weights`, its msgpack bytes, or its dict form (as a log may hand it back)."""
    if isinstance(state, Weights):
        return state
    if isinstance(state, (bytes, bytearray, memoryview)):
        return msgspec.msgpack.decode(bytes(state), type=Weights)
    if isinstance(state, dict):
        return msgspec.convert(state, Weights)
    raise TypeError(f"expected eqprop Weights (or their bytes or dict), got {type(state).__name__}")


def migrate(state: Any) -> tuple[Weights, int | None]:
    """Upgrade `state` to the current version, one step at a time. Returns (weights, from)."""
    w = as_weights(state)
    if w.format != FORMAT:
        raise ValueError(f"these weights are for {w.format!r}, not {FORMAT!r}")
    if w.version > VERSION:
        raise ValueError(
            f"eqprop weights are version {w.version}, newer than this code's {VERSION}; "
            "update the neuro to read them"
        )
    start = w.version
    while w.version < VERSION:
        w = _UPGRADES[w.version](w)
    return w, (start if start != VERSION else None)


def _v1_to_v2(w: Weights) -> Weights:
    doc = msgspec.msgpack.decode(w.data)
    cfg = EqPropConfig(hidden=tuple(doc["hidden"]), beta=float(doc["beta"]))
    tensors = {f"W{k}": np.asarray(m, np.float32) for k, m in enumerate(doc["weights"])}
    tensors.update({f"b{k}": np.asarray(v, np.float32) for k, v in enumerate(doc["biases"])})
    sizes = doc["sizes"]
    out = encode(cfg, (sizes[0],), sizes[-1], (0.0, 1.0), tensors)
    return Weights(format=FORMAT, version=2, data=out.data, meta=dict(w.meta))


def encode_v1(hidden, beta: float, sizes, weights, biases) -> Weights:
    """Write the version-1 layout (for the migration test; nothing else writes it)."""
    doc = {"hidden": list(hidden), "beta": beta, "sizes": list(sizes),
           "weights": [np.asarray(m).tolist() for m in weights], "biases": [np.asarray(v).tolist() for v in biases]}
    return Weights(format=FORMAT, version=1, data=msgspec.msgpack.encode(doc))


_UPGRADES = {1: _v1_to_v2}
