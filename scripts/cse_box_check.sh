#!/usr/bin/env bash
# A solved box that does not agree with its detection is refused
# (CseInferenceConfig.min_box_cover, ros_pose_estimation/core/box_consistency.py): the bundled
# models with the check off (0) and at the share of the detection box the projected 3D box must
# cover.
#   val:  the validation sets of other instances (320x240, seed 1000), masks and box-only, and
#         box-only with each object keeping 3 % of its depth (evaluate-cse --object-depth-kept
#         0.03: a dark object, where the box's depth is the table's); 0, 0.5 and 0.7
#   test: the seed-2000 test set the same three ways; 0 and 0.5
#   bags: the held-out recordings of scripts/cse_bn_adaptation.sh (s121-s123, s221-s223, every
#         3rd frame, box-only detections as recorded; run that script first); 0 and 0.5
# Usage: bash scripts/cse_box_check.sh val|test|bags [CATEGORY ...]   (default: all seven; two
#        jobs at a time)
# Outputs: benchmarks/results/cse_box_cover_<set>_<share><suffix>_<c>_cpu.json,
#          benchmarks/results/cse_box_cover_bags_<share>_<c>_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_box_check.sh val|test|bags [CATEGORY ...]}
shift
cats=("${@:-mug camera bottle bowl can laptop box}")
read -r -a cats <<< "${cats[*]}"
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
mkdir -p benchmarks/results
if [[ $mode == bags ]]; then
  for c in "${cats[@]}"; do
    for v in 0 0.5; do
      cse_bags_eval "$c" "benchmarks/results/cse_box_cover_bags_${v}_${c}_cpu.json" \
        --set "min_box_cover=$v" | tail -n 1
    done
  done
  exit 0
fi
set_name=val
values=(0 0.5 0.7)
if [[ $mode == test ]]; then
  set_name=final
  values=(0 0.5)
fi
for c in "${cats[@]}"; do
  for v in "${values[@]}"; do
    out=benchmarks/results/cse_box_cover_${set_name}_$v
    cse_eval "$c" "$set_name" "${out}_${c}_cpu.json" --set "min_box_cover=$v" > /dev/null &
    cse_eval "$c" "$set_name" "${out}_box_${c}_cpu.json" --set "min_box_cover=$v" --box-only \
      > /dev/null
    wait
    cse_eval "$c" "$set_name" "${out}_box_dark_${c}_cpu.json" --set "min_box_cover=$v" \
      --box-only --object-depth-kept 0.03 > /dev/null
  done
done
