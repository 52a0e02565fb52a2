"""The GPT weight format (version 1): msgpack ``{"config": {...GPTConfig}, "vocab": n,
"steps": n, "tensors": {name: {"shape", "data"}}}``, raw little-endian float32. numpy, msgspec."""

from __future__ import annotations

from typing import Any

import msgspec

from ..protocol import Weights
from .config import GPTConfig

__all__ = ["FORMAT", "VERSION", "encode", "decode"]

FORMAT, VERSION = "learning.gpt", 1


def encode(cfg: GPTConfig, vocab: int, steps: int, arrays: dict[str, Any]) -> Weights:
    import numpy as np

    tensors = {k: {"shape": list(v.shape), "data": np.ascontiguousarray(v, "<f4").tobytes()} for k, v in arrays.items()}
    doc = {"config": msgspec.to_builtins(cfg), "vocab": vocab, "steps": steps, "tensors": tensors}
    return Weights(format=FORMAT, version=VERSION, data=msgspec.msgpack.encode(doc),
                   meta={"d_model": str(cfg.d_model), "layers": str(cfg.layers), "vocab": str(vocab)})


def decode(w: Weights) -> tuple[GPTConfig, int, int, dict[str, Any]]:
    """(config, vocab size, steps trained, arrays) from version-1 weights."""
    import numpy as np

    if w.format != FORMAT:
        raise ValueError(f"these weights are {w.format!r}, not {FORMAT!r}: Restore them into that learner")
    if w.version != VERSION:
        raise ValueError(f"{FORMAT} weights version {w.version} are not {VERSION}, the only version this code reads")
    try:
        doc = msgspec.msgpack.decode(w.data)
        cfg = msgspec.convert(doc["config"], GPTConfig)
        arrays = {k: np.frombuffer(v["data"], "<f4").reshape(v["shape"]).astype(np.float32)
                  for k, v in doc["tensors"].items()}
        return cfg, int(doc["vocab"]), int(doc["steps"]), arrays
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{FORMAT} weights version {w.version} are damaged: {e}") from None
