"""`neuro versions|diff`: the version store, read from the daemon (its history lives in the log)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._cliutil import Session, when
from ._output import print_rows, print_value


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import add

    versions = add(sub, "versions", common, help="every version of a neuro in the version store",
                   description="List every version of a neuro in the version store, oldest first: when it "
                               "was recorded, its origin (spawn, file, api, rollback, dream), the version it "
                               "came from, whether its code was trusted, its artifacts and the rest of its "
                               "lineage; `live` marks the one running. The store lives in the daemon's log, so "
                               "this survives a restart. With --source V, print that version's code instead.",
                   example="neuro versions echo", run=_versions)
    versions.add_argument("name", metavar="NAME")
    versions.add_argument("--source", metavar="VERSION",
                          help="print the code of this version (a version or its prefix) instead of the list")

    diff = add(sub, "diff", common, help="show how two stored versions of a neuro differ",
               description="Print a unified diff of the code of two stored versions of a neuro (each a "
                           "version or its prefix, see `neuro versions NAME`), then a line for each artifact "
                           "whose bytes changed; nothing when they are the same code. Exit 0 either way.",
               example="neuro diff echo 3fa2 91bc", run=_diff)
    diff.add_argument("name", metavar="NAME")
    diff.add_argument("old", metavar="V1", help="the version to compare from")
    diff.add_argument("new", metavar="V2", help="the version to compare to")


def _versions(args: argparse.Namespace) -> int:
    if args.source is not None:
        return _source(args)
    with Session(args) as s:
        rows = s.versions(args.name)
    if not rows:
        from .cli import EXIT_NOT_FOUND, Problem

        raise Problem(f"no versions of {args.name!r} in the version store", code=EXIT_NOT_FOUND, type="NotFound",
                      hint="see the neuros with `neuro ps`; the store records each one spawned or swapped")
    print_rows(rows if args.output in ("json", "jsonl", "quiet") else [_row(r) for r in rows], args, key="version")
    return 0


def _row(r: dict[str, Any]) -> dict[str, Any]:
    """One version as the table shows it; the lineage's own figures last, as key=value."""
    lineage = dict(r.get("lineage") or {})
    for known in ("origin", "parents", "trusted", "loader"):
        lineage.pop(known, None)
    notes = lineage.pop("notes", {}) or {}
    extra = {**{k: v for k, v in lineage.items() if v not in (None, [], {})}, **notes}
    trusted = (r.get("lineage") or {}).get("trusted", False)
    return {
        "version": r["version"][:12], "time": when(r["time"]), "origin": r["origin"],
        "parent": (r.get("parent") or "-")[:12], "live": "live" if r.get("live") else "",
        "code": "trusted" if trusted else f"sandboxed ({(r.get('lineage') or {}).get('loader', 'untrusted')})",
        "artifacts": len(r.get("artifacts") or {}),
        "lineage": " ".join(f"{k}={json.dumps(v, default=str, separators=(',', ':'))}" for k, v in extra.items())
        or "-",
    }


def _source(args: argparse.Namespace) -> int:
    with Session(args) as s:
        src = s.source(args.name, args.source)
    if args.json:
        print_value(src, args)
        return 0
    files = src["files"]
    if len(files) == 1 and not src.get("artifacts"):  # one module: just its code, to read or redirect
        print(next(iter(files.values())), end="")
        return 0
    for rel, text in files.items():
        print(f"# ==> {rel} <==")
        print(text, end="" if text.endswith("\n") else "\n")
    for rel, sha in (src.get("artifacts") or {}).items():
        print(f"# artifact {rel}: sha256 {sha}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    import msgspec

    from neuro.kernel._versions import VersionSource, diff_sources

    with Session(args) as s:
        old, new = (msgspec.convert(s.source(args.name, v), VersionSource) for v in (args.old, args.new))
    text = diff_sources(old, new)
    if args.json:
        print_value({"neuro": old.neuro, "old": old.version, "new": new.version, "same": not text, "diff": text},
                    args)
    else:
        print(text, end="")
    return 0
