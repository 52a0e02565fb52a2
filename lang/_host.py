"""`lang`: the system neuro that compiles and runs Neuro-Lang files for clients (the CLI).

A client sends the text of a `.neuro` file and of the files it imports (`sources`, by
path), and gets back the problems (each located), what the compiler made of it, or a net's
output. It compiles against the neuros its kernel runs, and runs a net through its own
context, so a run is messages like any other, with a ``net.run`` event as its lineage.
Programs compiled from the same texts are kept (up to `KEEP`), so a second run of a file
reuses its memo. It runs trusted and in-process (policy `default`); it reads no file itself.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any, Literal

import msgspec

from neuro import sdk

from ._errors import LangError
from ._program import Program, compile_source

__all__ = ["LangHost", "LangRequest", "LangReply", "NAME", "SPEC"]

NAME = "lang"
SPEC = "neuro.lang._host:LangHost"
KEEP = 32


class LangRequest(sdk.Message):
    """`op` on the file `file` whose text is `text`; `sources`: the files it imports (path ->
    text); `lock`: a lock file's versions; `net` and `input` for a run, `fresh` to skip the memo."""

    op: Literal["check", "build", "run"]
    text: str
    file: str | None = None
    sources: dict[str, str] = {}
    lock: dict[str, str] = {}
    net: str | None = None
    input: Any = None
    fresh: bool = False


class LangReply(sdk.Message):
    ok: bool
    diagnostics: list[dict[str, Any]] = []
    program: dict[str, Any] | None = None
    python: dict[str, str] = {}
    policies: dict[str, str] = {}
    net: str | None = None
    output: Any = None
    run: int | None = None
    called: int = 0
    cached: int = 0


class LangHost(sdk.Neuro):
    name = NAME
    input = LangRequest
    output = LangReply

    def __init__(self) -> None:
        self._programs: OrderedDict[str, Program] = OrderedDict()

    def _compile(self, ctx: Any, req: LangRequest) -> Program:
        key = hashlib.sha256(json.dumps([req.text, req.file, req.sources, req.lock], sort_keys=True).encode()).hexdigest()
        found = self._programs.get(key)
        if found is not None:
            self._programs.move_to_end(key)
            return found
        program = compile_source(req.text, req.file, sources=req.sources, kernel=ctx, lock=req.lock or None)
        self._programs[key] = program
        if len(self._programs) > KEEP:
            self._programs.popitem(last=False)
        return program

    async def handle(self, ctx: Any, req: LangRequest) -> LangReply:
        try:
            program = self._compile(ctx, req)
        except LangError as e:
            return LangReply(ok=False, diagnostics=e.as_data())
        if req.op == "check":
            return LangReply(ok=True, program={"main": program.main, "nets": {n: b.version for n, b in
                                                                               program.nets.items()},
                                               "neuros": program.uses})
        if req.op == "build":
            return LangReply(ok=True, program=program.describe(), python=program.python, policies=program.policies)
        name = req.net or program.main
        if name not in program.nets:
            raise sdk.Reject(f"no net {name!r} in {req.file or 'the file'} (its nets: {', '.join(program.nets)}); "
                             "name one with --net")
        built = program.nets[name]
        try:
            msg = msgspec.convert(req.input if req.input is not None else {}, built.input)
        except msgspec.ValidationError as e:
            raise sdk.Reject(f"the input does not fit net {name!r}'s input type "
                             f"{getattr(built.input, '__name__', built.input)}: {e}") from None
        result, run = await built.run_counted(ctx, msg, fresh=req.fresh)
        return LangReply(ok=True, net=name, output=msgspec.to_builtins(result), run=run.id, called=run.called,
                         cached=run.cached)
