#!/usr/bin/env bash
# The mug's azimuth from its handle (CseInferenceConfig.handle_azimuth, handle_min_cells;
# ros_pose_estimation/cse/part_azimuth.py): the bundled RGB-D mug with the step off and on.
# Part "val": the validation set (10 other mugs, seed 1000; scripts/cse_inference_tau.sh makes
# it), with masks and box-only, off and at handle_min_cells 1, 2, 3, 5, 8 (the choice is made
# there only). Part "test": off and on (the default) on the seed-2000, other-camera and
# other-look test sets (scripts/cse_more_training.sh and scripts/cse_ood_eval.sh make them),
# with masks and box-only; 100 objects each, one thread.
# Outputs: benchmarks/results/cse_handle_{val,valbox}_mug_{off,m<N>}_cpu.json,
#          cse_handle_<set>{,box}_mug_{off,on}_cpu.json (set: final, ood, ood_look)
# Usage: bash scripts/cse_handle_azimuth.sh val|test
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
part=${1:?usage: bash scripts/cse_handle_azimuth.sh val|test}
mkdir -p benchmarks/results
run() {  # data json [evaluate-cse options]
  [[ -f $2 ]] || evaluate-cse --data "$1" --split test --checkpoint models/cse/mug.pt \
    --max-objects 100 --threads 1 --quiet --json "$2" "${@:3}"
}
out=benchmarks/results/cse_handle
if [[ $part == val ]]; then
  for box in "" box; do
    opt=(); [[ -n $box ]] && opt=(--box-only)
    run out/data/mug_rgbd_val "${out}_val${box}_mug_off_cpu.json" "${opt[@]}" \
      --set handle_azimuth=false
    for m in 1 2 3 5 8; do
      run out/data/mug_rgbd_val "${out}_val${box}_mug_m${m}_cpu.json" "${opt[@]}" \
        --set "handle_min_cells=$m"
    done
  done
else
  for set in final ood ood_look; do
    for box in "" box; do
      opt=(); [[ -n $box ]] && opt=(--box-only)
      run "out/data/mug_rgbd_$set" "${out}_${set}${box}_mug_off_cpu.json" "${opt[@]}" \
        --set handle_azimuth=false
      run "out/data/mug_rgbd_$set" "${out}_${set}${box}_mug_on_cpu.json" "${opt[@]}"
    done
  done
fi
