#!/usr/bin/env bash
# The mug's azimuth from its handle in the depth image (CseInferenceConfig.handle_depth,
# ros_pose_estimation/cse/handle_depth.py): the bundled mug model with the step off and on.
#   val:  chooses the settings on two validation sets of other mugs, 320x240 (seed 1000, as
#         scripts/cse_inference_tau.sh) and 640x480 with photo backgrounds (seed 1500, the
#         settings of scripts/cse_ood_eval.sh): margin, pixels, window, minimum turn, sink
#   test: the three test sets the README quotes (seed 2000 of scripts/cse_bundled_models.sh,
#         other camera and other look of scripts/cse_ood_eval.sh), masks and box-only
# Usage: bash scripts/cse_handle_depth.sh val|test   (needs out/data/photos, made by
#        scripts/nemo_pretrained_experiment.sh)
# Outputs: benchmarks/results/cse_handle_depth_<set>_<setting>_mug_cpu.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mode=${1:?usage: bash scripts/cse_handle_depth.sh val|test}
# shellcheck source=scripts/cse_step_sets.sh
source scripts/cse_step_sets.sh
run() {  # run SET SETTING ARGS...: evaluate-cse on 100 objects of SET
  local set=$1 setting=$2; shift 2
  cse_eval mug "$set" "benchmarks/results/cse_handle_depth_${set}_${setting}_mug_cpu.json" "$@"
}
mkdir -p benchmarks/results
if [[ $mode == val ]]; then
  for set in val val640; do
    run "$set" off --set handle_depth=false
    run "$set" on
    # the first sweep, made before the sink existed (sink 0), then the sink
    no_sink=(--set handle_depth_sink=0)
    for m in 0.15 0.4; do run "$set" "margin$m" "${no_sink[@]}" --set handle_depth_margin=$m; done
    for n in 4 16; do run "$set" "points$n" "${no_sink[@]}" --set handle_depth_min_points=$n; done
    for w in 60 90; do run "$set" "window$w" "${no_sink[@]}" --set handle_depth_window_deg=$w; done
    for d in 5 10 15; do run "$set" "turn$d" "${no_sink[@]}" --set handle_depth_min_turn_deg=$d; done
    for k in 0 0.15 0.2 0.3; do run "$set" "sink$k" --set handle_depth_sink=$k; done
    run "$set" box_off --box-only --set handle_depth=false
    run "$set" box_sink0 --box-only "${no_sink[@]}"
  done
else
  for set in final ood ood_look; do
    run "$set" off --set handle_depth=false
    run "$set" on
  done
  run final box_off --box-only --set handle_depth=false
  run final box_on --box-only
fi
