"""`nets`: the system neuro that checks, shows and runs nets for clients (the CLI).

A client sends it a net file's text (or names a net that runs already) and gets back the
problems, the plan or the output. It builds the net against what runs in its kernel (the
types of the neuros there) and runs it through its own context, so a run is messages like
any other and its lineage is a ``net.run`` event whose `run` is the id of the request.

    neuro net run pipeline.net.toml text=hello   # the CLI spawns `nets` when it is not running

Nets built from the same text are kept (up to `KEEP`), so a second run of a file reuses
its memo. It runs trusted and in-process (policy `default`); it reads no file itself.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Literal

import msgspec

from neuro import sdk

from . import _kernelside
from ._built import Built, build, problems_of
from ._graph import NetError
from ._toml import NetFileError, read_toml

__all__ = ["NetHost", "NetRequest", "NetReply", "NAME", "SPEC"]

NAME = "nets"
SPEC = "neuro.nets._host:NetHost"
KEEP = 64


class NetRequest(sdk.Message):
    """What to do (`op`) with which net: its file's `text` (and `file`, for errors) or the
    `name` of a net that runs; `input` for a run, `fresh` to skip the memo, `plan` for show."""

    op: Literal["check", "show", "run"]
    text: str | None = None
    file: str | None = None
    name: str | None = None
    input: Any = None
    fresh: bool = False
    plan: bool = False


class NetReply(sdk.Message):
    ok: bool
    net: str | None = None
    version: str | None = None
    problems: list[dict[str, Any]] = []
    show: dict[str, Any] | None = None
    output: Any = None
    run: int | None = None
    called: int = 0
    cached: int = 0


class NetHost(sdk.Neuro):
    name = NAME
    input = NetRequest
    output = NetReply

    def __init__(self) -> None:
        self._built: OrderedDict[str, Built] = OrderedDict()

    def _from_text(self, ctx: Any, req: NetRequest) -> Built:
        key = hashlib.sha256((req.text or "").encode()).hexdigest()
        found = self._built.get(key)
        if found is not None:
            self._built.move_to_end(key)
            return found
        built = build(read_toml(req.text or "", req.file), kernel=ctx)
        self._built[key] = built
        if len(self._built) > KEEP:
            self._built.popitem(last=False)
        return built

    def _named(self, ctx: Any, name: str) -> Built:
        procs = _kernelside.procs_of(ctx) or {}
        proc = procs.get(name)
        built = getattr(getattr(proc, "neuro", None), "__neuro_net__", None)
        if built is None:
            nets = sorted(n for n, p in procs.items() if getattr(p.neuro, "__neuro_net__", None) is not None)
            raise sdk.Reject(f"no net named {name!r} is running (nets running: {', '.join(nets) or 'none'}); "
                             "give a net file instead")
        return built

    async def handle(self, ctx: Any, req: NetRequest) -> NetReply:
        try:
            built = self._named(ctx, req.name) if req.name else self._from_text(ctx, req)
        except NetError as e:
            return NetReply(ok=False, net=e.net, problems=problems_of(e))
        except NetFileError as e:
            return NetReply(ok=False, problems=[{"kind": "file", "message": str(e), "edge": None, "node": None,
                                                 "source_type": None, "target_type": None}])
        if req.op == "check":
            return NetReply(ok=True, net=built.name, version=built.version)
        if req.op == "show":
            return NetReply(ok=True, net=built.name, version=built.version, show=built.show(plan=req.plan))
        try:
            msg = msgspec.convert(req.input if req.input is not None else {}, built.input)
        except msgspec.ValidationError as e:
            raise sdk.Reject(f"the input does not fit net {built.name!r}'s input type "
                             f"{getattr(built.input, '__name__', built.input)}: {e}") from None
        result, run = await built.run_counted(ctx, msg, fresh=req.fresh)
        return NetReply(ok=True, net=built.name, version=built.version, output=msgspec.to_builtins(result),
                        run=run.id, called=run.called, cached=run.cached)
