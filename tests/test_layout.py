"""Packaging and layout: `import neuro` stays light, the design card's folders live only
under the `neuro` namespace, and the kernel never imports the optional heavy dependencies."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import neuro

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
HEAVY = ("torch", "textual", "sqlite_utils")


def python(code, cwd):
    """Run `code` in a fresh interpreter of the project's venv; return the completed process."""
    return subprocess.run([str(PYTHON), "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_importing_neuro_imports_no_heavy_dependency(tmp_path):
    """A fresh `import neuro` loads neither torch, textual nor sqlite_utils."""
    code = ("import json, sys, neuro, neuro.sdk; "
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    done = python(code, tmp_path)
    assert (0, "") == (done.returncode, done.stderr)
    assert [] == json.loads(done.stdout)


def test_starting_an_empty_kernel_imports_no_heavy_dependency(tmp_path):
    """An embedded kernel with a log, started and stopped, still loads neither torch nor textual."""
    code = ("import json, sys, trio, neuro\n"
            "async def main():\n"
            f"    async with neuro.Kernel(log={str(tmp_path / 'run.db')!r}):\n"
            "        pass\n"
            "trio.run(main)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'textual'))))")
    done = python(code, tmp_path)
    assert (0, "") == (done.returncode, done.stderr)
    assert [] == json.loads(done.stdout)


@pytest.mark.parametrize("package", ["kernel", "shell", "sandbox"])
def test_no_top_level_package_lands_outside_the_namespace(tmp_path, package):
    """Away from the repository, `import kernel` (shell, sandbox) fails: they exist only as neuro.*."""
    done = python(f"import {package}", tmp_path)
    assert done.returncode == 1
    assert f"ModuleNotFoundError: No module named '{package}'" in done.stderr


@pytest.mark.parametrize("package, folder", [("neuro.kernel", "kernel"), ("neuro.sandbox", "sandbox"),
                                             ("neuro.shell", "shell"), ("neuro.client", "neuro/client")])
def test_namespace_packages_resolve_to_the_repository_folders(tmp_path, package, folder):
    """neuro.kernel (sandbox, shell) is the repository's top-level folder of that name; the
    client is a package of the public API's folder."""
    done = python(f"import {package} as p; print(p.__file__)", tmp_path)
    assert (0, str(REPO / folder / "__init__.py")) == (done.returncode, done.stdout.strip())


def test_neuro_kernel_here_is_the_repository_folder():
    """In this test process too, neuro.kernel is loaded from the repository's kernel/ folder."""
    import neuro.kernel

    assert REPO / "kernel" / "__init__.py" == Path(neuro.kernel.__file__).resolve()


def _module_level_imports(tree):
    """Names imported outside any function or class body (those run at import time)."""
    found = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                found.extend(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append(child.module)
            visit(child)

    visit(tree)
    return found


@pytest.mark.parametrize("folder", ["kernel", "sandbox", "neuro"])
def test_kernel_sources_import_no_optional_dependency_at_module_level(folder):
    """No module of the kernel, the sandbox or the public API imports torch or textual at import time."""
    offenders = []
    for path in sorted((REPO / folder).rglob("*.py")):
        for name in _module_level_imports(ast.parse(path.read_text(), filename=str(path))):
            if name.split(".")[0] in ("torch", "textual"):
                offenders.append(f"{path.relative_to(REPO)}: import {name}")
    assert [] == offenders


def test_the_import_scanner_sees_module_level_imports():
    """The scanner above reports top-level and conditional imports but not those inside functions."""
    tree = ast.parse("import torch\nif x:\n    from textual import app\ndef f():\n    import numpy\n")
    assert ["torch", "textual"] == _module_level_imports(tree)


def test_this_suite_runs_under_the_venv_python():
    """The subprocess checks above use the same interpreter prefix as this test run."""
    assert Path(sys.prefix).resolve() == (REPO / ".venv").resolve()


# -- which way things depend (ARCHITECTURE.md): CLI and shell -> client -> kernel -> sandbox ----

# Folder -> the packages nothing in it may import, at any depth of the code.
UPWARD = {
    "kernel": ("neuro.shell", "neuro.client"),
    "sandbox": ("neuro.shell", "neuro.client"),
    "neuro": ("neuro.shell",),
}
# `python -m neuro` is the CLI's front door, run and never imported: it is the CLI.
ENTRY_POINTS = {"neuro/__main__.py"}


def _package_of(path):
    """The dotted package a repository file belongs to (kernel/x.py: neuro.kernel)."""
    parts = path.relative_to(REPO).parent.parts
    return ".".join(["neuro", *parts[1:]] if parts[0] == "neuro" else ["neuro", *parts])


def _all_imports(tree, package):
    """Every module an AST imports, wherever the import is, relative imports resolved."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.extend([module] if node.module else [f"{module}.{alias.name}" for alias in node.names])
    return found


@pytest.mark.parametrize("folder", sorted(UPWARD))
def test_no_layer_imports_a_layer_above_it(folder):
    """Nothing in kernel/ or sandbox/ imports the client or the shell; nothing in neuro/ the shell."""
    offenders = []
    for path in sorted((REPO / folder).rglob("*.py")):
        if str(path.relative_to(REPO)) in ENTRY_POINTS:
            continue
        for name in _all_imports(ast.parse(path.read_text(), filename=str(path)), _package_of(path)):
            if any(name == up or name.startswith(up + ".") for up in UPWARD[folder]):
                offenders.append(f"{path.relative_to(REPO)}: import {name}")
    assert [] == offenders


def test_the_import_walker_resolves_relative_imports():
    """In kernel/, `from ..shell import cli` (in a function too) imports neuro.shell, and
    `from . import _x` neuro.kernel._x."""
    tree = ast.parse("def f():\n    from ..shell import cli\nfrom . import _x\nimport neuro.client\n")
    assert {"neuro.shell", "neuro.kernel._x", "neuro.client"} == set(_all_imports(tree, "neuro.kernel"))


def test_files_map_to_their_packages():
    """kernel/_kernel.py is in neuro.kernel, neuro/client/_client.py in neuro.client, neuro/sdk.py in neuro."""
    assert ["neuro.kernel", "neuro.client", "neuro"] == [
        _package_of(REPO / p) for p in ("kernel/_kernel.py", "neuro/client/_client.py", "neuro/sdk.py")]
