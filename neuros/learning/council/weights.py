"""The council's weight format, and a job's full state for checkpoints. numpy and msgspec for
the format; torch only where the net is rebuilt.

Version 1 (current): msgpack map ``{"config": {...CouncilConfig fields}, "tensors": {name:
{"shape", "data"}}}`` with every tensor of the net's ``state_dict`` (System 1 ``s1.*``, the
council ``council.*``, the gate and the neuromodulator) and the EMA teacher's under
``teacher.*``: raw little-endian float32 bytes. `migrate` is where a version 2 would be read
from a version 1; today it only refuses a version it does not know.
"""

from __future__ import annotations

import io
from typing import Any

import msgspec

from ..protocol import Weights
from .config import CouncilConfig

__all__ = ["FORMAT", "VERSION", "to_weights", "from_weights", "migrate", "save_job", "load_job"]

FORMAT = "learning.council"
VERSION = 1


def _tensors(prefix: str, state: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    out = {}
    for name, t in state.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy(), dtype="<f4")
        out[prefix + name] = {"shape": list(a.shape), "data": a.tobytes()}
    return out


def to_weights(online: Any) -> Weights:
    """The net and its EMA teacher as current-version `Weights`."""
    doc = {"config": msgspec.to_builtins(online.cfg),
           "tensors": {**_tensors("", online.model.state_dict()),
                       **_tensors("teacher.", online.meta.teacher.state_dict())}}
    return Weights(format=FORMAT, version=VERSION, data=msgspec.msgpack.encode(doc),
                   meta={"steps": str(online.steps), "vocab": str(online.cfg.vocab)})


def migrate(w: Weights) -> tuple[Weights, int | None]:
    """(current-version weights, the version they came in if older, else None)."""
    if w.format != FORMAT:
        raise ValueError(f"these weights are {w.format!r}, not {FORMAT!r}: Restore them into that learner")
    if w.version == VERSION:
        return w, None
    raise ValueError(f"learning.council weights are version {w.version}; this code reads version {VERSION} "
                     f"(and migrates none older: there is none)")


def from_weights(w: Weights, device: Any = "cpu", config: CouncilConfig | None = None) -> Any:
    """An `OnlineCouncil` with these weights (fresh stream state and optimiser). `config`, if
    given, replaces the stored one (its shape fields must match)."""
    import numpy as np
    import torch

    from .online import OnlineCouncil

    current, _ = migrate(w)
    doc = msgspec.msgpack.decode(current.data)
    cfg = config or msgspec.convert(doc["config"], CouncilConfig)
    online = OnlineCouncil(cfg, device)
    tensors = {k: torch.from_numpy(np.frombuffer(v["data"], "<f4").reshape(v["shape"]).copy())
               for k, v in doc["tensors"].items()}
    teacher = {k[len("teacher."):]: v for k, v in tensors.items() if k.startswith("teacher.")}
    own = {k: v for k, v in tensors.items() if not k.startswith("teacher.")}
    problems = []
    for net, state in ((online.model, own), (online.meta.teacher, teacher)):
        result = net.load_state_dict(state, strict=False)
        problems += [f"missing {k}" for k in result.missing_keys] + [f"unexpected {k}" for k in result.unexpected_keys]
    if problems:
        raise ValueError(f"learning.council weights do not fit this net: {', '.join(problems)}")
    return online


def save_job(online: Any) -> bytes:
    """Everything a resumed job needs to go on exactly: weights, Adam's state, the streams'
    memories and surprises, the generator, counters and the job's cursor."""
    import torch

    state = {"weights": msgspec.msgpack.encode(to_weights(online)), "opt": online.meta.opt.state_dict(),
             "memory": online.memory, "surprise": online.surprise, "alarm": online.alarm, "gen": online.gen.get_state(),
             "previous": list(online.previous) if online.previous is not None else None,
             "counters": [online.steps, online.examples, online.s2_calls, *online.cursor],
             "choices": dict(online.meta.choices)}
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def load_job(blob: bytes, device: Any = "cpu") -> Any:
    import torch

    state = torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
    online = from_weights(msgspec.msgpack.decode(state["weights"], type=Weights), device)
    online.meta.opt.load_state_dict(state["opt"])
    online.memory = None if state["memory"] is None else state["memory"].to(online.device)
    online.surprise = None if state["surprise"] is None else state["surprise"].to(online.device)
    alarm = state.get("alarm", state["surprise"])  # a job saved before the alarm: its surprise
    online.alarm = None if alarm is None else alarm.to(online.device)
    online.gen.set_state(state["gen"])
    if state["previous"] is not None:
        online.previous = tuple(t.to(online.device) for t in state["previous"])
    online.steps, online.examples, online.s2_calls, g, t = (int(v) for v in state["counters"])
    online.cursor = (g, t)
    online.meta.choices.update(state["choices"])
    return online
