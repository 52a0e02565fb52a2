"""What a worker needs to start fast is inside both sandboxes.

trio's import asks ctypes.util.find_library for libpthread. That runs `/sbin/ldconfig -p`,
which reads /etc/ld.so.cache; when either is missing it falls back to running gcc, which
cost about 20 ms of every sandboxed start (a sixth of it) before both were bound in.
"""

from __future__ import annotations

import pytest
import trio

import neuro

from . import probe_neuros
from .docker_support import make_backends, require_backend


@pytest.mark.parametrize("backend", ["process", "docker"])
def test_ldconfig_finds_libpthread_inside_the_sandbox(backend, tmp_path):
    require_backend(backend)

    async def main():
        async with neuro.Kernel(backends=make_backends()) as k:
            await k.spawn(getattr(probe_neuros, f"LdconfigProbe_{backend}"))
            return await k.call("probe", probe_neuros.Look(), timeout=60)

    seen = trio.run(main)
    assert seen.ldconfig_finds_libpthread, seen.detail
