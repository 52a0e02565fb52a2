#!/usr/bin/env bash
# Set everything up, then run the whole test suite. This is exactly what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The suite mostly waits on child processes, sandboxes, sockets and a terminal, so it runs in
# parallel workers (pytest-xdist), one per core up to four; the tests of a file that share a
# module fixture stay on one worker (tests/conftest.py). NEURO_TEST_WORKERS=0: one process.
cores=$(nproc 2>/dev/null || echo 1)
workers=${NEURO_TEST_WORKERS:-$(( cores < 4 ? cores : 4 ))}
exec .venv/bin/python -m pytest -q -n "$workers" --dist loadgroup "$@"
