"""Weights of a learner whose state is plain data (numbers, lists, strings: no tensors), as
protocol `Weights`: its config and state in one msgpack map. One reader and one writer for the
fractal and schema learners; a format other than the learner's, or a newer version, is refused."""

from __future__ import annotations

from typing import Any

import msgspec

from ..protocol import Weights

__all__ = ["encode_plain", "decode_plain"]


def encode_plain(fmt: str, version: int, config: Any, state: dict[str, Any]) -> Weights:
    """`Weights` holding `config` (a msgspec Struct) and `state` (plain data)."""
    doc = {"config": msgspec.to_builtins(config), "state": state}
    return Weights(format=fmt, version=version, data=msgspec.msgpack.encode(doc))


def decode_plain(weights: Weights, fmt: str, version: int, config_type: type) -> tuple[Any, dict[str, Any]]:
    """(config, state) from `weights` written by `encode_plain`."""
    if weights.format != fmt:
        raise ValueError(f"these weights are {weights.format!r}, not {fmt!r}: Restore them into that learner")
    if not 1 <= weights.version <= version:
        raise ValueError(f"{fmt} weights version {weights.version} cannot be read by this code (it reads 1 to "
                         f"{version}); upgrade the learner")
    try:
        doc = msgspec.msgpack.decode(weights.data)
        return msgspec.convert(doc["config"], config_type), dict(doc["state"])
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError) as e:
        raise ValueError(f"{fmt} weights version {weights.version} are damaged: {e}") from None
