"""Torch modules' weights as protocol `Weights`: a config plus state dicts, one reader and one
writer for the paradigm learners (continual, adversarial, diffusion). torch only inside.

Layout (msgpack map): ``{"config": {...config fields}, "states": {module name: torch.save
bytes of its state dict}, "extra": {...}}``. A format other than the learner's, or a version
newer than its code reads, is refused with what to do.
"""

from __future__ import annotations

import io
from typing import Any

import msgspec

from ..protocol import Weights

__all__ = ["encode_modules", "decode_modules", "config_with", "check_device", "digits_flat", "require_whole"]


def encode_modules(fmt: str, version: int, config: Any, modules: dict[str, Any],
                   extra: dict[str, Any] | None = None) -> Weights:
    """`Weights` holding `config` (a msgspec Struct) and each module's state dict (on the CPU);
    a value of `modules` may also be a plain dict of tensors."""
    import torch

    states = {}
    for name, module in modules.items():
        buf = io.BytesIO()
        state = module.state_dict() if hasattr(module, "state_dict") else module
        torch.save({k: v.detach().cpu() for k, v in state.items()}, buf)
        states[name] = buf.getvalue()
    doc = {"config": msgspec.to_builtins(config), "states": states, "extra": extra or {}}
    return Weights(format=fmt, version=version, data=msgspec.msgpack.encode(doc))


def decode_modules(weights: Weights, fmt: str, version: int, config_type: type) -> tuple[Any, dict[str, Any], dict]:
    """(config, {name: state dict}, extra) from `weights` written by `encode_modules`."""
    import torch

    if weights.format != fmt:
        raise ValueError(f"these weights are {weights.format!r}, not {fmt!r}: Restore them into that learner")
    if weights.version > version:
        raise ValueError(f"{fmt} weights version {weights.version} are newer than this code reads ({version}); "
                         "upgrade the learner")
    if weights.version < 1:
        raise ValueError(f"{fmt} weights version {weights.version} do not exist (the first is 1)")
    try:
        doc = msgspec.msgpack.decode(weights.data)
        cfg = msgspec.convert(doc["config"], config_type)
        states = {k: torch.load(io.BytesIO(v), map_location="cpu", weights_only=True) for k, v in doc["states"].items()}
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError, RuntimeError) as e:
        raise ValueError(f"{fmt} weights version {weights.version} are damaged: {e}") from None
    return cfg, states, doc.get("extra", {})


def config_with(config_type: type, base: Any, options: dict[str, Any], learner: str) -> Any:
    """`base` with `options` applied; an unknown name or a bad value is a ValueError naming what
    is allowed."""
    known = set(config_type.__struct_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for {learner}; known: {', '.join(sorted(known))}")
    try:
        return msgspec.convert({**msgspec.to_builtins(base), **options}, config_type)
    except msgspec.ValidationError as e:
        raise ValueError(f"bad option for {learner}: {e}") from None


def require_whole(cfg: Any, names: tuple[str, ...], least: int = 1) -> None:
    """Refuse any of the options `names` of `cfg` that is not a whole number >= least."""
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"option {name} must be a whole number >= {least}, got {value!r}")


def check_device(device: str) -> None:
    """Refuse a `device` option that is not "auto", "cpu", "cuda" or "cuda:N"."""
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"option device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def digits_flat(seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """scikit-learn's digits as flat float32 rows in [0, 1]: (x_train, y_train, x_test, y_test)."""
    import numpy as np

    from ..traindata import named_data

    data = named_data("digits")
    xtr, (xte, yte) = data.x, data.test
    flat = lambda a: np.array(a, np.float32).reshape(len(a), -1)  # noqa: E731 (a writable copy)
    return flat(xtr), np.array(data.y, np.int64), flat(xte), np.array(yte, np.int64)
