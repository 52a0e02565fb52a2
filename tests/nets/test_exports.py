"""neuro.nets and neuro.sdk.Net: the public names, and the layers they import."""

from __future__ import annotations

import ast
import pathlib

import neuro.nets
from neuro import sdk

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_neuro_nets_exports_exactly_its_documented_names():
    """neuro.nets.__all__ is the documented list, and each name is there."""
    assert ["Built", "build", "class_resolver", "NetError", "Problem", "Signature", "Memo", "MemoStatistics",
            "content_hash", "ExprError", "compile_expr", "load_toml", "read_toml", "NetFileError"] == neuro.nets.__all__
    assert all(hasattr(neuro.nets, name) for name in neuro.nets.__all__)


def test_the_sdk_offers_the_net_builder():
    """sdk.Net is the builder of neuro/_net.py."""
    assert "Net" in sdk.__all__ and sdk.Net.__module__ == "neuro._net"


def test_nets_import_nothing_of_the_kernel_the_shell_or_the_client():
    """nets/ imports neuro's SDK layer only: no neuro.kernel, neuro.shell, neuro.client, no torch or textual."""
    bad = []
    for path in sorted((ROOT / "nets").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.startswith(("neuro.kernel", "neuro.shell", "neuro.client", "kernel", "shell", "torch",
                                    "textual")):
                    bad.append(f"{path.name}: {name}")
    assert [] == bad


def test_the_builder_imports_no_runtime_until_it_builds():
    """neuro/_net.py imports neuro.nets only inside `build` (the SDK stays below the runtime)."""
    tree = ast.parse((ROOT / "neuro" / "_net.py").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all("nets" not in (getattr(n, "module", "") or "") for n in top)
