#!/usr/bin/env bash
# What the bundled RGB models' scores say (benchmarks/score_reliability.py): per category, the
# default preset on 200 objects of its calibration set (out/data/<c>_cal, seed 5000: 50 other
# instances at the training's cameras; the set its view correction was fitted on) and on 200
# of its out-of-distribution test set (out/data/<c>_ood); the min_score that keeps the
# calibration set's estimates within 30 deg at rate TARGET (0.95), judged on the test set.
# Usage: bash scripts/nemo_score_reliability.sh CATEGORY ...  (sets made when missing; a new
# calibration set has CAL_IMAGES (400) images)
# Outputs: benchmarks/results/nemo_score_{cal,ood}_<c>_cpu.json (per object),
#   benchmarks/results/nemo_score_reliability_<c>_cpu.json (the figures).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/nemo_sets.sh
source scripts/nemo_sets.sh
target=${TARGET:-0.95} cal_images=${CAL_IMAGES:-400}
mkdir -p benchmarks/results
for c in "$@"; do
  nemo_cal_set "$c" "$cal_images"
  nemo_ood_set "$c"
  for set in cal ood; do
    split=test; [[ $set == cal ]] && split=val
    json=benchmarks/results/nemo_score_${set}_${c}_cpu.json
    [[ -f $json ]] || python -m benchmarks.nemo_compare --data "out/data/${c}_$set" \
      --split "$split" --max-objects 200 --run "bundled=models/nemo/$c.pt" --threads 1 \
      --quiet --json "$json"
  done
  python -m benchmarks.score_reliability --choose "cal=benchmarks/results/nemo_score_cal_${c}_cpu.json" \
    --apply "ood=benchmarks/results/nemo_score_ood_${c}_cpu.json" --target "$target" \
    --json "benchmarks/results/nemo_score_reliability_${c}_cpu.json"
done
