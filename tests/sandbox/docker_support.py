"""Getting the real backends ready for a test, or a skip that says how to fix it."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@functools.lru_cache(maxsize=None)
def _docker_setup() -> str:
    """Run scripts/docker.sh once per session; '' when Docker is ready, else why not."""
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the docker SDK is not installed: .venv/bin/pip install 'neuro-runtime[docker]'"
    try:
        done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "docker.sh")], capture_output=True,
                              text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"scripts/docker.sh did not finish ({e}); run `bash scripts/docker.sh` as root"
    if done.returncode != 0:
        return f"scripts/docker.sh failed: {(done.stderr or done.stdout).strip()[-400:]}; run it as root"
    return ""


def require_backend(name: str) -> None:
    """Skip the calling test, saying how to fix it, when backend `name` cannot run here."""
    if name == "process" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed: apt-get install -y bubblewrap")
    if name == "docker":
        problem = _docker_setup()
        if problem:
            pytest.skip(f"no usable Docker: {problem}")


def make_backends(pool_size: int = 0) -> dict:
    """Fresh process and docker backends (no warm pool by default: the tests share 2 cores)."""
    from neuro.sandbox._docker import DockerBackend
    from neuro.sandbox._process import ProcessBackend

    return {"process": ProcessBackend(pool_size=pool_size), "docker": DockerBackend(pool_size=pool_size)}
