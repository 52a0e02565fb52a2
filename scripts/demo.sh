#!/usr/bin/env bash
# Set everything up, then run the main job: `neuro demo` on an embedded kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/neuro demo "$@"
