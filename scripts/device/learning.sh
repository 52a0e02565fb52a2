#!/usr/bin/env bash
# Run on the device machine from the repository root, carrying build/dev (scripts/device/wheels.sh makes it).
# The learning systems' full benchmarks there (16 cores, one GPU): each bench named in $BENCHES
# (default: plasticity, council, marble), its result files copied to $OUT. LIMIT_S bounds each.
set -u
source scripts/device/_install.sh
for name in ${BENCHES:-learning_plasticity learning_council learning_marble}; do
    echo "== $name"
    start=$(date +%s)
    timeout "${LIMIT_S:-240}" python3 -m bench "$name" 2>&1 | grep -v "\[#*\.*\]" | tail -40
    echo "== $name: rc ${PIPESTATUS[0]} in $(( $(date +%s) - start )) s"
    cp bench/results/${name}*.json bench/results/${name}*.png "$OUT"/ 2>/dev/null
done
if [ -n "${COUNCIL_GPU:-}" ]; then
    timeout "${LIMIT_S:-240}" python3 -m bench.learning_council --gpu 2>&1 | tail -30
    cp bench/results/learning_council_gpu*.json "$OUT"/ 2>/dev/null
fi
