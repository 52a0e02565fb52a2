#!/usr/bin/env bash
# Wheels for the device machine (Python 3.12, its own torch, no network): what Neuro needs that
# its image lacks, and Neuro itself, into build/dev/wheels (carried as `build/dev`).
# Then, with the device tool: run `bash scripts/device/gpu.sh` carrying ["build/dev"].
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build/dev/wheels
.venv/bin/pip download --quiet --only-binary=:all: --python-version 3.12 --implementation cp --no-deps \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d build/dev/wheels msgspec trio outcome sniffio attrs sortedcontainers idna sqlite-utils sqlite-fts4 \
    click-default-group watchdog lark mnist1d 2>&1 | grep -v "^WARNING: Location" || true
rm -f build/dev/wheels/neuro_runtime-*.whl
.venv/bin/pip wheel --quiet --no-deps --no-build-isolation . -w build/dev/wheels 2>&1 | grep -v "^WARNING: Location" || true
rm -rf neuro_runtime.egg-info
ls build/dev/wheels
