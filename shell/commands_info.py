"""`neuro info NAME` (everything about one neuro) and `neuro ps --watch` (a refreshing
table with each neuro's live CPU and memory)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._cliutil import Session
from ._output import output_of, print_rows, print_value, when


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import add

    info = add(sub, "info", common, help="everything about one running neuro",
               description="Show one running neuro: its manifest, its input and output types (fields, types, "
                           "defaults; for a union the tag field and its values, which key=value payloads use), "
                           "the policy in force with every field resolved, backend, the file it came from, "
                           "version and how it came, the last error the log holds (type, message, when), and "
                           "its use of the policy's quotas (CPU and memory where its sandbox has counters; a "
                           "neuro in the daemon's process has none of its own). Exit 5 if it is not running.",
               example="neuro info counter --json", run=_info)
    info.add_argument("name", metavar="NAME")


def _info(args: argparse.Namespace) -> int:
    with Session(args) as s:
        details = s.describe(args.name)
    if output_of(args) in ("json", "jsonl"):
        print_value(details, args)
        return 0
    if output_of(args) == "quiet":
        print(details["process"]["name"])
        return 0
    _show(details, args)
    return 0


def _show(d: dict[str, Any], args: argparse.Namespace) -> None:
    from ._output import paint

    p, m = d["process"], d["manifest"]
    error = d.get("last_error")
    policy = d["policy"]
    head = {
        "name": p["name"], "neuro": m["neuro"],
        "state": f"{paint(p['state'], p['state'], args)} (pid {p['pid']}, restarts {p['restarts']}, "
                 f"supervisor {p['supervisor']})",
        "version": f"{d['version']}" + (f" ({d['version_origin']})" if d.get("version_origin") else ""),
        "backend": d["backend"], "origin": d.get("origin") or "-",
        "policy": policy["name"] + (f" (inherits {policy['inherit']})" if policy.get("inherit") else "")
                  + (f", overrides {m['policy_overrides']}" if m.get("policy_overrides") else ""),
        "started": when(d.get("started_at") or None),
        "messages": f"{p['received']} received, {p['handled']} handled, {p['errors']} errors, "
                    f"{p['dead_letters']} dead letters, {p['mailbox']}/{p['mailbox_capacity']} queued",
        "last_error": (f"{paint(error['type'], 'error', args)}: {error['message']} ({when(error['time'])}, "
                       f"{error['source']})") if error else "none in the log",
    }
    if m.get("hooks"):
        head["hooks"] = ", ".join(m["hooks"])
    if m.get("subscribe"):
        head["subscribes"] = ", ".join(m["subscribe"])
    print_value(head, args)
    print()
    for label, schema in (("input", d["input_schema"]), ("output", d.get("output_schema"))):
        for line in schema_lines(label, schema):
            print(line)
    print()
    print(f"quotas (policy {policy['name']}; limit 0: none):")
    print_rows([{"quota": q["name"], "limit": _amount(q["limit"], q["unit"]) if q["limit"] else "-",
                 "used": _amount(q["used"], q["unit"]) if q["used"] is not None else "-", "note": q["note"]}
                for q in d["quotas"]], args, key="quota")
    if d.get("unenforced"):
        print("not enforced here: " + "; ".join(f"{k} ({v})" for k, v in d["unenforced"].items()))
    print()
    print("policy in force:")
    flat = {k: v for k, v in policy.items() if k not in ("name", "description", "capabilities")}
    flat.update({f"capabilities.{k}": v for k, v in policy.get("capabilities", {}).items()})
    print_value(flat, args)


def _amount(value: float, unit: str) -> str:
    if unit == "bytes":
        return human_bytes(value)
    if unit == "cores":
        return f"{value:.3g} cores"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g} {unit}"
    return f"{value:g} {unit}" if isinstance(value, (int, float)) else str(value)


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# -- a schema, for people ----------------------------------------------------------------------

def schema_lines(label: str, schema: dict[str, Any] | None) -> list[str]:
    """A message type's JSON Schema as lines: each type, then its fields (type, default,
    required); a union names its tag field and each member's tag."""
    if schema is None:
        return [f"{label}: none (it replies with no data)"]
    defs = schema.get("$defs", {})
    root = _deref(schema, defs)
    if "anyOf" in root:
        members = [_deref(m, defs) for m in root["anyOf"]]
        field = (root.get("discriminator") or {}).get("propertyName")
        tags = [_tag(m, field) for m in members]
        lines = [f"{label}: a union of {', '.join(m.get('title', '?') for m in members)}"
                 + (f", picked by `{field}`: {', '.join(t for t in tags if t)}" if field else "")]
        for member, tag in zip(members, tags):
            lines.append(f"  {member.get('title', '?')}" + (f" ({field}={tag})" if tag else ""))
            lines += _fields(member, defs, "    ", skip=field)
        return lines
    return [f"{label}: {root.get('title', type_name(root, defs))}", *_fields(root, defs, "  ")]


