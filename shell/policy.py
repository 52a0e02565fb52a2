"""`neuro policy show|check`: the resource policies, as a person or a script wants them."""

from __future__ import annotations

import json
import sys
from typing import Any

import msgspec

import neuro
from neuro.kernel._policyfiles import PolicyStore, check_policy_file

from ._output import print_rows


def main(args: Any) -> int:
    if args.policy_command == "check":
        return _check(args)
    return _show(args)


def _check(args: Any) -> int:
    import os

    if not os.path.isfile(args.file):
        from .cli import EXIT_NOT_FOUND, Problem

        raise Problem(f"no policy file at {args.file}", code=EXIT_NOT_FOUND, type="NotFound",
                      hint="give the path of a .toml file")
    try:
        policy = check_policy_file(args.file, args.dir)
    except neuro.PolicyError as e:
        if args.json:
            print(json.dumps({"ok": False, "file": args.file, "error": str(e)}))
        else:
            print(f"invalid: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"ok": True, "file": args.file, "policy": msgspec.to_builtins(policy)}))
    else:
        print(f"ok: {args.file} defines policy {policy.name!r}"
              + (f" (inherits {policy.inherit!r})" if policy.inherit else ""))
    return 0


def _show(args: Any) -> int:
    store = PolicyStore(args.dir)
    policies = store.policies
    for name, error in store.errors.items():
        print(f"warning: policy {name!r} not loaded: {error}", file=sys.stderr)
    if args.name:
        if args.name not in policies:
            from .cli import EXIT_NOT_FOUND, Problem

            raise Problem(f"no policy named {args.name!r}; known: {', '.join(sorted(policies))}",
                          code=EXIT_NOT_FOUND, type="NoSuchPolicy", hint="list them with `neuro policy show`")
        doc = msgspec.to_builtins(policies[args.name])
        if args.json:
            print(json.dumps(doc, indent=2))
        else:
            width = max(map(len, doc))
            for key, value in doc.items():
                print(f"{key:<{width}}  {value}")
        return 0
    rows = [{
        "name": p.name, "sandbox": p.sandbox, "priority": p.priority, "mailbox": p.mailbox_size,
        "overflow": p.overflow, "rate": p.rate or "-", "wall_time": p.wall_time or "-",
        "memory": p.memory or "-", "network": p.capabilities.network, "description": p.description,
    } for p in sorted(policies.values(), key=lambda p: p.name)]
    print_rows(rows, args)
    return 0
