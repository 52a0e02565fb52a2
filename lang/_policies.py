"""`policy NAME { ... }` declarations: written out as a policy file's TOML and checked by the
kernel's own policy loader, so a declaration is valid exactly when the file would be."""

from __future__ import annotations

import json
import os
import tempfile

from . import _ast as A
from ._errors import Located
from ._types import literal_value

__all__ = ["policy_toml"]


def policy_toml(item: A.Policy, found: Located) -> str:
    """A `policy` declaration as a policy file's TOML (validated by the kernel's loader)."""
    tables: dict[str, list[str]] = {"": []}
    for s in item.settings:
        ok, value = literal_value(s.value)
        if not ok:
            found.add("declaration", f"policy `{item.name}`: `{s.key}` takes a literal", s.value)
            continue
        table, _, key = s.key.rpartition(".")
        text = json.dumps(value) if not isinstance(value, bool) else ("true" if value else "false")
        tables.setdefault(table, []).append(f"{key} = {text}")
    lines = [f"# policy {item.name}, declared in {os.path.basename(found.file or '<text>')}", *tables.pop("")]
    for table, rows in tables.items():
        lines += ["", f"[{table}]", *rows]
    text = "\n".join(lines) + "\n"
    problem = _check_policy(item.name, text)
    if problem:
        found.add("declaration", f"policy `{item.name}` is not a valid policy: {problem}", item)
    return text


def _check_policy(name: str, text: str) -> str | None:
    from neuro.kernel._policyfiles import check_policy_file

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, f"{name}.toml")
        with open(path, "w") as f:
            f.write(text)
        try:
            check_policy_file(path)
        except Exception as e:  # noqa: BLE001 - every way a policy is refused is this declaration's problem
            return str(e).replace(path, f"{name}.toml")
    return None
