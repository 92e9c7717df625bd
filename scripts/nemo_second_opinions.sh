#!/usr/bin/env bash
# Second opinions on the RGB (NeMo) estimate (benchmarks/nemo_second_opinions.py): do upright
# candidates turned about the up axis, the mug's handle put behind, or the mirrored image,
# judged by the render-and-compare loss, catch the estimate's gross misses? Run on the
# calibration sets (out/data/<c>_cal, seed 5000, 50 instances; scripts/nemo_view_correction.sh
# makes them), never on the test sets: 150 objects per category, without and with gravity.
# Usage: bash scripts/nemo_second_opinions.sh CATEGORY ...  (two jobs at a time)
# Outputs: benchmarks/results/nemo_second_opinions_<c>_{plain,gravity}_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mkdir -p benchmarks/results
for c in "$@"; do
  [[ -d out/data/${c}_cal/val ]] || { echo "missing out/data/${c}_cal: run" \
    "scripts/nemo_view_correction.sh first" >&2; exit 2; }
  for mode in plain gravity; do
    flag=()
    [[ $mode == gravity ]] && flag=(--gravity)
    while (( $(jobs -rp | wc -l) >= 2 )); do wait -n; done
    python -m benchmarks.nemo_second_opinions --data "out/data/${c}_cal" --split val \
      --checkpoint "models/nemo/$c.pt" --max-objects 150 --threads 1 "${flag[@]}" \
      --json "benchmarks/results/nemo_second_opinions_${c}_${mode}_cpu.json" \
      > "out/logs/nemo_second_opinions_${c}_${mode}.log" &
  done
done
wait
for c in "$@"; do
  for mode in plain gravity; do
    echo "== $c, $mode"; cat "out/logs/nemo_second_opinions_${c}_${mode}.log"
  done
done
