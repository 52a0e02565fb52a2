#!/usr/bin/env bash
# Run on the device machine from the repository root, carrying build/dev (scripts/device/wheels.sh makes it).
# One device call: install the carried wheels, then the GPU parts (paradigms, governance energy).
set -u
source scripts/device/_install.sh
[ -z "${SKIP_ENERGY:-}" ] && timeout 200 python3 -m bench.governance gpu > $OUT/governance_gpu.json; cat $OUT/governance_gpu.json 2>/dev/null | tail -30
[ -f $REPO/scripts/device/gpu_budget.py ] && timeout 120 python3 $REPO/scripts/device/gpu_budget.py > $OUT/governance_gpu_budget.json; cat $OUT/governance_gpu_budget.json
[ -z "${SKIP_PARADIGMS:-}" ] && timeout 470 python3 $REPO/scripts/device/gpu_paradigms.py 2>&1 | tail -20
nvidia-smi --query-gpu=name,power.draw --format=csv 2>&1 | tail -2
