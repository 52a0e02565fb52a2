"""The default backends: made on first use, and every kernel gets working ones."""

from __future__ import annotations

import shutil

import pytest
import trio

import neuro

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (bash scripts/setup.sh installs it)")


def test_a_second_kernel_in_the_same_process_can_sandbox_a_neuro_too(tmp_path):
    """Two kernels one after the other each start a process-sandboxed neuro from the defaults."""
    source = tmp_path / "boxed.py"
    source.write_text(
        "from neuro import sdk\n"
        "class P(sdk.Message):\n    n: int\n"
        "class Boxed(sdk.Neuro):\n    name = 'boxed'\n    input = P\n    output = P\n    sandbox = 'process'\n"
        "    def handle(self, ctx, msg):\n        return msg\n")

    async def one_kernel():
        from neuro._neurofile import load_neuro_path

        loaded = load_neuro_path(str(source))
        async with neuro.Kernel() as k:
            await k.spawn(loaded.cls, source=loaded.files)
            return (await k.call("boxed", {"n": 7}, timeout=30)).n

    assert [7, 7] == [trio.run(one_kernel), trio.run(one_kernel)]


def test_making_a_kernel_does_not_import_the_sandbox_backends():
    """A kernel that never sandboxes a neuro does not import the process or Docker backend."""
    import subprocess
    import sys

    code = ("import sys, trio, neuro\n"
            "async def main():\n    async with neuro.Kernel():\n        pass\n"
            "trio.run(main)\n"
            "print(sorted(m for m in sys.modules if m in ('neuro.sandbox._process', 'neuro.sandbox._docker')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "[]" == out.stdout.strip()
