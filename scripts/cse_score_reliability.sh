#!/usr/bin/env bash
# What the bundled RGB-D models' scores say (benchmarks/score_reliability.py), by 10deg5cm:
# per category, the defaults with exact masks on 150 objects of its calibration set
# (out/data/<c>_rgbd_cal, seed 5000, 50 other instances, 600 images, as
# scripts/cse_size_correction.sh makes it; the set its corrections were fitted on) and on 100
# of each of the README's two test sets (seed 2000 at 320x240, and the other camera at
# 640x480: scripts/cse_step_sets.sh); the min_score that keeps the calibration set's estimates
# within 10 deg and 5 cm at rate TARGET (0.9), judged on the test sets. An object the
# estimator could not solve counts as wrong.
# Usage: bash scripts/cse_score_reliability.sh CATEGORY ...  (sets made when missing)
# Outputs: benchmarks/results/cse_score_{cal,final,ood}_<c>_cpu.json (per object),
#   benchmarks/results/cse_score_reliability_<c>_cpu.json (the figures).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
target=${TARGET:-0.9}
mkdir -p benchmarks/results
for c in "$@"; do
  [[ -d out/data/${c}_rgbd_cal/val ]] || generate-dataset --category "$c" --instances 50 \
    --images 600 --views-per-layout 8 --objects-per-image 1..2 --out "out/data/${c}_rgbd_cal" \
    --seed 5000 --split val --no-progress > /dev/null
  json=benchmarks/results/cse_score_cal_${c}_cpu.json
  [[ -f $json ]] || evaluate-cse --data "out/data/${c}_rgbd_cal" --split val \
    --checkpoint "models/cse/$c.pt" --max-objects 150 --threads 1 --quiet --json "$json" \
    > /dev/null
  for set in final ood; do
    cse_set "$c" "$set"
    json=benchmarks/results/cse_score_${set}_${c}_cpu.json
    [[ -f $json ]] || evaluate-cse --data "out/data/${c}_rgbd_$set" --split test \
      --checkpoint "models/cse/$c.pt" --max-objects 100 --threads 1 --quiet --json "$json" \
      > /dev/null
  done
  python -m benchmarks.score_reliability --choose "cal=benchmarks/results/cse_score_cal_${c}_cpu.json" \
    --apply "final=benchmarks/results/cse_score_final_${c}_cpu.json" \
    --apply "ood=benchmarks/results/cse_score_ood_${c}_cpu.json" --max-deg 10 --max-cm 5 \
    --target "$target" --json "benchmarks/results/cse_score_reliability_${c}_cpu.json"
done
