"""The plasticity weight format, its version and its migration. numpy and msgspec only.

Version 2 (current): msgpack map ``{"config": {...PlasticityConfig fields}, "tensors": {name:
{"shape", "dtype", "data"}}, "buffer": [[cue bits], [target bits]], "meta_steps": n}`` with
tensors the genome's (``genome.coef`` (6,), ``genome.w_in`` (3, H), ``genome.b_in`` (H,),
``genome.w_out`` (H, 2), ``genome.log_eta``, ``genome.reflect_rate``, ``genome.reflect_gain``),
the slow weights ``W0`` (D, D) and the current memory ``memory`` (D, D): the fast weights the
last lifetime left. Raw little-endian float32.
Version 1 held the first build's genome, a per-synapse MLP of another rule family: there is
no rule of this family it maps to, so it is refused with what to do (meta-train anew). A
version above VERSION is refused too (it comes from newer code).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..protocol import Weights
from .config import PlasticityConfig

__all__ = ["FORMAT", "VERSION", "encode", "decode", "migrate"]

FORMAT = "learning.plasticity"
VERSION = 2


def _arr(a: Any) -> dict[str, Any]:
    import numpy as np

    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "dtype": "float32", "data": a.tobytes()}


def _unarr(d: dict[str, Any]) -> Any:
    import numpy as np

    return np.frombuffer(d["data"], dtype="<f4").reshape(d["shape"]).astype(np.float32)


def encode(cfg: PlasticityConfig, tensors: dict[str, Any], buffer: tuple[list, list], meta_steps: int) -> Weights:
    """Current-version `Weights` from a config, named numpy arrays and the episodic buffer."""
    doc = {"config": msgspec.to_builtins(cfg), "tensors": {k: _arr(v) for k, v in tensors.items()},
           "buffer": [[list(map(int, c)) for c in buffer[0]], [list(map(int, t)) for t in buffer[1]]],
           "meta_steps": int(meta_steps)}
    return Weights(format=FORMAT, version=VERSION, data=msgspec.msgpack.encode(doc),
                   meta={"dim": str(cfg.dim), "genome_hidden": str(cfg.genome_hidden)})


def decode(w: Weights) -> tuple[PlasticityConfig, dict[str, Any], tuple[list, list], int]:
    """(config, tensors, buffer, meta_steps) from current-version `Weights`."""
    if w.format != FORMAT:
        raise ValueError(f"these weights are {w.format!r}, not {FORMAT!r}: Restore them into that learner")
    if w.version != VERSION:
        raise ValueError(f"plasticity weights are version {w.version}; migrate them to {VERSION} first")
    try:
        doc = msgspec.msgpack.decode(w.data)
        cfg = msgspec.convert(doc["config"], PlasticityConfig)
        tensors = {k: _unarr(v) for k, v in doc["tensors"].items()}
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"learning.plasticity weights version {w.version} are damaged: {e}") from None
    missing = sorted({"W0", "memory", "genome.coef", "genome.w_in", "genome.b_in", "genome.w_out",
                      "genome.log_eta", "genome.reflect_rate", "genome.reflect_gain"} - set(tensors))
    if missing:
        raise ValueError(f"learning.plasticity weights lack {', '.join(missing)}")
    return cfg, tensors, (doc["buffer"][0], doc["buffer"][1]), int(doc["meta_steps"])


def migrate(w: Weights | Any) -> tuple[Weights, int | None]:
    """(current-version weights, the version they came in if older, else None)."""
    if not isinstance(w, Weights):
        w = msgspec.convert(w, Weights)
    if w.format != FORMAT:
        raise ValueError(f"these weights are {w.format!r}, not {FORMAT!r}")
    if w.version > VERSION:
        raise ValueError(f"plasticity weights version {w.version} are newer than this code reads ({VERSION}); "
                         "upgrade the learner")
    if w.version == 1:
        raise ValueError("plasticity weights version 1 hold the first build's genome (a per-synapse MLP of "
                         "another rule family) and cannot be carried over: meta-train a new genome (Train)")
    if w.version < 1:
        raise ValueError(f"plasticity weights version {w.version} do not exist (the first is 1)")
    return w, None
