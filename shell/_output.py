"""One way to print listings, for every command: a table for people, JSON for scripts."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (the lean `neuro ps`)
if TYPE_CHECKING:
    from typing import Any


def print_table(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        import json

        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        print("(none)")
        return
    cols = list(rows[0])
    cells = [[str(c) for c in cols]] + [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    for j, row in enumerate(cells):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def ps_row(p: dict[str, Any]) -> dict[str, Any]:
    """One process of `neuro ps`, as the table shows it."""
    return {"pid": p["pid"], "name": p["name"], "state": p["state"], "version": p["version"][:8],
            "policy": p["policy"], "sandbox": p["sandbox"], "mailbox": f"{p['mailbox']}/{p['mailbox_capacity']}",
            "received": p["received"], "handled": p["handled"], "errors": p["errors"],
            "dead": p["dead_letters"], "restarts": p["restarts"], "busy_s": round(p["busy_time"], 3)}
