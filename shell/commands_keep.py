"""`neuro apply FILE`, `neuro kept`, `neuro unpin NAME`, and what `spawn --keep`, `stop` and
`rollback` say about keeping and pins.

Kept neuros (`neuro spawn --keep`, `neuro apply`) are in ``$NEURO_HOME/keep.toml``
(shell/_keepfile.py); the daemon starts each again at its start. `neuro stop NAME` of a kept
neuro stops it now and says that it comes back at the next daemon start, like a container of
``docker run --restart=always`` after ``docker stop``; ``--forget`` also stops keeping it.

`neuro apply FILE` makes the daemon run what FILE lists, as ``kubectl apply --prune`` does:
it spawns what is missing, swaps in what changed (replaces it when its policy or trust
changed, which a swap cannot change), and stops what an earlier apply of the same FILE
started that FILE no longer lists. ``--dry-run`` prints that plan and changes nothing.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ._cliutil import Session
from ._keepfile import Kept, KeepFileError, Wanted, forget, keep, locked, read_apply, read_keep
from ._output import output_of, print_rows, print_value


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import add

    apply = add(sub, "apply", common, help="make the daemon run the neuros a file lists, and keep them",
                description="Make the daemon run the neuros FILE lists (TOML: [[neuro]] tables with name, spec, "
                            "and optional policy and trusted), and keep them across daemon restarts: spawn what "
                            "is missing, swap in what changed (a file's new version, or a new spec), replace "
                            "what changed policy or trust, and stop what an earlier apply of the same FILE "
                            "started that it no longer lists (as `kubectl apply --prune`). A relative file in "
                            "a spec is relative to FILE's folder. Exit 1 if a step failed (the others are done).",
                example="neuro apply neuros.toml --dry-run", run=_apply)
    apply.add_argument("file", metavar="FILE", help="the TOML file of the neuros to keep running")
    apply.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")

    add(sub, "kept", common, help="list the neuros the daemon starts again at each start",
        description="List the kept neuros ($NEURO_HOME/keep.toml): those of `neuro spawn --keep` and `neuro "
                    "apply` (the `applied` column names the file). Works without a daemon.",
        example="neuro kept --json", run=_kept)

    unpin = add(sub, "unpin", common, help="let a pinned drop-folder neuro follow its file again",
                description="A drop-folder neuro that was stopped or rolled back is pinned: saving its file does "
                            "not undo that. Unpin loads the file's current version again (spawned, or swapped "
                            "in) and says what runs now. Exit 5 if NAME is not pinned.",
                example="neuro unpin echo", run=_unpin)
    unpin.add_argument("name", metavar="NAME")


def _keep_path(args: argparse.Namespace) -> str:
    from .daemon import State

    return str(State(args.home).keep)


def _bad_file(e: KeepFileError) -> Exception:
    from .cli import EXIT_FAILED, Problem

    return Problem(str(e), code=EXIT_FAILED, type="KeepFileError",
                   hint="fix the line it names (docs/daemon.md shows the file's shape)")


# -- spawn --keep, stop, rollback (called by commands_neuros) --------------------------------

def keep_spawned(args: argparse.Namespace, spec: str, info: dict[str, Any]) -> str:
    """`neuro spawn --keep`: record the spawn in the keep file; returns the line to print."""
    try:
        keep(_keep_path(args), Kept(name=info["name"], spec=spec, policy=args.policy, trusted=bool(args.trusted),
                                    version=info.get("version")))
    except KeepFileError as e:
        raise _bad_file(e) from None
    return (f"kept: {info['name']} starts again at each daemon start "
            f"(`neuro stop --forget {info['name']}` stops keeping it)")


def stop_notes(args: argparse.Namespace, s: Any, stopped: bool) -> dict[str, Any]:
    """What comes of `neuro stop NAME` besides the stop: a drop-folder neuro is pinned (a
    save of its file will not start it), a kept one starts again at the next daemon start
    unless `--forget`. Returns {"pinned", "kept", "forgotten", "notes"}."""
    name = args.name
    notes: list[str] = []
    pin = _pin_of(s, name) if stopped else None
    if pin is not None:
        notes.append(f"pinned: {name} runs from {pin['file']}; saving that file will not start it again until "
                     f"`neuro unpin {name}`")
    path = _keep_path(args)
    forgotten = None
    try:
        if getattr(args, "forget", False):
            forgotten = forget(path, name)
            kept = None
        else:
            kept = next((k for k in read_keep(path) if k.name == name), None)
    except KeepFileError as e:
        raise _bad_file(e) from None
    if forgotten is not None:
        notes.append(f"forgotten: {name} is no longer kept; the next daemon start leaves it stopped")
    elif kept is not None:
        how = f"`neuro apply {kept.applied}`" if kept.applied else "`neuro spawn --keep`"
        notes.append(f"kept: {name} starts again at the next daemon start ({how}); `neuro stop --forget {name}` "
                     "stops keeping it")
    return {"pinned": pin, "kept": kept is not None, "forgotten": forgotten is not None, "notes": notes}


def kept_but_not_running(args: argparse.Namespace) -> bool:
    """`neuro stop --forget NAME` of a kept neuro that is not running: only the forgetting to do."""
    try:
        return getattr(args, "forget", False) and any(k.name == args.name for k in read_keep(_keep_path(args)))
    except KeepFileError as e:
        raise _bad_file(e) from None


def rollback_notes(s: Any, name: str) -> list[str]:
    """A drop-folder neuro rolled back is pinned there: say so, and how to undo it."""
    pin = _pin_of(s, name)
    if pin is None:
        return []
    return [f"pinned: {name} stays at {str(pin['version'])[:8]}; saving {pin['file']} will not undo this rollback "
            f"until `neuro unpin {name}`"]


def _pin_of(s: Any, name: str) -> dict[str, Any] | None:
    return next((p for p in s.status().get("pins", []) if p["name"] == name), None)


# -- neuro unpin ------------------------------------------------------------------------------

def _unpin(args: argparse.Namespace) -> int:
    from .cli import EXIT_PROBLEM

    with Session(args) as s:
        done = s.unpin(args.name)
    if output_of(args) in ("json", "jsonl"):
        print_value(done, args)
    elif done["state"] == "running":
        print(f"unpinned {done['name']}: it follows {done['file']} again, now at version {done['version'][:8]}")
    elif done["state"] == "broken":
        print(f"unpinned {done['name']}: it follows {done['file']} again, but the file does not load: {done['error']}")
    else:
        print(f"unpinned {done['name']}: it follows {done['file']} again ({done['state']})")
    return EXIT_PROBLEM if done["state"] == "broken" else 0


# -- neuro kept -------------------------------------------------------------------------------

def _kept(args: argparse.Namespace) -> int:
    import msgspec

    try:
        kept = read_keep(_keep_path(args))
    except KeepFileError as e:
        raise _bad_file(e) from None
    rows = [msgspec.to_builtins(k) for k in kept]
    if output_of(args) not in ("json", "jsonl"):
        rows = [{**r, "version": (r.get("version") or "")[:8], "policy": r.get("policy") or "-",
                 "applied": r.get("applied") or "-"} for r in rows]
    print_rows(rows, args)
    return 0


# -- neuro apply ------------------------------------------------------------------------------

def _apply(args: argparse.Namespace) -> int:
    from .cli import EXIT_NOT_FOUND, EXIT_PROBLEM, Problem

    source = os.path.abspath(args.file)
    try:
        wanted = read_apply(source)
    except FileNotFoundError:
        raise Problem(f"no file {source}", code=EXIT_NOT_FOUND, type="NotFound",
                      hint="give the TOML file of the neuros to keep running") from None
    except KeepFileError as e:
        raise _bad_file(e) from None
    path = _keep_path(args)
    with Session(args) as s:
        try:
            kept = {k.name: k for k in read_keep(path)}
        except KeepFileError as e:
            raise _bad_file(e) from None
        running = {p["name"]: p for p in s.ps() if p["state"] != "broken"}
        steps = plan(s, wanted, kept, running, source)
        if not args.dry_run:
            for step in steps:
                _do(s, step)
            _record(path, steps, source)
    rows = [{k: v for k, v in step.items() if k != "wanted"} for step in steps]
    if output_of(args) in ("json", "jsonl"):
        print_value({"file": source, "dry_run": args.dry_run, "steps": rows}, args)
    else:
        done = sum(1 for r in rows if r["action"] != "unchanged")
        print(f"{'plan for' if args.dry_run else 'applied'} {source}: {done} change{'s' if done != 1 else ''}"
              + (" (dry run: nothing changed)" if args.dry_run else ""))
        print_rows([{**r, "version": (r.get("version") or "")[:8]} for r in rows], args)
    return EXIT_PROBLEM if any(r.get("result", "").startswith("failed") for r in rows) else 0


def plan(s: Any, wanted: list[Wanted], kept: dict[str, Kept], running: dict[str, Any],
         source: str) -> list[dict[str, Any]]:
    """What `apply` would do, a step a neuro: spawn, swap, replace, unchanged, prune (or
    error: a file that does not load)."""
    steps: list[dict[str, Any]] = []
    for w in wanted:
        step: dict[str, Any] = {"action": "", "name": w.name, "spec": w.spec, "version": None, "why": "",
                                "wanted": w}
        row, before = running.get(w.name), kept.get(w.name)
        version = None
        if _is_file(w.spec):
            try:
                version = s.load(w.spec.partition(":")[0], trusted=w.trusted)["version"]
            except Exception as e:  # noqa: BLE001 - the file's own error is this step's
                step.update(action="error", why=f"{type(e).__name__}: {e}")
                steps.append(step)
                continue
        step["version"] = version
        if row is None:
            step.update(action="spawn", why="not running")
        elif (w.policy is not None and w.policy != row["policy"]) or \
                (before is not None and (before.trusted != w.trusted or before.policy != w.policy)):
            step.update(action="replace", why=f"policy or trust changed (policy {row['policy']} -> "
                                              f"{w.policy or 'its own'})")
        elif version is not None and version != row["version"]:
            step.update(action="swap", why=f"new version ({row['version'][:8]} -> {version[:8]})")
        elif version is None and before is not None and before.spec != w.spec:
            step.update(action="swap", why=f"new spec (was {before.spec})")
        else:
            step.update(action="unchanged", version=version or row["version"], why="running as listed")
        steps.append(step)
    listed = {w.name for w in wanted}
    for name, before in sorted(kept.items()):
        if before.applied == source and name not in listed:
            steps.append({"action": "prune", "name": name, "spec": before.spec, "version": before.version,
                          "why": "no longer in the file" + ("" if name in running else " (not running)"),
                          "wanted": None})
    return steps


def _is_file(spec: str) -> bool:
    path = spec.partition(":")[0]
    return path.endswith(".py") or os.sep in path


def _do(s: Any, step: dict[str, Any]) -> None:
    """Carry out one step; its `result` says how it went (a failure does not stop the others)."""
    import neuro

    w: Wanted | None = step["wanted"]
    try:
        if step["action"] == "error":
            step["result"] = "failed: " + step["why"]
            return
        if step["action"] == "unchanged":
            step["result"] = "ok"
            return
        if step["action"] in ("replace", "prune"):
            try:
                s.stop(step["name"])
            except neuro.NoSuchNeuro:
                pass
        if w is not None and step["action"] in ("spawn", "replace"):
            info = s.spawn(w.spec, name=w.name, policy=w.policy, trusted=w.trusted)
            step["version"] = info["version"]
        elif w is not None and step["action"] == "swap":
            report = s.swap(w.name, w.spec, trusted=w.trusted)
            step["version"] = report["new_version"]
        step["result"] = "ok"
    except Exception as e:  # noqa: BLE001 - reported in the step's row, and in the exit code
        step["result"] = f"failed: {type(e).__name__}: {e}"


def _record(path: str, steps: list[dict[str, Any]], source: str) -> None:
    """The keep file after an apply: what it runs is kept (as applied from `source`), what it
    pruned is not."""
    with locked(path) as kept:
        by_name = {k.name: k for k in kept}
        for step in steps:
            w = step["wanted"]
            if step["action"] == "prune" and step.get("result") == "ok":
                by_name.pop(step["name"], None)
            elif w is not None and step.get("result") == "ok":
                by_name[w.name] = Kept(name=w.name, spec=w.spec, policy=w.policy, trusted=w.trusted,
                                       version=step.get("version"), applied=source)
        kept[:] = list(by_name.values())