def _fields(node: dict[str, Any], defs: dict[str, Any], indent: str, skip: str | None = None) -> list[str]:
    props = node.get("properties") or {}
    required = set(node.get("required") or ())
    rows = []
    for name, prop in props.items():
        if name == skip:
            continue
        text = type_name(prop, defs)
        if name in required:
            text += "  (required)"
        elif "default" in prop:
            import json

            text += f" = {json.dumps(prop['default'])}"
        rows.append((name, text))
    if not rows:
        return [f"{indent}(no fields)"]
    width = max(len(n) for n, _ in rows)
    return [f"{indent}{n:<{width}}  {t}" for n, t in rows]


def _deref(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    for _ in range(32):
        if not isinstance(node, dict) or "$ref" not in node:
            break
        node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
    return node if isinstance(node, dict) else {}


def _tag(member: dict[str, Any], field: str | None) -> str | None:
    values = ((member.get("properties") or {}).get(field) or {}).get("enum") if field else None
    return str(values[0]) if values else None


def type_name(node: dict[str, Any], defs: dict[str, Any]) -> str:
    """A field's type in words of the schema: string, integer, list of integer, X | null..."""
    if "$ref" in node:
        return node["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in node:
        return " | ".join(type_name(o, defs) for o in node["anyOf"])
    if "enum" in node:
        import json

        return "one of " + ", ".join(json.dumps(v) for v in node["enum"])
    kind = node.get("type")
    if kind == "array":
        items = node.get("items")
        return f"list of {type_name(items, defs)}" if items else "list"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"object of {type_name(node['additionalProperties'], defs)}"
    if isinstance(kind, list):
        return " | ".join(kind)
    return kind or "any"


# -- ps --watch -----------------------------------------------------------------------------

def watch_ps(args: argparse.Namespace) -> int:
    """Redraw the process table every `args.interval` seconds with each neuro's CPU (% of one
    core over the last interval) and memory; `args.count` redraws, else until Ctrl-C (130)."""
    import time

    from ._output import ps_row

    output = output_of(args)
    clear = sys.stdout.isatty() and output == "table"
    before: dict[tuple[str, int], tuple[float, float]] = {}
    drawn = 0
    try:
        with Session(args) as s:
            while True:
                procs, usage = s.ps(), {u["name"]: u for u in s.usage()}
                rows = []
                for p in procs:
                    u = usage.get(p["name"], {})
                    key, cpu = (p["name"], p["pid"]), u.get("cpu_seconds")
                    percent = None
                    if cpu is not None and key in before:
                        seconds, at = before[key]
                        if u["time"] > at:
                            percent = round(max(cpu - seconds, 0.0) / (u["time"] - at) * 100, 1)
                    if cpu is not None:
                        before[key] = (cpu, u["time"])
                    row = ps_row(p)
                    row = {"pid": row["pid"], "name": row["name"], "state": row["state"], "sandbox": row["sandbox"],
                           "cpu_percent": percent, "memory": u.get("memory"), "mailbox": row["mailbox"],
                           "handled": row["handled"], "errors": row["errors"], "restarts": row["restarts"]}
                    rows.append(row)
                _draw(rows, args, clear, drawn)
                drawn += 1
                if args.count is not None and drawn >= args.count:
                    return 0
                time.sleep(args.interval)
    except KeyboardInterrupt:
        return 130


def _draw(rows: list[dict[str, Any]], args: argparse.Namespace, clear: bool, drawn: int) -> None:
    import time

    if output_of(args) in ("json", "jsonl", "csv", "quiet"):
        if output_of(args) == "json":
            import json

            print(json.dumps(rows, default=str), flush=True)  # one list a line: each refresh whole
        else:
            print_rows(rows, args)
        sys.stdout.flush()
        return
    shown = [{**r, "cpu_percent": "-" if r["cpu_percent"] is None else f"{r['cpu_percent']:.1f}",
              "memory": human_bytes(r["memory"])} for r in rows]
    if clear:
        sys.stdout.write("\x1b[H\x1b[2J")
    elif drawn:
        print()
    print(f"Every {args.interval:g}s: neuro ps    {when(time.time())}")
    print()
    print_rows(shown, args)
    sys.stdout.flush()
